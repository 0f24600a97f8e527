"""What an editor shows stays small and quiet (the real server over stdio, on its own embedded
database, which is a single user's): a cursor anywhere on the line gets the line's problems, at
most two CodeCortex entries per problem with readable titles, no team actions, no popups for
achievements, hints at Hint severity, and knowledge only from the problem's repository."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from lsphelp import (
    Editor,
    change_doc,
    eventually,
    forward,
    open_doc,
    ruff_diagnostics,
    server_env,
    start_client,
)
from lsprotocol import types

DOC = "# Notes\n\n## Comparisons\n\nComparison to None should use `is`: cond is None, never == None.\n"


def _repos(tmp_path: Path) -> tuple[Path, Path]:
    here, other = tmp_path / "here", tmp_path / "other"
    for repo in (here, other):
        repo.mkdir()
        subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
    return here, other


async def test_actions_hints_notices_and_knowledge_stay_quiet(
    editor: Editor, tmp_path: Path
) -> None:
    here, other = _repos(tmp_path)
    (other / "GUIDE.md").write_text(DOC)  # another repository's docs
    data_dir = Path(tempfile.mkdtemp(prefix="cc-noise-"))
    client = await start_client(server_env(), here, editor, {"dataDir": str(data_dir)})
    try:
        client.workspace_did_change_workspace_folders(
            types.DidChangeWorkspaceFoldersParams(
                event=types.WorkspaceFoldersChangeEvent(
                    added=[types.WorkspaceFolder(uri=other.as_uri(), name="other")], removed=[]
                )
            )
        )
        a = here / "a.py"
        before = "def check(value):\n    if value == None:\n        return 0\n    return value\n"
        a_uri = open_doc(client, a, before)
        a_diags = ruff_diagnostics(a, before)
        forward(client, a_uri, 1, a_diags)

        # A problem without a past fix: one entry, its own words (no placeholders, not cut).
        async def first_actions():
            found = await _actions_at(client, a_uri, 1, 4)
            return found if any(x.title.startswith("CodeCortex") for x in found) else None

        (ignore,) = [x for x in await eventually(first_actions) if x.title.startswith("CodeCortex")]
        assert ignore.title == "CodeCortex: ignore “Comparison to `None` should be `cond is None`”"

        change_doc(client, a_uri, before.replace("== None", "is None"), 2)
        forward(client, a_uri, 2, [])

        b = here / "b.py"
        text = 'def greet(who):\n    msg = "hello" if who == None else who\n    return msg\n'
        b_uri = open_doc(client, b, text)
        forward(client, b_uri, 1, ruff_diagnostics(b, text))

        async def fix_offered():
            found = await _actions_at(client, b_uri, 1, 5)  # the cursor on `msg`, not on None
            return found if any("past fix" in x.title for x in found) else None

        ours = [x for x in await eventually(fix_offered, timeout=60) if "CodeCortex" in x.title]
        assert len(ours) <= 2, [x.title for x in ours]
        assert ours[0].title.startswith("CodeCortex: apply past fix") and ours[0].is_preferred
        assert ours[1].title == "CodeCortex: show past solutions (1)"
        assert not any("share" in x.title for x in ours)  # nobody to share with here

        hints = await eventually(lambda: _ours(client, b_uri))
        assert {h.severity for h in hints} == {types.DiagnosticSeverity.Hint}

        hover = await client.text_document_hover_async(
            types.HoverParams(
                text_document=types.TextDocumentIdentifier(uri=b_uri),
                position=types.Position(line=1, character=30),
            )
        )
        assert hover is not None and "Seen" in hover.contents.value
        assert "GUIDE.md" not in hover.contents.value  # another repository's docs

        # The first repository earned an achievement: in the log, not in a popup.
        await eventually(lambda: _logged(client, "achievement unlocked"))
        assert not [m.message for m in client.messages if "achievement" in m.message]
    finally:
        await client.shutdown_session()
        shutil.rmtree(data_dir, ignore_errors=True)


async def _actions_at(client, uri: str, line: int, character: int) -> list[types.CodeAction]:
    cursor = types.Position(line=line, character=character)
    result = await client.text_document_code_action_async(
        types.CodeActionParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            range=types.Range(start=cursor, end=cursor),
            context=types.CodeActionContext(diagnostics=[]),
        )
    )
    return [a for a in result or [] if isinstance(a, types.CodeAction)]


async def _ours(client, uri: str):
    return [d for d in client.diagnostics.get(uri, []) if d.source == "codecortex"] or None


async def _logged(client, text: str):
    return [m for m in client.log_messages if text in m.message] or None
