"""Translation between LSP (lsprotocol) types and the engine's plain types.

The engine counts columns in code points (Python string indexes); LSP counts them in the
position encoding negotiated at `initialize` (UTF-16 unless the client offers UTF-8 or UTF-32).
Every position that crosses the edge goes through `Positions`, which wraps pygls's
`PositionCodec` for one text.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from lsprotocol import types
from pygls.workspace import PositionCodec

from codecortex.diagnostics import Diagnostic, Position, Range, TextEdit


class Positions:
    """Code-point columns of `text` <-> the client's position encoding (pygls's codec)."""

    def __init__(self, codec: PositionCodec, text: str) -> None:
        self.codec = codec
        self.lines: Sequence[str] = text.splitlines(True)

    def position_in(self, pos: types.Position) -> Position:
        line = pos.line
        if line < len(self.lines):
            width = self.codec.client_num_units(self.lines[line].rstrip("\r\n"))
            # pygls moves a column past the end of the line to its last character.
            pos = types.Position(line=line, character=min(pos.character, width))
        else:
            pos = types.Position(line=line, character=pos.character)
        if not self.lines or line >= len(self.lines):
            return Position(line, 0)
        converted = self.codec.position_from_client_units(self.lines, pos)
        return Position(converted.line, converted.character)

    def range_in(self, r: types.Range) -> Range:
        return Range(self.position_in(r.start), self.position_in(r.end))

    def position_out(self, pos: Position) -> types.Position:
        if pos.line >= len(self.lines):
            return types.Position(line=pos.line, character=pos.character)
        line = self.lines[pos.line].rstrip("\r\n")
        return types.Position(
            line=pos.line, character=self.codec.client_num_units(line[: pos.character])
        )

    def range_out(self, r: Range) -> types.Range:
        return types.Range(start=self.position_out(r.start), end=self.position_out(r.end))

    def diagnostic_in(self, d: Diagnostic) -> Diagnostic:
        """A diagnostic parsed from JSON with client-unit columns, in code points."""
        d.range = self.range_in(to_lsp_range(d.range))
        return d

    def edits_out(self, edits: list[TextEdit]) -> list[types.TextEdit]:
        return [types.TextEdit(range=self.range_out(e.range), new_text=e.new_text) for e in edits]


def positions(ls: Any, text: str) -> Positions:
    """The converter for `text` under the encoding negotiated with the client of `ls`."""
    return Positions(ls.workspace.position_codec, text)


def plain(value: Any) -> Any:
    """pygls hands custom notification params over as nested namedtuples: back to JSON types."""
    if hasattr(value, "_asdict"):
        return {k: plain(v) for k, v in value._asdict().items()}
    if isinstance(value, Mapping):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


class MalformedParams(ValueError):
    pass


def diagnostic_from_json(data: Any) -> Diagnostic:
    if not isinstance(data, Mapping):
        raise MalformedParams("a diagnostic must be an object")
    try:
        rng = Range.from_json(data["range"])
        message = data["message"]
    except (KeyError, TypeError, ValueError) as exc:
        raise MalformedParams(f"diagnostic without a valid range/message ({exc})") from None
    if not isinstance(message, str):
        raise MalformedParams("diagnostic message must be a string")
    code = data.get("code")
    if isinstance(code, Mapping):  # {value, target} form
        code = code.get("value")
    severity = data.get("severity") or 1
    return Diagnostic(
        source=str(data.get("source") or ""),
        code="" if code is None else str(code),
        message=message,
        range=rng,
        severity=int(severity) if isinstance(severity, (int, float)) else 1,
    )


def parse_forwarded(params: Any) -> tuple[str, int | None, list[Diagnostic]]:
    """Validate `codecortex/diagnostics` params: {uri, version, diagnostics[]}."""
    data = plain(params)
    if not isinstance(data, Mapping):
        raise MalformedParams("params must be an object {uri, version, diagnostics}")
    uri = data.get("uri")
    if not isinstance(uri, str) or not uri:
        raise MalformedParams("missing uri")
    version = data.get("version")
    if version is not None and not isinstance(version, int):
        raise MalformedParams("version must be an integer or null")
    diagnostics = data.get("diagnostics")
    if not isinstance(diagnostics, Sequence) or isinstance(diagnostics, str):
        raise MalformedParams("diagnostics must be a list")
    return uri, version, [diagnostic_from_json(d) for d in diagnostics]


def from_lsp_diagnostic(d: types.Diagnostic, pos: Positions) -> Diagnostic:
    code = d.code
    return Diagnostic(
        source=d.source or "",
        code="" if code is None else str(code),
        message=d.message,
        range=pos.range_in(d.range),
        severity=int(d.severity) if d.severity else 1,
    )


def to_lsp_range(r: Range) -> types.Range:
    """The same numbers as an lsprotocol Range (no conversion: see `Positions`)."""
    return types.Range(
        start=types.Position(line=r.start.line, character=r.start.character),
        end=types.Position(line=r.end.line, character=r.end.character),
    )


def to_lsp_diagnostic(d: Diagnostic, pos: Positions) -> types.Diagnostic:
    """An engine diagnostic (code points) for the client, converted by `pos`."""
    return types.Diagnostic(
        range=pos.range_out(d.range),
        message=d.message,
        severity=types.DiagnosticSeverity(d.severity) if d.severity in (1, 2, 3, 4) else None,
        source=d.source or None,
        code=d.code or None,
    )


def workspace_edit(
    uri: str, version: int | None, edits: list[TextEdit], document_changes: bool, pos: Positions
) -> types.WorkspaceEdit:
    """A versioned edit when the client supports documentChanges, plain `changes` otherwise.

    `pos` converts for the text the edits apply to."""
    lsp_edits = pos.edits_out(edits)
    if document_changes:
        return types.WorkspaceEdit(
            document_changes=[
                types.TextDocumentEdit(
                    text_document=types.OptionalVersionedTextDocumentIdentifier(
                        uri=uri, version=version
                    ),
                    edits=list(lsp_edits),
                )
            ]
        )
    return types.WorkspaceEdit(changes={uri: list(lsp_edits)})
