"""Command-line conventions, through the real executable: a closed pipe ends quietly, unknown
detectors are usage errors, `doctor --json` on a new database, `--quiet`, no progress on a pipe."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from conftest import codecortex_exe


def cc(
    env: dict[str, str], *args: str, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [codecortex_exe(), *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=120
    )


def test_a_closed_pipe_ends_without_a_traceback(cli_env, fresh_db) -> None:
    env = {**cli_env, "CODECORTEX_DATABASE_URL": fresh_db}
    for args in (["stats"], ["doctor"], ["search", "unused import"]):
        proc = subprocess.Popen(
            [codecortex_exe(), *args], env=env,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        assert proc.stdout is not None and proc.stderr is not None
        proc.stdout.close()  # the reader is gone before anything was written (`| head -0`)
        err = proc.stderr.read()
        proc.wait(timeout=120)
        assert "Traceback" not in err and "BrokenPipeError" not in err, (args, err)
        assert "Exception ignored" not in err, (args, err)


def test_unknown_detector_is_a_usage_error(cli_env, fresh_db, tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text("x = 1\n")
    env = {**cli_env, "CODECORTEX_DATABASE_URL": fresh_db}
    proc = cc(env, "check", "--tools", "ruff,foo", "a.py", cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "codecortex: error: unknown detector foo (known: ruff, mypy, pyflakes, tsc, eslint, cargo)"
    ]


def test_doctor_json_on_a_new_database(cli_env, fresh_db) -> None:
    env = {**cli_env, "CODECORTEX_DATABASE_URL": fresh_db}
    proc = cc(env, "doctor", "--json")
    report = json.loads(proc.stdout)
    assert report["ok"] is True and proc.returncode == 0, report
    checks = {c["name"]: c for c in report["checks"]}
    assert checks["database"]["ok"] and checks["pgvector"]["ok"]
    history = checks["git history"]["detail"]
    assert "Undefined" not in history and "unknown" not in history, history
    assert report["passed"] == report["total"] == len(report["checks"])


def test_quiet_prints_only_errors(cli_env, fresh_db, tmp_path: Path) -> None:
    (tmp_path / "ok.py").write_text("x = 1\n")
    (tmp_path / "blob.py").write_bytes(b"x = 1\n\x00\x01")
    env = {**cli_env, "CODECORTEX_DATABASE_URL": fresh_db, "CODECORTEX_HINTS": "maybe"}
    loud = cc(env, "check", ".", cwd=tmp_path)
    assert "blob.py" in loud.stderr and "warning" in loud.stderr
    quiet = cc(env, "--quiet", "check", ".", cwd=tmp_path)
    assert quiet.returncode == 0 and quiet.stderr == ""
    assert "0 problem(s)" in quiet.stdout
