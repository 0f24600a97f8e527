"""The language server over stdio (pytest-lsp), as VS Code and as Neovim, on the real database."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from lsphelp import (
    apply_workspace_edit,
    change_doc,
    code_actions,
    command,
    eventually,
    forward,
    open_doc,
    ruff_diagnostics,
    start_client,
)
from lsprotocol import types

EDITORS = ["visual-studio-code", "neovim"]


def server_env(db_url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CODECORTEX_")}
    env["CODECORTEX_DATABASE_URL"] = db_url
    env.update(extra)
    return env


@pytest.fixture(params=EDITORS)
async def lsp(request, fresh_db: str, tmp_path: Path):
    workspace = tmp_path / "ws"
    workspace.mkdir()
    (workspace / "README.md").write_text(
        "# Demo\n\n## Imports\n\nRemove unused imports; ruff reports them as F401.\n"
    )
    client = await start_client(server_env(fresh_db), workspace, request.param)
    client.workspace_root = workspace  # type: ignore[attr-defined]
    yield client
    await client.shutdown_session()


async def stats(client) -> dict:
    result = await command(client, "codecortex.stats")
    return result if isinstance(result, dict) and "problems" in result else {}


async def test_learn_a_fix_then_offer_it_on_another_file(lsp) -> None:
    ws: Path = lsp.workspace_root
    await eventually(lambda: stats(lsp))  # database up

    # File A: an unused import, reported by ruff, then fixed by editing.
    a_path = ws / "a.py"
    a_before = "import os\nimport sys\n\nprint(sys.argv)\n"
    a_uri = open_doc(lsp, a_path, a_before)
    diags = ruff_diagnostics(a_path, a_before)
    assert [d["code"] for d in diags] == ["F401"]
    forward(lsp, a_uri, 1, diags)
    await eventually(lambda: _having(stats(lsp), "problems", 1))

    a_after = "import sys\n\nprint(sys.argv)\n"
    change_doc(lsp, a_uri, a_after, 2)
    assert ruff_diagnostics(a_path, a_after) == []
    forward(lsp, a_uri, 2, [])
    learned = await eventually(lambda: _having(stats(lsp), "solutions", 1))
    assert learned["solved"] == 1

    # File B: the same problem with different names.
    b_path = ws / "b.py"
    b_text = "import json\nimport re\n\nprint(re.compile('x'))\n"
    b_uri = open_doc(lsp, b_path, b_text)
    b_diags = ruff_diagnostics(b_path, b_text)
    assert "`json` imported but unused" in b_diags[0]["message"]
    forward(lsp, b_uri, 1, b_diags)

    async def fix_action():
        actions = await code_actions(lsp, b_uri, b_diags[0])
        return [a for a in actions if "apply past fix" in a.title]

    (action, *_) = await eventually(fix_action)
    assert action.kind == types.CodeActionKind.QuickFix
    assert action.is_preferred
    assert (
        apply_workspace_edit(b_text, b_uri, action.edit) == "import re\n\nprint(re.compile('x'))\n"
    )
    assert action.command.command == "codecortex.recordFix"

    hover = await lsp.text_document_hover_async(
        types.HoverParams(
            text_document=types.TextDocumentIdentifier(uri=b_uri),
            position=types.Position(line=0, character=8),
        )
    )
    assert hover is not None
    assert "Seen 2×" in hover.contents.value and "fixed 1×" in hover.contents.value
    assert "-import os" in hover.contents.value  # the past fix, as a diff

    # The hint diagnostic under our own source.
    hints = await eventually(lambda: _hints(lsp, b_uri))
    assert hints[0].severity == types.DiagnosticSeverity.Hint
    assert "fixed in" in hints[0].message

    # Applying records the reuse.
    await command(
        lsp, *action.command.arguments and ["codecortex.recordFix", *action.command.arguments]
    )
    await eventually(lambda: _having(stats(lsp), "reused", 1))


async def _having(coro, key: str, minimum: int):
    result = await coro
    return result if result and result.get(key, 0) >= minimum else None


async def _hints(client, uri: str):
    return [d for d in client.diagnostics.get(uri, []) if d.source == "codecortex"]


async def test_malformed_notifications_are_logged_and_ignored(lsp) -> None:
    await eventually(lambda: stats(lsp))
    lsp.protocol.notify("codecortex/diagnostics", {"uri": 42})
    lsp.protocol.notify("codecortex/diagnostics", {"uri": "file:///nope.py", "diagnostics": "x"})
    lsp.protocol.notify(
        "codecortex/diagnostics",
        {"uri": (lsp.workspace_root / "never-opened.py").as_uri(), "version": 1, "diagnostics": []},
    )

    async def warned():
        text = "\n".join(m.message for m in lsp.log_messages)
        return "malformed" in text and "not open" in text

    await eventually(warned)
    assert await stats(lsp)  # still answering
