"""One rule, one signature, whichever path reported it: a fix learned from ruff's language server
in the editor is offered by `codecortex check`, and one learned by `check` is offered in the
editor, although ruff's server decorates its messages ("\\n\\nhelp: Replace with ...")."""

from __future__ import annotations

import asyncio
import json
import subprocess
from pathlib import Path

from conftest import codecortex_exe
from lsphelp import (
    Editor,
    change_doc,
    code_actions,
    command,
    eventually,
    forward,
    open_doc,
    ruff_server_diagnostics,
    server_env,
    start_client,
)


async def check(repo: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(
        subprocess.run,
        [codecortex_exe(), "check", "--tools", "ruff", *args],
        cwd=repo, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


async def ruff_server(repo: Path, path: Path, text: str) -> list[dict]:
    return await asyncio.to_thread(ruff_server_diagnostics, repo, path, text)


async def test_learned_in_the_editor_replayed_by_the_cli_and_back(
    editor: Editor, tmp_path: Path, cli_env: dict[str, str], fresh_db: str
) -> None:
    repo = tmp_path / "proj"
    repo.mkdir()
    await asyncio.to_thread(subprocess.run, ["git", "init", "-q"], cwd=repo, check=True)
    (repo / "ruff.toml").write_text('[lint]\nselect = ["E", "F"]\n')
    env = {**cli_env, "CODECORTEX_DATABASE_URL": fresh_db}

    # F401 learned by the CLI.
    (repo / "tool.py").write_text("import os\nimport sys\n\nprint(sys.argv)\n")
    await check(repo, env, "tool.py")
    (repo / "tool.py").write_text("import sys\n\nprint(sys.argv)\n")
    assert "learned its fix" in (await check(repo, env, "tool.py")).stdout

    client = await start_client(server_env(fresh_db), repo, editor)
    try:
        await eventually(lambda: _stats(client))
        # E711 learned in the editor, from ruff's server.
        a_path = repo / "a.py"
        before = "def check(value):\n    if value == None:\n        return 0\n    return value\n"
        a_diags = await ruff_server(repo, a_path, before)
        assert [d["code"] for d in a_diags] == ["E711"]
        assert "\n\nhelp: " in a_diags[0]["message"]  # the decoration this is about
        a_uri = open_doc(client, a_path, before)
        forward(client, a_uri, 1, a_diags)
        await eventually(lambda: _at_least(client, "problems", 2))
        change_doc(client, a_uri, before.replace("== None", "is None"), 2)
        forward(client, a_uri, 2, [])
        await eventually(lambda: _at_least(client, "solutions", 2))

        # The CLI's F401 fix, offered in the editor for ruff's server's message.
        b_path = repo / "b.py"
        b_text = "import json\nimport re\n\nprint(re.compile('x'))\n"
        b_diags = await ruff_server(repo, b_path, b_text)
        assert [d["code"] for d in b_diags] == ["F401"] and "help: " in b_diags[0]["message"]
        b_uri = open_doc(client, b_path, b_text)
        forward(client, b_uri, 1, b_diags)

        async def fix():
            actions = await code_actions(client, b_uri, b_diags[0])
            return [a for a in actions if a.edit is not None and "past fix" in a.title]

        await eventually(fix)
    finally:
        await client.shutdown_session()

    # The editor's E711 fix, offered (not merely "similar") by the CLI.
    (repo / "c.py").write_text(
        "def size(items):\n    if items == None:\n        return 0\n    return len(items)\n"
    )
    report = json.loads((await check(repo, env, "--json", "c.py")).stdout)
    (problem,) = report["problems"]
    assert problem["code"] == "E711"
    assert problem["fixes"], report
    assert "+    if items is None:" in problem["fixes"][0]["diff"]


async def _stats(client) -> dict:
    result = await command(client, "codecortex.stats")
    return result if isinstance(result, dict) and "problems" in result else {}


async def _at_least(client, key: str, minimum: int):
    result = await _stats(client)
    return result if result.get(key, 0) >= minimum else None
