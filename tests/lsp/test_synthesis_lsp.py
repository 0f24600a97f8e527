"""Synthesized fixes end to end over LSP: the real `codecortex serve`, the real database, the real
`openai` client talking HTTP to the fake OpenAI-compatible server on 127.0.0.1."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg
from lsphelp import (
    Editor,
    apply_workspace_edit,
    change_doc,
    code_actions,
    command,
    eventually,
    forward,
    open_doc,
    ruff_diagnostics,
    server_env,
    start_client,
)
from lsprotocol import types

try:
    from fakeopenai import FakeOpenAI, fake_openai_fixture
except ImportError:  # pragma: no cover
    from tests.fakeopenai import FakeOpenAI, fake_openai_fixture

assert fake_openai_fixture

API_KEY = "sk-test-Xy7Qw2Er4Ty6Ui8Op0As1Df3Gh5Jk7Lz"
GITHUB_TOKEN = "ghp_Q1w2E3r4T5y6U7i8O9p0A1s2D3f4G5h6J7k8"
TEXT = (
    "import sys\n"
    "\n"
    f"TOKEN = '{GITHUB_TOKEN}'\n"
    "\n"
    "\n"
    "def main():\n"
    "    print(os.getcwd(), sys.argv, TOKEN)\n"
)
FIX = {
    "explanation": "main() uses os without importing it.",
    "confidence": 0.9,
    "edits": [
        {
            "start_line": 0,
            "start_character": 0,
            "end_line": 0,
            "end_character": 0,
            "new_text": "import os\n",
        }
    ],
}


async def stats(client: Any) -> dict:
    result = await command(client, "codecortex.stats")
    return result if isinstance(result, dict) and "problems" in result else {}


async def synth_actions(client: Any, uri: str, diag: dict) -> list[types.CodeAction]:
    return [a for a in await code_actions(client, uri, diag) if "synthesize fix" in a.title]


async def test_synthesized_fix_end_to_end(
    editor: Editor, fresh_db: str, tmp_path: Path, fake_openai: FakeOpenAI
):
    fake_openai.configure(api_key=API_KEY)  # the server must send the key from its environment
    ws = tmp_path / "ws"
    ws.mkdir()
    options = {"llm": {"provider": "openai", "model": "fake-chat", "baseUrl": fake_openai.base_url}}
    client = await start_client(
        server_env(fresh_db, CODECORTEX_OPENAI_API_KEY=API_KEY),
        ws,
        editor,
        options,
    )
    try:
        await eventually(lambda: stats(client))
        path = ws / "app.py"
        uri = open_doc(client, path, TEXT)
        diags = ruff_diagnostics(path, TEXT)
        assert [d["code"] for d in diags] == ["F821"]
        forward(client, uri, 1, diags)

        # offered lazily: no edit until resolved
        (action,) = await eventually(lambda: synth_actions(client, uri, diags[0]))
        assert action.kind == types.CodeActionKind.QuickFix
        assert action.edit is None and action.data["kind"] == "synthesize"
        assert not fake_openai.requests_to("chat")

        fake_openai.reply_json(FIX)
        resolved = await client.code_action_resolve_async(action)
        assert resolved.edit is not None, [m.message for m in client.messages]
        fixed = apply_workspace_edit(TEXT, uri, resolved.edit, editor)
        assert fixed == "import os\n" + TEXT
        assert ruff_diagnostics(path, fixed) == []  # applies and is valid
        assert resolved.command.command == "codecortex.acceptSynthesis"
        (synth_id,) = resolved.command.arguments

        # work-done progress was reported while synthesizing
        kinds = [
            [type(r).__name__ for r in reports] for reports in client.progress_reports.values()
        ]
        assert any(
            k[0] == "WorkDoneProgressBegin" and k[-1] == "WorkDoneProgressEnd" for k in kinds
        )

        # what reached the endpoint: the key as the bearer token, never the secret in the code
        (chat,) = fake_openai.requests_to("chat")
        assert chat.headers["authorization"] == f"Bearer {API_KEY}"
        assert "os.getcwd()" in chat.raw and GITHUB_TOKEN not in fake_openai.received_text()

        # the same request again: answered from the cache, the model is not called
        (again,) = await synth_actions(client, uri, diags[0])
        cached = await client.code_action_resolve_async(again)
        assert apply_workspace_edit(TEXT, uri, cached.edit, editor) == fixed
        assert len(fake_openai.requests_to("chat")) == 1

        # applying it: the client edits the document and runs the command
        change_doc(client, uri, fixed, 2)
        result = await command(client, "codecortex.acceptSynthesis", synth_id)
        assert result["recorded"] and result["solutionId"]
        forward(client, uri, 2, [])
        figures = await stats(client)
        (tmpl,) = [t for t in figures["promptTemplates"] if t["template"] == "synthesize_fix"]
        assert (tmpl["presented"], tmpl["applied"], tmpl["cacheHits"]) == (2, 1, 1)
        assert tmpl["acceptanceRate"] == 0.5

        # a failing endpoint: a clear message, no edit, other features unaffected
        broken = TEXT.replace("sys.argv", "sys.path")
        b_path = ws / "b.py"
        b_uri = open_doc(client, b_path, broken)
        b_diags = ruff_diagnostics(b_path, broken)
        forward(client, b_uri, 1, b_diags)
        (b_action,) = await eventually(lambda: synth_actions(client, b_uri, b_diags[0]))
        fake_openai.reply_text("this is not JSON")
        failed = await client.code_action_resolve_async(b_action)
        assert failed.edit is None
        message = await eventually(
            lambda: _message(client, "could not synthesize a fix"), timeout=10
        )
        assert "valid JSON" in message
        assert await stats(client)  # still answering
        hover = await client.text_document_hover_async(
            types.HoverParams(
                text_document=types.TextDocumentIdentifier(uri=b_uri),
                position=types.Position(line=6, character=11),
            )
        )
        assert hover is not None

        # applied, then edited by the developer before the problem went away: "modified"
        fake_openai.reply_json(FIX)
        (b_action,) = await synth_actions(client, b_uri, b_diags[0])
        b_resolved = await client.code_action_resolve_async(b_action)
        b_fixed = apply_workspace_edit(broken, b_uri, b_resolved.edit, editor)
        change_doc(client, b_uri, b_fixed, 2)
        await command(client, "codecortex.acceptSynthesis", *b_resolved.command.arguments)
        edited = b_fixed.replace("import os\n", "import os.path\n")
        change_doc(client, b_uri, edited, 3)
        forward(client, b_uri, 3, ruff_diagnostics(b_path, edited))

        async def modified() -> dict | None:
            figures = await stats(client)
            rows = [t for t in figures.get("promptTemplates", []) if t["modified"]]
            return rows[0] if rows else None

        tmpl = await eventually(modified)
        assert (tmpl["applied"], tmpl["modified"]) == (1, 1)

        # the key is never stored
        with psycopg.connect(fresh_db) as conn:
            for table in ("prompt_executions", "synthesized_solutions", "codecortex_ai_cache",
                          "past_solutions", "prompt_templates"):  # fmt: skip
                rows = conn.execute(f"SELECT t::text FROM {table} t").fetchall()
                assert rows, table
                dumped = " ".join(r[0] for r in rows)
                assert API_KEY not in dumped and GITHUB_TOKEN not in dumped, table

        # no model configured any more: the action is not offered
        client.workspace_did_change_configuration(
            types.DidChangeConfigurationParams(
                settings={"codecortex": {"llm": {"provider": "none"}}}
            )
        )

        async def gone() -> bool:
            return not await synth_actions(client, b_uri, b_diags[0])

        await eventually(gone)
    finally:
        await client.shutdown_session()


async def _message(client: Any, needle: str) -> str | None:
    for m in client.messages:
        if needle in m.message:
            return m.message
    return None
