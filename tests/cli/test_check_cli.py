"""`codecortex check` end to end through the real executable, real ruff and the real database."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import psycopg
import pytest
from conftest import codecortex_exe


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    root.mkdir()
    subprocess.run(["git", "init", "-q"], cwd=root, check=True)
    (root / "ruff.toml").write_text('[lint]\nselect = ["E", "F"]\n')
    return root


def check(repo: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [codecortex_exe(), "check", "--tools", "ruff", *args],
        cwd=repo, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_learn_then_replay_through_the_cli(repo: Path, cli_env, fresh_db: str) -> None:
    env = {**cli_env, "CODECORTEX_DATABASE_URL": fresh_db}
    a = repo / "report.py"
    a.write_text("def total(rows):\n    if rows == None:\n        return 0\n    return sum(rows)\n")
    first = check(repo, env, "report.py")
    assert first.returncode == 1, first.stderr
    assert "report.py:2:" in first.stdout and "E711" in first.stdout

    a.write_text("def total(rows):\n    if rows is None:\n        return 0\n    return sum(rows)\n")
    second = check(repo, env, "report.py")
    assert second.returncode == 0, second.stdout + second.stderr
    assert "resolved" in second.stdout and "learned its fix" in second.stdout

    b = repo / "users.py"
    b_text = (
        "class Users:\n    def find(self, name):\n        found = self.lookup(name)\n"
        "        if found == None:\n            raise KeyError(name)\n        return found\n"
    )
    b.write_text(b_text)
    offered = check(repo, env, "--json", "users.py")
    assert offered.returncode == 1
    report = json.loads(offered.stdout)
    (problem,) = report["problems"]
    assert problem["code"] == "E711" and problem["line"] == 4
    assert problem["fixes"], "the learned fix should be offered"
    assert "+        if found is None:" in problem["fixes"][0]["diff"]
    assert b.read_text() == b_text  # offering does not touch the file

    fixed = check(repo, env, "--fix", "users.py")
    assert "[fixed]" in fixed.stdout, fixed.stdout + fixed.stderr
    assert b.read_text() == b_text.replace("found == None", "found is None")

    clean = check(repo, env, "users.py")
    assert clean.returncode == 0, clean.stdout
    assert "0 problem(s)" in clean.stdout


def test_fix_applies_after_accents_cjk_and_emoji(repo: Path, cli_env, fresh_db: str) -> None:
    env = {**cli_env, "CODECORTEX_DATABASE_URL": fresh_db}
    a = repo / "a.py"
    a.write_text("def check(value):\n    if value == None:\n        return 0\n    return value\n")
    check(repo, env, "a.py")
    a.write_text("def check(value):\n    if value is None:\n        return 0\n    return value\n")
    assert "learned its fix" in check(repo, env, "a.py").stdout
    for n, line in enumerate(
        ['"héllo wörld" if who == None else who', '"你好，世界" if who == None else who',
         '"hi 👋🏽 there" if who == None else who']
    ):  # fmt: skip
        b = repo / f"b{n}.py"
        text = f"def greet(who):\n    msg = {line}\n    return msg\n"
        b.write_text(text, encoding="utf-8")
        fixed = check(repo, env, "--fix", b.name)
        assert "[fixed]" in fixed.stdout, fixed.stdout + fixed.stderr
        assert b.read_text(encoding="utf-8") == text.replace("== None", "is None")


def test_fix_is_not_offered_when_the_code_around_differs(repo: Path, cli_env, fresh_db) -> None:
    env = {**cli_env, "CODECORTEX_DATABASE_URL": fresh_db}
    a = repo / "a.py"
    a.write_text("import os\nimport sys\n\nprint(sys.argv)\n")
    check(repo, env, "a.py")
    a.write_text("import sys\n\nprint(sys.argv)\n")
    assert "learned its fix" in check(repo, env, "a.py").stdout
    # A different problem (undefined name) must not get the unused-import fix.
    c = repo / "c.py"
    c.write_text("print(undefined_thing)\n")
    report = json.loads(check(repo, env, "--json", "c.py").stdout)
    assert [p["code"] for p in report["problems"]] == ["F821"]
    assert report["problems"][0]["fixes"] == []


def test_search_and_notes(repo: Path, cli_env, fresh_db) -> None:
    env = {**cli_env, "CODECORTEX_DATABASE_URL": fresh_db}
    added = subprocess.run(
        [codecortex_exe(), "note", "add", "--tag", "db",
         "Use connection pooling for PostgreSQL in request handlers"],
        cwd=repo, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert added.returncode == 0 and "added note" in added.stdout
    found = subprocess.run(
        [codecortex_exe(), "search", "--json", "postgresql pooling"],
        cwd=repo, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    results = json.loads(found.stdout)["results"]
    assert results and results[0]["kind"] == "knowledge"
    assert "pooling" in results[0]["snippet"]
    assert set(results[0]["why"]) >= {"keyword", "semantic"}


def test_interrupted_check_loses_nothing_and_duplicates_nothing(
    repo: Path, cli_env, fresh_db: str
) -> None:
    import signal

    import psycopg

    env = {**cli_env, "CODECORTEX_DATABASE_URL": fresh_db}
    for n in range(400):
        (repo / f"m{n}.py").write_text(f"import os\nimport sys\n\nprint(sys.argv, {n})\n")
    proc = subprocess.Popen(
        [codecortex_exe(), "check", "--tools", "ruff", "."],
        cwd=repo, env={**env, "PYTHONUNBUFFERED": "1"}, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert proc.stdout is not None
    for _ in range(20):  # interrupt once it is well into recording
        assert "imported but unused" in proc.stdout.readline()
    proc.send_signal(signal.SIGINT)
    _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    with psycopg.connect(fresh_db) as conn:
        (partial,) = conn.execute("SELECT COUNT(*) FROM detected_problems").fetchone()
    assert 20 <= partial < 400
    rerun = check(repo, env, ".")
    assert rerun.returncode == 1
    with psycopg.connect(fresh_db) as conn:
        rows = conn.execute(
            "SELECT file_path, COUNT(*) FROM detected_problems GROUP BY file_path"
        ).fetchall()
    assert len(rows) == 400 and {n for _f, n in rows} == {1}  # every file once, none twice


def test_fix_applies_only_verified_replays(repo: Path, cli_env, fresh_db) -> None:
    # mypy cannot check unsaved text: its replayed fix is shown as unverified and `--fix`
    # leaves the file alone, whatever the confidence threshold
    env = {**cli_env, "CODECORTEX_DATABASE_URL": fresh_db}

    def mypy_check(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [codecortex_exe(), "check", "--tools", "mypy", *args],
            cwd=repo, env=env, capture_output=True, text=True, timeout=300,
        )  # fmt: skip

    a = repo / "a.py"
    before = "def label(x: int) -> str:\n    if x:\n        return str(x)\n    return None\n"
    a.write_text(before)
    mypy_check("a.py")
    a.write_text(before.replace("-> str:", "-> str | None:"))
    assert "learned its fix" in mypy_check("a.py").stdout
    b = repo / "b.py"
    b_text = "def show(n: int) -> str:\n    if n > 2:\n        return f'{n}'\n    return None\n"
    b.write_text(b_text)
    out = mypy_check("--fix", "--min-confidence", "0.1", "b.py")
    assert "unverified" in out.stdout, out.stdout + out.stderr
    assert "[fixed]" not in out.stdout
    assert b.read_text() == b_text


def test_achievements_are_awarded_by_the_work_not_by_reading_stats(
    repo: Path, cli_env, fresh_db: str
) -> None:
    env = {**cli_env, "CODECORTEX_DATABASE_URL": fresh_db}

    def stats() -> dict:
        result = subprocess.run(
            [codecortex_exe(), "stats", "--json"],
            cwd=repo, env=env, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)

    def earned(data: dict) -> set[str]:
        return {a["type"] for a in data["achievements"]}

    assert earned(stats()) == set()
    (repo / "report.py").write_text("def total(rows):\n    return rows == None\n")
    assert check(repo, env, "report.py").returncode == 1  # a problem recorded in this repository
    with psycopg.connect(fresh_db) as conn:  # awarded by `check`, before anyone reads stats
        rows = conn.execute("SELECT achievement_type FROM codecortex_achievements").fetchall()
    assert ("first_repo",) in rows
    first = stats()
    assert "first_repo" in earned(first)
    assert stats() == first  # reading again changes nothing
