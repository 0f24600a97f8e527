"""Tools run as the project runs them: its ruff configuration and excludes, .gitignore, and mypy
only where the project configures it (or the user asks) -- in `check`, in detectOnSave and in
`learn-history`."""

from __future__ import annotations

import asyncio
import json
import subprocess
from pathlib import Path

import pytest
from conftest import codecortex_exe
from lsphelp import Editor, eventually, open_doc, server_env, start_client

from codecortex.detectors import run_detectors

APP = 'import os\n\n\ndef port() -> int:\n    return "8080"\n'


def git(repo: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    repo = tmp_path / "proj"
    (repo / "src").mkdir(parents=True)
    (repo / "vendor").mkdir()
    (repo / "generated").mkdir()
    (repo / "pyproject.toml").write_text(
        '[project]\nname = "demo"\n\n[tool.ruff]\nextend-exclude = ["vendor"]\n\n'
        '[tool.ruff.lint]\nselect = ["E", "F"]\n'
    )
    (repo / ".gitignore").write_text("generated/\n")
    (repo / "src" / "app.py").write_text(APP)
    (repo / "vendor" / "lib.py").write_text("import sys\n")
    (repo / "generated" / "out.py").write_text("import json\n")
    git(repo, "init", "-q")
    git(repo, "add", ".")
    git(repo, "-c", "user.email=t@example.com", "-c", "user.name=T", "commit", "-qm", "init")
    return repo


def check(repo: Path, env: dict[str, str], *args: str) -> dict:
    proc = subprocess.run(
        [codecortex_exe(), "check", "--json", *args],
        cwd=repo, env=env, capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert proc.returncode in (0, 1), proc.stderr
    return json.loads(proc.stdout)


def found(report: dict) -> set[tuple[str, str]]:
    return {(p["path"], p["code"]) for p in report["problems"]}


def test_check_follows_the_projects_configuration(project: Path, cli_env, fresh_db) -> None:
    env = {**cli_env, "CODECORTEX_DATABASE_URL": fresh_db}
    # ruff's excludes and .gitignore are honoured; mypy is not configured, so not run.
    report = check(project, env, ".")
    assert found(report) == {("src/app.py", "F401")}, report
    assert "mypy" in report["skipped"] and "no mypy configuration" in report["skipped"]["mypy"]
    # Asked for by name, mypy runs anyway.
    asked = check(project, env, "--tools", "ruff,mypy", ".")
    assert ("src/app.py", "return-value") in found(asked), asked
    # Once the project configures it, mypy runs by default, from the project's root.
    with (project / "pyproject.toml").open("a") as f:
        f.write("\n[tool.mypy]\nstrict = false\n")
    configured = check(project, env, ".")
    assert found(configured) == {("src/app.py", "F401"), ("src/app.py", "return-value")}
    # Its `files` say what the project type-checks.
    (project / "tools").mkdir()
    (project / "tools" / "gen.py").write_text('def n() -> int:\n    return "1"\n')
    assert ("tools/gen.py", "return-value") in found(check(project, env, "."))
    with (project / "pyproject.toml").open("a") as f:
        f.write('files = ["src"]\n')
    scoped = check(project, env, ".")
    assert ("src/app.py", "return-value") in found(scoped)
    assert ("tools/gen.py", "return-value") not in found(scoped)


async def test_detect_on_save_follows_the_projects_configuration(
    editor: Editor, project: Path, fresh_db
) -> None:
    client = await start_client(server_env(fresh_db), project, editor, {"detectOnSave": True})
    try:
        await eventually(lambda: _connected(client))
        for path in (project / "vendor" / "lib.py", project / "src" / "app.py"):
            open_doc(client, path, path.read_text())
        await eventually(lambda: _recorded(fresh_db, project))
        await asyncio.sleep(1)  # vendor/lib.py was opened first: nothing more may arrive
        assert await _recorded(fresh_db, project) == [("src/app.py", "F401")]
    finally:
        await client.shutdown_session()


async def _connected(client):
    return any(s.get("database") == "connected" for s in client.statuses) or None


async def _recorded(url: str, root: Path):
    import psycopg

    async with await psycopg.AsyncConnection.connect(url) as conn:
        cur = await conn.execute("SELECT file_path, code FROM detected_problems ORDER BY 1")
        rows = await cur.fetchall()
    return [(Path(p).resolve().relative_to(root.resolve()).as_posix(), c) for p, c in rows] or None


async def test_run_detectors_default_is_configured_tools_only(project: Path) -> None:
    run = await run_detectors([project], root=project)
    with_problems = sorted(
        p.relative_to(project).as_posix() for p, d in run.diagnostics.items() if d
    )
    assert with_problems == ["src/app.py"]
    assert project / "generated" / "out.py" not in run.diagnostics  # git-ignored: not listed
    assert run.skipped.get("mypy") == "the project has no mypy configuration"


def test_check_runs_mypy_on_what_the_projects_pre_commit_hook_checks(
    project: Path, cli_env, fresh_db
) -> None:
    """A project configures mypy's options in pyproject.toml and its files in a pre-commit hook
    (pluggy does): two examples named setup.py elsewhere stop a mypy run on every file with
    "Duplicate module named 'setup'"; run as the project runs it, mypy checks src/ only."""
    env = {**cli_env, "CODECORTEX_DATABASE_URL": fresh_db}
    with (project / "pyproject.toml").open("a") as f:
        f.write("\n[tool.mypy]\nstrict = false\n")
    for name in ("one", "two"):
        (project / "examples" / name).mkdir(parents=True)
        (project / "examples" / name / "setup.py").write_text("x: int = 1\n")
    (project / "examples" / "bad.py").write_text('def n() -> int:\n    return "1"\n')
    git(project, "add", ".")

    # Without the hook mypy is given every file: it stops at once, said in one line, and its
    # stop is not a problem in anyone's file.
    proc = subprocess.run(
        [codecortex_exe(), "check", "--json", "."],
        cwd=project, env=env, capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    assert "mypy stopped before checking anything: Duplicate module named" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not any(p["tool"] == "mypy" for p in json.loads(proc.stdout)["problems"])

    (project / ".pre-commit-config.yaml").write_text(
        "repos:\n- repo: https://github.com/pre-commit/mirrors-mypy\n  rev: v1.0.0\n"
        "  hooks:\n  - id: mypy\n    files: ^src/\n"
    )
    report = check(project, env, ".")
    assert found(report) == {("src/app.py", "F401"), ("src/app.py", "return-value")}, report
