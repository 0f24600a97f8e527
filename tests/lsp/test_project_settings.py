"""`[tool.codecortex]` in the project's pyproject.toml (enable, detectors, ignore), read by the CLI
and by the language server."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from conftest import codecortex_exe
from lsphelp import (
    Editor,
    eventually,
    forward,
    open_doc,
    ruff_diagnostics,
    server_env,
    start_client,
)

BASE = (
    '[project]\nname = "demo"\n\n[tool.ruff.lint]\nselect = ["F"]\n\n[tool.mypy]\nstrict = false\n'
)
BAD = 'import os\n\n\ndef port() -> int:\n    return "8080"\n'


@pytest.fixture
def project(tmp_path: Path) -> Path:
    repo = tmp_path / "proj"
    (repo / "src").mkdir(parents=True)
    (repo / "generated").mkdir()
    (repo / "src" / "app.py").write_text(BAD)
    (repo / "generated" / "models.py").write_text(BAD)
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
    return repo


def check(repo: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [codecortex_exe(), "check", "--json", "."],
        cwd=repo, env=env, capture_output=True, text=True, timeout=180,
    )  # fmt: skip


def test_cli_reads_tool_codecortex(project: Path, cli_env, fresh_db) -> None:
    env = {**cli_env, "CODECORTEX_DATABASE_URL": fresh_db}
    (project / "pyproject.toml").write_text(BASE)
    everything = {
        (p["path"], p["code"]) for p in json.loads(check(project, env).stdout)["problems"]
    }
    assert ("generated/models.py", "F401") in everything and (
        "src/app.py",
        "return-value",
    ) in everything

    (project / "pyproject.toml").write_text(
        BASE + '\n[tool.codecortex]\ndetectors = ["ruff"]\nignore = ["generated"]\n'
    )
    proc = check(project, env)
    found = {(p["path"], p["code"]) for p in json.loads(proc.stdout)["problems"]}
    assert found == {("src/app.py", "F401")}, proc.stdout

    (project / "pyproject.toml").write_text(BASE + "\n[tool.codecortex]\nenable = false\n")
    off = subprocess.run(
        [codecortex_exe(), "check", "."], cwd=project, env=env, capture_output=True, text=True
    )
    assert off.returncode == 0 and "disabled" in off.stderr and "enable = false" in off.stderr

    (project / "pyproject.toml").write_text(BASE + '\n[tool.codecortex]\ndetectors = ["rufff"]\n')
    typo = subprocess.run(
        [codecortex_exe(), "check", "."], cwd=project, env=env, capture_output=True, text=True
    )
    assert "detectors: unknown rufff" in typo.stderr


async def test_server_does_not_record_ignored_paths(
    editor: Editor, project: Path, fresh_db
) -> None:
    (project / "pyproject.toml").write_text(
        BASE + '\n[tool.codecortex]\nignore = ["generated/**"]\n'
    )
    client = await start_client(server_env(fresh_db), project, editor)
    try:
        for rel in ("generated/models.py", "src/app.py"):
            path = project / rel
            uri = open_doc(client, path, BAD)
            forward(client, uri, 1, ruff_diagnostics(path, BAD))
        await eventually(lambda: _recorded(fresh_db))
        assert await _recorded(fresh_db) == ["src/app.py"]
    finally:
        await client.shutdown_session()


async def _recorded(url: str):
    import psycopg

    async with await psycopg.AsyncConnection.connect(url) as conn:
        try:
            cur = await conn.execute("SELECT DISTINCT file_path FROM detected_problems")
        except psycopg.errors.UndefinedTable:
            return None
        rows = await cur.fetchall()
    return sorted("/".join(Path(r[0]).parts[-2:]) for r in rows) or None
