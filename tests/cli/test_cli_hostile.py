"""Hostile files and inputs for the CLI (and the server): one line naming the file and the
reason, exit 2 for input errors, the rest of the work done, nothing half-written, no
traceback and no hang."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import psycopg
import pytest
from conftest import codecortex_exe
from lsphelp import server_env
from wireclient import WireClient


def _run(args: list[str], cwd: Path, env: dict[str, str], stdin: str | None = None):
    result = subprocess.run(
        [codecortex_exe(), *args], cwd=cwd, env=env, input=stdin,
        capture_output=True, text=True, timeout=180,  # a hang guard: these took seconds
    )  # fmt: skip
    assert "Traceback" not in result.stderr, result.stderr
    return result


def _hostile_project(root: Path) -> Path:
    root.mkdir()
    (root / "good.py").write_text("import os\n")
    (root / "late_nul.py").write_bytes(b"x = 1\n" + b"#" * 9000 + b"\n\x00\n")
    (root / "loop_a.py").symlink_to(root / "loop_b.py")
    (root / "loop_b.py").symlink_to(root / "loop_a.py")
    os.mkfifo(root / "pipe.py")
    return root


def test_check_reports_hostile_files_and_checks_the_rest(tmp_path: Path, cli_env, fresh_db):
    project = _hostile_project(tmp_path / "p")
    env = {**cli_env, "CODECORTEX_DATABASE_URL": fresh_db}
    result = _run(["check", "--tools", "ruff", "."], project, env)
    assert "late_nul.py: contains a NUL byte (at offset 9007)" in result.stderr
    assert "loop_a.py: unreadable: too many levels of symbolic links" in result.stderr
    assert "pipe.py: not a regular file" in result.stderr
    assert "good.py:1:8: F401" in result.stdout
    assert result.returncode == 1  # problems found (the skipped files are not errors here)

    named = _run(["check", "--tools", "ruff", "pipe.py", "loop_a.py", "good.py"], project, env)
    assert "codecortex: error: pipe.py: not a regular file or directory" in named.stderr
    assert "codecortex: error: loop_a.py: a symlink loop" in named.stderr
    assert "good.py:1:8: F401" in named.stdout  # the rest of the work goes on
    assert named.returncode == 2


def test_check_on_a_read_only_project_still_reports(tmp_path: Path, cli_env, fresh_db) -> None:
    source = tmp_path / "src"
    source.mkdir()
    (source / "good.py").write_text("import os\n")
    mount = tmp_path / "ro"
    mount.mkdir()
    done = subprocess.run(["mount", "--bind", str(source), str(mount)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot bind-mount a read-only copy here: {done.stderr.strip()}")
    try:
        ro = subprocess.run(["mount", "-o", "remount,bind,ro", str(mount)], capture_output=True)
        if ro.returncode != 0:
            pytest.skip(f"cannot remount read-only here: {ro.stderr.strip()}")
        env = {**cli_env, "CODECORTEX_DATABASE_URL": fresh_db}
        result = _run(["check", "--tools", "ruff,mypy", "."], mount, env)
        assert "good.py:1:8: F401" in result.stdout, result.stderr
        assert "failed" not in result.stderr
        assert result.returncode == 1
        assert not (mount / ".ruff_cache").exists()
    finally:
        subprocess.run(["umount", str(mount)], check=False)


def _export_line(kind: str, row: dict[str, object]) -> str:
    return json.dumps({"type": kind, "row": row})


HEADER = json.dumps({"type": "codecortex-export", "version": 1})
GOOD_NOTE = {"id": "6a8e7a44-5d0e-4c4b-9a53-0f1c2d3e4f50", "kind": "note", "title": "t",
             "content": "a good note", "content_hash": "h1", "visibility": "private"}  # fmt: skip


@pytest.mark.parametrize(
    ("lines", "reason"),
    [
        ([json.dumps({"type": "codecortex-export", "version": "two"})], "line 1: the version"),
        ([HEADER, _export_line("repo", {"id": "r", "root_path": 5})],
         "line 2: root_path must be a string"),
        ([HEADER, _export_line("item", GOOD_NOTE),
          _export_line("item", {**GOOD_NOTE, "id": "not-a-uuid"})], "line 3:"),
        ([HEADER, _export_line("item", GOOD_NOTE),
          _export_line("problem", {"id": "7a8e7a44-5d0e-4c4b-9a53-0f1c2d3e4f51",
                                   "error_message": {"an": "object"}})], "line 3:"),
        ([HEADER, _export_line("item", GOOD_NOTE),
          _export_line("problem", {"id": "8a8e7a44-5d0e-4c4b-9a53-0f1c2d3e4f52",
                                   "seen_count": "many"})], "line 3:"),
        ([HEADER, _export_line("item", GOOD_NOTE),
          _export_line("problem", {"id": "9a8e7a44-5d0e-4c4b-9a53-0f1c2d3e4f53",
                                   "detected_at": "the day before"})], "line 3:"),
    ],
)  # fmt: skip
def test_import_of_bad_rows_names_the_line_and_writes_nothing(
    lines: list[str], reason: str, tmp_path: Path, cli_env, fresh_db
) -> None:
    env = {**cli_env, "CODECORTEX_DATABASE_URL": fresh_db}
    path = tmp_path / "bad.ndjson"
    path.write_text("\n".join(lines) + "\n")
    result = _run(["import", str(path)], tmp_path, env)
    assert result.returncode == 2
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith(f"codecortex: error: {path}: {reason}"), line
    with psycopg.connect(fresh_db) as conn:  # the good row before the bad one: not written
        row = conn.execute("SELECT count(*) FROM items WHERE content = 'a good note'")
        assert row.fetchone() == (0,)


def test_import_of_a_file_that_is_not_utf8(tmp_path: Path, cli_env, fresh_db) -> None:
    env = {**cli_env, "CODECORTEX_DATABASE_URL": fresh_db}
    path = tmp_path / "latin.ndjson"
    path.write_bytes(HEADER.encode() + b"\n" + _export_line("item", GOOD_NOTE).encode()[:-3]
                     + "é\"}}\n".encode("latin-1"))  # fmt: skip
    offset = path.read_bytes().index(b"\xe9")
    result = _run(["import", str(path)], tmp_path, env)
    assert result.returncode == 2
    assert result.stderr.strip() == (
        f"codecortex: error: {path}: not UTF-8 (invalid byte at offset {offset})"
    )


def test_the_server_says_why_it_does_not_record_a_file_with_a_late_nul(
    fresh_db: str, tmp_path: Path, editor
) -> None:
    client = WireClient(server_env(fresh_db))
    try:
        client.start(tmp_path, editor=editor)
        text = "import os\n" + "#" * 9000 + "\n\x00\n"
        uri = client.open(tmp_path / "late.py", text)
        client.forward(uri, 1, [{"range": {"start": {"line": 0, "character": 7}, "end": {
            "line": 0, "character": 9}}, "message": "`os` imported but unused", "source": "Ruff",
            "code": "F401"}])  # fmt: skip
        client.request("textDocument/hover", {"textDocument": {"uri": uri},
                       "position": {"line": 0, "character": 0}})  # fmt: skip
        client.wait_for(
            lambda m: (
                m.get("method") == "window/logMessage"
                and "contains a NUL byte (at offset 9011)" in m["params"]["message"]
            )
        )
        assert client.command("codecortex.stats")["problems"] == 0
        assert client.stop() == 0
    finally:
        client.kill()
