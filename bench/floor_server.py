"""The floor for bench/lsp_latency.py: a minimal pygls server that answers `codeAction` and
`hover` with empty results (and accepts `codecortex/diagnostics`), over stdio.

Same pygls, same Python, same client: what is left is the cost of the protocol itself.
"""

from __future__ import annotations

from typing import Any

from lsprotocol import types
from pygls.lsp.server import LanguageServer

server = LanguageServer("floor", "1")


@server.feature(
    types.TEXT_DOCUMENT_CODE_ACTION,
    types.CodeActionOptions(code_action_kinds=[types.CodeActionKind.QuickFix]),
)
def code_action(ls: LanguageServer, params: types.CodeActionParams) -> list[types.CodeAction]:
    return []


@server.feature(types.TEXT_DOCUMENT_HOVER)
def hover(ls: LanguageServer, params: types.HoverParams) -> types.Hover | None:
    return None


@server.feature("codecortex/diagnostics")
def forwarded(ls: LanguageServer, params: Any) -> None:
    return None


if __name__ == "__main__":
    server.start_io()
