"""Translation between LSP (lsprotocol) types and the engine's plain types."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from lsprotocol import types

from codecortex.diagnostics import Diagnostic, Range, TextEdit


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


def from_lsp_diagnostic(d: types.Diagnostic) -> Diagnostic:
    code = d.code
    return Diagnostic(
        source=d.source or "",
        code="" if code is None else str(code),
        message=d.message,
        range=from_lsp_range(d.range),
        severity=int(d.severity) if d.severity else 1,
    )


def from_lsp_range(r: types.Range) -> Range:
    return Range.of(r.start.line, r.start.character, r.end.line, r.end.character)


def to_lsp_range(r: Range) -> types.Range:
    return types.Range(
        start=types.Position(line=r.start.line, character=r.start.character),
        end=types.Position(line=r.end.line, character=r.end.character),
    )


def to_lsp_diagnostic(d: Diagnostic) -> types.Diagnostic:
    return types.Diagnostic(
        range=to_lsp_range(d.range),
        message=d.message,
        severity=types.DiagnosticSeverity(d.severity) if d.severity in (1, 2, 3, 4) else None,
        source=d.source or None,
        code=d.code or None,
    )


def to_lsp_edits(edits: list[TextEdit]) -> list[types.TextEdit]:
    return [types.TextEdit(range=to_lsp_range(e.range), new_text=e.new_text) for e in edits]


def workspace_edit(
    uri: str, version: int | None, edits: list[TextEdit], document_changes: bool
) -> types.WorkspaceEdit:
    """A versioned edit when the client supports documentChanges, plain `changes` otherwise."""
    lsp_edits = to_lsp_edits(edits)
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
