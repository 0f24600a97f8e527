"""Code insights in the editor, over stdio with the real server and database: analysis as a
queue job with work-done progress, insights as diagnostics with hover, ignore (persisted) and
the mechanical fix as code actions, re-analysis on save."""

from __future__ import annotations

import textwrap
from pathlib import Path

import psycopg
from lsphelp import (
    Editor,
    apply_workspace_edit,
    change_doc,
    command,
    eventually,
    open_doc,
    server_env,
    start_client,
)
from lsprotocol import types

SOURCE = textwrap.dedent(
    '''\
    """Loading settings."""

    import pickle

    import yaml


    def settings(path):
        """Read settings."""
        return yaml.load(open(path))


    def cached(fh):
        """Read the cache."""
        return pickle.load(fh)
    '''
)


def insight_diags(client, uri: str, rule: str | None = None) -> list[types.Diagnostic]:
    return [
        d
        for d in client.diagnostics.get(uri, [])
        if d.source == "codecortex"
        and d.code != "known-fix"
        and (rule is None or (d.data or {}).get("rule") == rule)
    ]


async def actions_at(client, uri: str, diag: types.Diagnostic) -> list[types.CodeAction]:
    result = await client.text_document_code_action_async(
        types.CodeActionParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            range=diag.range,
            context=types.CodeActionContext(diagnostics=[diag]),
        )
    )
    return [a for a in result or [] if isinstance(a, types.CodeAction)]


async def test_insights_in_the_editor(editor: Editor, fresh_db: str, tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    ws.mkdir()
    path = ws / "settings.py"
    path.write_text(SOURCE)
    client = await start_client(server_env(fresh_db), ws, editor)
    try:
        await eventually(lambda: _stats(client))
        uri = open_doc(client, path, SOURCE)

        result = await command(client, "codecortex.analyze", uri)
        assert result["status"] == "completed" and result["insights"] >= 2

        # The analysis ran as a queue job, shown as work-done progress that ended.
        async def job_progress():
            for token, reports in client.progress_reports.items():
                kinds = [type(r).__name__ for r in reports]
                if str(token).startswith("job-") and kinds[-1:] == ["WorkDoneProgressEnd"]:
                    return reports
            return None

        reports = await eventually(job_progress)
        assert reports[0].title == "CodeCortex: code analysis" and reports[0].cancellable

        yaml_diag, pickle_diag = await eventually(
            lambda: _both(client, uri, "security.yaml_load", "security.pickle_load")
        )
        assert yaml_diag.code == "security_issue"
        assert yaml_diag.severity == types.DiagnosticSeverity.Error
        assert yaml_diag.range.start.line == 9
        assert "yaml.load()" in yaml_diag.message

        hover = await client.text_document_hover_async(
            types.HoverParams(
                text_document=types.TextDocumentIdentifier(uri=uri),
                position=types.Position(line=9, character=14),
            )
        )
        assert hover is not None
        text = hover.contents.value
        assert "yaml.load() without SafeLoader" in text
        assert "*Why it matters:*" in text and "*How to fix:*" in text and "safe_load" in text

        # Ignore the pickle insight: gone from the editor, persisted in the database.
        ignore = next(
            a for a in await actions_at(client, uri, pickle_diag) if "ignore insight" in a.title
        )
        assert ignore.command is not None
        done = await command(client, ignore.command.command, *ignore.command.arguments)
        assert done["ignored"] is True
        await eventually(lambda: _gone(client, uri, "security.pickle_load"))
        with psycopg.connect(fresh_db) as conn:
            (status,) = conn.execute(
                "SELECT status FROM code_insights WHERE rule = 'security.pickle_load'"
            ).fetchone()
        assert status == "ignored"

        # Apply the mechanical fix of the yaml insight.
        fix = next(a for a in await actions_at(client, uri, yaml_diag) if "fix" in a.title)
        assert fix.title.startswith("CodeCortex: fix") and fix.is_preferred
        fixed = apply_workspace_edit(SOURCE, uri, fix.edit, editor)
        assert "return yaml.safe_load(open(path))" in fixed
        assert fixed.replace("yaml.safe_load(", "yaml.load(") == SOURCE
        await command(client, fix.command.command, *fix.command.arguments)
        await eventually(lambda: _gone(client, uri, "security.yaml_load"))

        # Save the fixed file plus a new unsafe call: only that file is analysed again.
        new_text = fixed + '\n\ndef again(s):\n    """Again."""\n    return yaml.load(s)\n'
        change_doc(client, uri, new_text, 2)
        path.write_text(new_text)
        client.text_document_did_save(
            types.DidSaveTextDocumentParams(text_document=types.TextDocumentIdentifier(uri=uri))
        )
        (fresh,) = await eventually(lambda: _present(client, uri, "security.yaml_load"))
        assert fresh.range.start.line == 19

        # A full analysis again: the ignored insight stays ignored.
        result = await command(client, "codecortex.analyze")
        assert result["status"] == "completed"
        await eventually(lambda: _present(client, uri, "security.yaml_load"))
        assert not insight_diags(client, uri, "security.pickle_load")
        with psycopg.connect(fresh_db) as conn:
            rows = conn.execute(
                "SELECT rule, status FROM code_insights WHERE rule LIKE 'security.%%'"
                " ORDER BY line_start"
            ).fetchall()
        assert sorted(rows) == [
            ("security.pickle_load", "ignored"),
            ("security.yaml_load", "applied"),
            ("security.yaml_load", "open"),
        ]

        # A file written outside the editor (a generator, git checkout) is analysed too.
        await eventually(lambda: _log_says(client, "for doc changes"))
        (ws / "generated.py").write_text(
            "import yaml\n\n\ndef read(fh):\n    return yaml.load(fh)\n"
        )

        async def outside_insight():
            with psycopg.connect(fresh_db) as conn:
                return conn.execute(
                    "SELECT rule FROM code_insights WHERE file_path = 'generated.py'"
                    " AND status = 'open'"
                ).fetchall()

        assert ("security.yaml_load",) in await eventually(outside_insight)
    finally:
        await client.shutdown_session()


async def _stats(client):
    result = await command(client, "codecortex.stats")
    return result if isinstance(result, dict) and "problems" in result else None


async def _both(client, uri: str, first: str, second: str):
    a, b = insight_diags(client, uri, first), insight_diags(client, uri, second)
    return (a[0], b[0]) if a and b else None


async def _gone(client, uri: str, rule: str):
    return not insight_diags(client, uri, rule)


async def _present(client, uri: str, rule: str):
    return insight_diags(client, uri, rule) or None


async def _log_says(client, text: str):
    return any(text in m.message for m in client.log_messages)
