"""Learning from git history: a repository with a scripted history (fixes of ruff and mypy
problems, a reformatting commit, an evil merge, a vendored file), mined with the real
`codecortex learn-history`, real ruff and mypy and the real database."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest
from conftest import codecortex_exe
from lsphelp import command, eventually, server_env, start_client
from psycopg.rows import dict_row

from codecortex.history.filters import (
    is_reformatting,
    layout_only_hunks,
    vendored_or_generated_path,
)

T0 = 1_700_000_000
HOUR = 3600

REPORT_BAD = "def total(rows):\n    if rows == None:\n        return 0\n    return sum(rows)\n"
UTIL_BAD = "import os\nimport sys\n\n\ndef argv():\n    return sys.argv\n"
TYPED_BAD = "def half(n: int) -> int:\n    return n / 2\n"
FMT_BAD = (
    "import json\n\n\ndef a( x ):\n    return x\n\n\ndef b( y ):\n    return y\n\n\n"
    "def c( z ):\n    return z\n\n\ndef d( w ):\n    return w\n\n\ndef e( v ):\n    return v\n"
)
VENDOR_BAD = "import re\nimport string\n\n\ndef letters():\n    return string.ascii_letters\n"
SIDE_BAD = "def check(flag):\n    if flag == True:\n        return 1\n    return 0\n"
EVIL_BAD = "import glob\nimport shutil\n\n\ndef which(name):\n    return shutil.which(name)\n"
BIG_LINES = [f"def f{i}(a):\n    return a + {i}\n\n\n" for i in range(30)]
BIG_BAD = "".join(BIG_LINES) + "def g(a):\n    if a == None:\n        return 0\n    return 1\n"


class Repo:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.tick = 0

    def git(self, *args: str, author: str = "Alice", when: int | None = None) -> str:
        self.tick += 1
        stamp = f"@{when if when is not None else T0 + self.tick * 60} +0000"
        env = {
            **os.environ,
            "GIT_AUTHOR_NAME": author,
            "GIT_AUTHOR_EMAIL": f"{author.lower()}@example.com",
            "GIT_COMMITTER_NAME": author,
            "GIT_COMMITTER_EMAIL": f"{author.lower()}@example.com",
            "GIT_AUTHOR_DATE": stamp,
            "GIT_COMMITTER_DATE": stamp,
        }
        out = subprocess.run(
            ["git", *args], cwd=self.root, env=env, check=True, capture_output=True, text=True
        )
        return out.stdout.strip()

    def write(self, files: dict[str, str]) -> None:
        for name, text in files.items():
            path = self.root / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)

    def commit(self, message: str, files: dict[str, str], **kw: Any) -> str:
        self.write(files)
        self.git("add", "-A")
        self.git("commit", "-q", "-m", message, **kw)
        return self.git("rev-parse", "HEAD")


def build_history(root: Path) -> dict[str, str]:
    """The scripted history; returns commit shas by name."""
    root.mkdir()
    repo = Repo(root)
    repo.git("init", "-q", "-b", "main")
    repo.git("config", "user.email", "miner@example.com")
    shas = {}
    shas["start"] = repo.commit(
        "start",
        {
            "ruff.toml": '[lint]\nselect = ["E", "F"]\n',
            "report.py": REPORT_BAD,
            "util.py": UTIL_BAD,
            "typed.py": TYPED_BAD,
            "fmt.py": FMT_BAD,
            "vendor/lib.py": VENDOR_BAD,
            "big.py": BIG_BAD,
            "evil.py": EVIL_BAD,
        },
        when=T0,
    )
    shas["fix_e711"] = repo.commit(
        "fix None comparison",
        {"report.py": REPORT_BAD.replace("rows == None", "rows is None")},
        author="Alice",
        when=T0 + HOUR,
    )
    shas["fix_f401"] = repo.commit(
        "drop unused imports",
        {"util.py": UTIL_BAD.replace("import os\n", ""), "vendor/lib.py": VENDOR_BAD[10:]},
        author="Bob",
        when=T0 + 2 * HOUR,
    )
    shas["fix_mypy"] = repo.commit(
        "integer division",
        {"typed.py": TYPED_BAD.replace("n / 2", "n // 2")},
        author="Carol",
        when=T0 + 3 * HOUR,
    )
    shas["reformat"] = repo.commit(
        "reformat",
        {"fmt.py": FMT_BAD.replace("import json\n\n\n", "").replace("( ", "(").replace(" )", ")")},
        when=T0 + 4 * HOUR,
    )
    shas["rewrite"] = repo.commit(
        "rewrite big",  # one hunk of 130 lines: too large to learn from
        {"big.py": "".join(f"def h{i}(b):\n    return b * {i}\n" for i in range(30)) + "G = 1\n"},
        when=T0 + 5 * HOUR,
    )
    repo.git("checkout", "-q", "-b", "side", shas["start"])
    repo.write({"side.py": SIDE_BAD})
    repo.git("add", "side.py")
    repo.git("commit", "-q", "-m", "side file", when=T0 + 5 * HOUR)
    shas["side_fix"] = repo.commit(
        "side fix", {"side.py": SIDE_BAD.replace("flag == True", "flag")}, author="Dan",
        when=T0 + 6 * HOUR,
    )  # fmt: skip
    repo.git("checkout", "-q", "main")
    # an evil merge: it also fixes something that is in neither parent
    repo.git("merge", "-q", "--no-ff", "--no-commit", "side", when=T0 + 7 * HOUR)
    repo.write({"evil.py": EVIL_BAD.replace("import glob\n", "")})
    repo.git("add", "-A")
    repo.git("commit", "-q", "-m", "merge side", when=T0 + 7 * HOUR)
    shas["merge"] = repo.git("rev-parse", "HEAD")
    return shas


@pytest.fixture
def history(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    root = tmp_path / "proj"
    return root, build_history(root)


def cli(root: Path, env: dict[str, str], *args: str, timeout: float = 120) -> Any:
    return subprocess.run(
        [codecortex_exe(), *args], cwd=root, env=env, capture_output=True, text=True,
        timeout=timeout,
    )  # fmt: skip


def solutions(db_url: str) -> list[dict[str, Any]]:
    with psycopg.connect(db_url, row_factory=dict_row) as conn:
        rows = conn.execute(
            "SELECT s.*, (SELECT COUNT(*) FROM embeddings e WHERE e.owner_id = s.id) AS vectors"
            " FROM past_solutions s ORDER BY committed_at, code"
        ).fetchall()
    return [dict(r) for r in rows]


def synced(db_url: str) -> str | None:
    with psycopg.connect(db_url, row_factory=dict_row) as conn:
        row = conn.execute("SELECT last_synced_sha FROM github_repos").fetchone()
    return row["last_synced_sha"] if row else None


def essence(rows: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return sorted(
        (r["problem_signature"], r["commit_sha"], r["diff"], r["file_path"], r["author"])
        for r in rows
    )


def test_learns_the_fixes_and_nothing_from_the_noise(history, cli_env, fresh_db) -> None:
    root, shas = history
    env = {**cli_env, "CODECORTEX_DATABASE_URL": fresh_db}
    head_before = (root / ".git" / "HEAD").read_text()
    status_before = subprocess.run(
        ["git", "status", "--porcelain"], cwd=root, capture_output=True, text=True
    ).stdout
    done = cli(root, env, "learn-history", "--tools", "ruff,mypy", "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(done.stdout)
    rows = solutions(fresh_db)
    learned = {(r["tool"], r["code"], r["commit_sha"]) for r in rows}
    assert learned == {
        ("ruff", "E711", shas["fix_e711"]),
        ("ruff", "F401", shas["fix_f401"]),
        ("mypy", "return-value", shas["fix_mypy"]),
        ("ruff", "E712", shas["side_fix"]),
    }, rows
    by_code = {r["code"]: r for r in rows}
    e711 = by_code["E711"]
    assert e711["source"] == "git" and e711["author"] == "Alice <alice@example.com>"
    assert "-    if rows == None:" in e711["diff"] and "+    if rows is None:" in e711["diff"]
    assert e711["time_to_solve_seconds"] == HOUR  # the line was written at T0
    assert e711["committed_at"].timestamp() == T0 + HOUR
    assert e711["file_path"] == str(root.resolve() / "report.py")
    assert by_code["F401"]["signature_values"][:1] == ["os"]  # not vendor/lib.py's `re`
    assert "n // 2" in by_code["return-value"]["diff"]
    assert all(r["vectors"] == 1 for r in rows)  # embedded like live solutions
    assert report["commits_skipped"] == {
        "merge": 1,
        "reformatting": 1,
        "root commit": 1,
        "no modified source file": 1,  # side.py added
    }
    assert report["files_skipped"] == {"vendored": 1}
    assert report["not_learned"].get("hunk too large") == 1  # big.py's rewrite
    assert report["solutions_learned"] == 4 and report["commits_done"] == 9
    assert synced(fresh_db) == shas["merge"]
    # the working tree, index and HEAD were not touched
    assert (root / ".git" / "HEAD").read_text() == head_before
    assert (
        subprocess.run(
            ["git", "status", "--porcelain"], cwd=root, capture_output=True, text=True
        ).stdout
        == status_before
    )

    again = cli(root, env, "learn-history", "--tools", "ruff,mypy", "--json")
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["up_to_date"] is True
    assert essence(solutions(fresh_db)) == essence(rows)

    stats = cli(root, env, "stats", "--json")
    assert json.loads(stats.stdout)["solutionsFromHistory"] == 4
    doctor = cli(root, env, "doctor")
    assert "git history: 4 solution(s) learned from 4 commit(s); mined: proj at " in doctor.stdout

    # A new file with one of those problems gets the historical fix.
    new = root / "accounts.py"
    text = (
        "class Accounts:\n    def find(self, key):\n        found = self.lookup(key)\n"
        "        if found == None:\n            raise KeyError(key)\n        return found\n"
    )
    new.write_text(text)
    fixed = cli(root, env, "check", "--tools", "ruff", "--fix", "accounts.py")
    assert "[fixed]" in fixed.stdout, fixed.stdout + fixed.stderr
    assert f"from commit {shas['fix_e711'][:8]}" in fixed.stdout
    assert new.read_text() == text.replace("found == None", "found is None")


def test_an_interrupted_run_resumes_and_a_second_run_adds_nothing(
    history, cli_env, pg, tmp_path
) -> None:
    root, shas = history
    whole_db, parts_db = pg.create_database(), pg.create_database()
    whole = cli(root, {**cli_env, "CODECORTEX_DATABASE_URL": whole_db}, "learn-history")
    assert whole.returncode == 0, whole.stderr

    env = {**cli_env, "CODECORTEX_DATABASE_URL": parts_db}
    first = cli(root, env, "learn-history", "--max-commits", "3")
    assert first.returncode == 0, first.stderr
    assert "commit(s) left: run again to continue" in first.stdout
    assert synced(parts_db) is not None and synced(parts_db) != shas["merge"]
    partial = essence(solutions(parts_db))
    assert len(partial) < len(essence(solutions(whole_db)))
    rest = cli(root, env, "learn-history")
    assert rest.returncode == 0, rest.stderr
    assert essence(solutions(parts_db)) == essence(solutions(whole_db))
    assert synced(parts_db) == shas["merge"]
    assert "up to date" in cli(root, env, "learn-history").stdout
    assert essence(solutions(parts_db)) == essence(solutions(whole_db))


def test_a_killed_run_is_taken_over_by_the_next(tmp_path, cli_env, pg) -> None:
    root = tmp_path / "long"
    root.mkdir()
    repo = Repo(root)
    repo.git("init", "-q", "-b", "main")
    repo.git("config", "user.email", "miner@example.com")
    repo.commit("start", {"ruff.toml": '[lint]\nselect = ["E", "F"]\n'})
    for i in range(40):
        repo.commit(f"add m{i}", {f"m{i}.py": f"import mod{i}\nimport sys\n\nX{i} = sys.argv\n"})
        repo.commit(f"fix m{i}", {f"m{i}.py": f"import sys\n\nX{i} = sys.argv\n"})
    db = pg.create_database()
    env = {**cli_env, "CODECORTEX_DATABASE_URL": db}
    whole_db = pg.create_database()
    whole = cli(
        root, {**cli_env, "CODECORTEX_DATABASE_URL": whole_db}, "learn-history", "--tools", "ruff"
    )
    assert whole.returncode == 0, whole.stderr

    proc = subprocess.Popen(
        [codecortex_exe(), "learn-history", "--tools", "ruff"], cwd=root, env=env,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if len(solutions(db)) >= 3:
                break
        except (psycopg.errors.UndefinedTable, psycopg.errors.UndefinedColumn):  # migrating
            pass
        time.sleep(0.05)
    assert proc.poll() is None, "the run finished before it could be killed"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    stopped_at = len(solutions(db))
    assert 3 <= stopped_at < 40
    resumed = cli(root, env, "learn-history", "--tools", "ruff", "--json")
    assert resumed.returncode == 0, resumed.stderr
    report = json.loads(resumed.stdout)
    assert report["last_synced_sha"] is not None  # continued, not started over
    assert report["commits_done"] < 81
    assert essence(solutions(db)) == essence(solutions(whole_db))
    assert len(solutions(db)) == 40


def test_each_commit_is_checked_under_its_own_configuration(tmp_path, cli_env, fresh_db) -> None:
    # All these commits are checked in one batch (one ruff process): each commit's versions must
    # still be reported under that commit's ruff.toml, as in a checkout of it.
    root = tmp_path / "configured"
    root.mkdir()
    repo = Repo(root)
    repo.git("init", "-q", "-b", "main")
    repo.git("config", "user.email", "miner@example.com")
    repo.commit(
        "start",
        {
            "ruff.toml": '[lint]\nselect = ["E", "F"]\n',
            "report.py": REPORT_BAD,
            "util.py": UTIL_BAD,
            "later.py": UTIL_BAD.replace("os", "json"),
        },
    )
    repo.commit("ignore F401", {"ruff.toml": '[lint]\nselect = ["E", "F"]\nignore = ["F401"]\n'})
    both = repo.commit(
        "fix both",
        {
            "report.py": REPORT_BAD.replace("rows == None", "rows is None"),
            "util.py": UTIL_BAD.replace("import os\n", ""),
        },
    )
    repo.commit("check F401 again", {"ruff.toml": '[lint]\nselect = ["E", "F"]\n'})
    later = repo.commit("fix later", {"later.py": UTIL_BAD.replace("import os\n", "")})
    env = {**cli_env, "CODECORTEX_DATABASE_URL": fresh_db}
    done = cli(root, env, "learn-history", "--tools", "ruff", "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    learned = {(r["code"], r["commit_sha"], Path(r["file_path"]).name) for r in solutions(fresh_db)}
    # util.py's unused import went away while the project ignored F401: nothing to learn there
    assert learned == {("E711", both, "report.py"), ("F401", later, "later.py")}


def test_commits_without_ruff_configuration_are_checked_for_their_python_version(
    tmp_path, cli_env, fresh_db
) -> None:
    # No ruff configuration: ruff takes the Python version from the pyproject.toml of the folder
    # it runs in, as in a checkout of each commit. ExceptionGroup is a builtin from Python 3.11:
    # an undefined name (F821) for a project on 3.8, not for one on 3.11. All in one batch.
    root = tmp_path / "unconfigured"
    root.mkdir()
    repo = Repo(root)
    repo.git("init", "-q", "-b", "main")
    project = '[project]\nname = "demo"\nrequires-python = ">={}"\n'
    group = 'def first(errors):\n    raise ExceptionGroup("many", errors)\n'
    fixed = group.replace("ExceptionGroup", "RuntimeError")
    repo.commit(
        "start",
        {"pyproject.toml": project.format("3.8"), "old.py": group, "new.py": group},
    )
    on_38 = repo.commit("fix old", {"old.py": fixed})
    repo.commit("Python 3.11", {"pyproject.toml": project.format("3.11")})
    repo.commit("same change on 3.11", {"new.py": fixed})
    env = {**cli_env, "CODECORTEX_DATABASE_URL": fresh_db}
    done = cli(root, env, "learn-history", "--tools", "ruff", "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    learned = {(r["code"], r["commit_sha"], Path(r["file_path"]).name) for r in solutions(fresh_db)}
    assert learned == {("F821", on_38, "old.py")}


def test_noise_filters() -> None:
    assert vendored_or_generated_path("vendor/lib.py") == "vendored"
    assert vendored_or_generated_path("a/third_party/x/y.py") == "vendored"
    assert vendored_or_generated_path("proto/api_pb2.py") == "generated"
    assert vendored_or_generated_path("src/vendors.py") is None
    before = ["def a( x ):\n", "    return x\n", "\n", "x = 'a'\n", "y = f(1,)\n", "import os\n"]
    after = ["def a(x):\n", "    return x\n", "\n", 'x = "a"\n', "y = f(1)\n"]
    assert layout_only_hunks(before, after) == (2, 1)  # removing `import os` is not layout
    assert is_reformatting([(3, 2), (2, 1)]) and not is_reformatting([(2, 2)])
    assert not is_reformatting([(4, 2)])


async def test_learn_history_from_the_editor_with_progress(history, fresh_db, editor) -> None:
    root, _shas = history
    client = await start_client(server_env(fresh_db), root, editor)
    try:

        async def queued():
            result = await command(client, "codecortex.learnHistory", {"tools": ["ruff"]})
            return result if result.get("queued") else None  # the database may still start

        assert (await eventually(queued))["jobId"]

        async def finished(count: int) -> list[Any] | None:
            runs = []
            for reports in client.progress_reports.values():
                kinds = [type(r).__name__ for r in reports]
                if (
                    kinds[:1] == ["WorkDoneProgressBegin"]
                    and kinds[-1] == "WorkDoneProgressEnd"
                    and "history" in reports[0].title
                ):
                    runs.append(reports)
            return runs if len(runs) >= count else None

        (reports,) = await eventually(lambda: finished(1), timeout=60)
        assert reports[0].title == "CodeCortex: learning from git history"
        assert any(type(r).__name__ == "WorkDoneProgressReport" for r in reports)
        assert reports[-1].message == "3 fixes learned from 9 commits"  # ruff only
        stats = await command(client, "codecortex.stats")
        assert stats["solutionsFromHistory"] == 3
        again = await command(client, "codecortex.learnHistory", {"tools": ["ruff"]})
        assert again["queued"] is True
        runs = await eventually(lambda: finished(2), timeout=60)
        assert {r[-1].message for r in runs} == {"3 fixes learned from 9 commits", "up to date"}
    finally:
        await client.shutdown_session()
