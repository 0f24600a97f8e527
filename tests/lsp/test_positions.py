"""Positions in the negotiated encoding (LSP `positionEncoding`), over stdio with pytest-lsp.

A past fix for E711 (`== None` -> `is None`) is learned on an ASCII file, then replayed on lines
with é, CJK characters and an emoji before the problem. The client counts columns in the encoding
it negotiated (UTF-8, UTF-16 or, when offered, UTF-32; UTF-16 when it offers nothing), as Neovim
and VS Code do: the edit, the hint's range and the hover's range must be right in each. Each
editor runs with what it offers itself (Neovim: UTF-8 first; VS Code: nothing, so UTF-16) and with
each offer put in its place.
"""

from __future__ import annotations

from pathlib import Path

import attrs
import pytest
from lsphelp import (
    Editor,
    change_doc,
    command,
    eventually,
    forward,
    open_doc,
    ruff_diagnostics,
    server_env,
    start_client,
    workspace_edits,
)
from lsprotocol import types

LINES = {
    "accent": 'msg = "héllo wörld" if who == None else who',
    "cjk": 'msg = "你好，世界" if who == None else who',
    "emoji": 'msg = "hi 👋🏽 there" if who == None else who',
}


def units(text: str, encoding: str) -> int:
    """The length of `text` in the code units of `encoding`, as an editor counts them."""
    if encoding == "utf-8":
        return len(text.encode("utf-8"))
    if encoding == "utf-16":
        return len(text.encode("utf-16-le")) // 2
    return len(text)


def to_client(lines: list[str], pos: dict, encoding: str) -> dict:
    return {
        "line": pos["line"],
        "character": units(lines[pos["line"]][: pos["character"]], encoding),
    }


def from_client(lines: list[str], pos: types.Position, encoding: str) -> int:
    """The code-point column of a client position (the inverse of `to_client`)."""
    line = lines[pos.line]
    for i in range(len(line) + 1):
        if units(line[:i], encoding) == pos.character:
            return i
    raise AssertionError(f"{pos} falls inside a character of {line!r} in {encoding}")


def client_diagnostics(path: Path, text: str, encoding: str) -> list[dict]:
    lines = text.splitlines()
    out = []
    for d in ruff_diagnostics(path, text):
        r = d["range"]
        d["range"] = {
            "start": to_client(lines, r["start"], encoding),
            "end": to_client(lines, r["end"], encoding),
        }
        out.append(d)
    return out


def apply(text: str, edit: types.WorkspaceEdit, uri: str, encoding: str, editor: Editor) -> str:
    lines = text.splitlines(keepends=True)
    edits = workspace_edits(uri, edit, editor)
    offsets = [0]
    for line in lines:
        offsets.append(offsets[-1] + len(line))
    out = text
    for e in sorted(
        edits, key=lambda e: (e.range.start.line, e.range.start.character), reverse=True
    ):
        start = offsets[e.range.start.line] + from_client(lines, e.range.start, encoding)
        end = offsets[e.range.end.line] + from_client(lines, e.range.end, encoding)
        out = out[:start] + e.new_text + out[end:]
    return out


@pytest.mark.parametrize(
    "offered",
    [None, ["utf-8"], ["utf-16"], ["utf-32", "utf-16"]],
    ids=["own", "utf-8", "utf-16", "utf-32"],
)
async def test_past_fix_edits_hints_and_hover_in_the_negotiated_encoding(
    offered: list[str] | None, editor: Editor, fresh_db: str, tmp_path: Path
) -> None:
    ws = tmp_path / "ws"
    ws.mkdir()
    general = editor.capabilities().general  # the editor's, offering `offered` instead
    if offered is not None:
        general = attrs.evolve(general, position_encodings=offered)
    client = await start_client(server_env(fresh_db), ws, editor, general=general)
    expected = offered[0] if offered else editor.position_encoding
    try:
        negotiated = client.initialize_result.capabilities.position_encoding
        assert negotiated == expected
        await eventually(lambda: _stats(client))

        a_path = ws / "a.py"
        before = "def check(value):\n    if value == None:\n        return 0\n    return value\n"
        a_uri = open_doc(client, a_path, before)
        forward(client, a_uri, 1, client_diagnostics(a_path, before, expected))
        await eventually(lambda: _at_least(client, "problems", 1))
        after = before.replace("== None", "is None")
        change_doc(client, a_uri, after, 2)
        forward(client, a_uri, 2, [])
        await eventually(lambda: _at_least(client, "solutions", 1))

        for name, line in LINES.items():
            path = ws / f"b_{name}.py"
            text = f"def greet(who):\n    {line}\n    return msg\n"
            uri = open_doc(client, path, text)
            diags = client_diagnostics(path, text, expected)
            assert [d["code"] for d in diags] == ["E711"], diags
            forward(client, uri, 1, diags)
            lines = text.splitlines()
            problem = diags[0]["range"]
            # The cursor in the string, before the problem (Neovim asks with the cursor's position).
            cursor = to_client(lines, {"line": 1, "character": lines[1].index('"') + 3}, expected)

            async def fix(uri=uri, cursor=cursor):
                result = await client.text_document_code_action_async(
                    types.CodeActionParams(
                        text_document=types.TextDocumentIdentifier(uri=uri),
                        range=types.Range(
                            start=types.Position(**cursor), end=types.Position(**cursor)
                        ),
                        context=types.CodeActionContext(diagnostics=[]),
                    )
                )
                return [a for a in result or [] if a.edit is not None and "past fix" in a.title]

            (action, *_) = await eventually(fix)
            fixed = apply(text, action.edit, uri, expected, editor)
            assert fixed == text.replace("== None", "is None"), (name, fixed)

            hints = await eventually(lambda uri=uri: _hints(client, uri))
            assert hints[0].range.start.character == problem["start"]["character"], (name, hints[0])
            assert hints[0].range.end.character == problem["end"]["character"], (name, hints[0])

            hover = await client.text_document_hover_async(
                types.HoverParams(
                    text_document=types.TextDocumentIdentifier(uri=uri),
                    position=types.Position(line=1, character=problem["start"]["character"] + 1),
                )
            )
            assert hover is not None and hover.range is not None, name
            assert hover.range.start.character == problem["start"]["character"], (name, hover.range)
            assert hover.range.end.character == problem["end"]["character"], (name, hover.range)
    finally:
        await client.shutdown_session()


async def _stats(client) -> dict:
    result = await command(client, "codecortex.stats")
    return result if isinstance(result, dict) and "problems" in result else {}


async def _at_least(client, key: str, minimum: int):
    result = await _stats(client)
    return result if result.get(key, 0) >= minimum else None


async def _hints(client, uri: str):
    return [d for d in client.diagnostics.get(uri, []) if d.source == "codecortex"]
