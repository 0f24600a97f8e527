"""Process lifecycle: an embedded PostgreSQL whose user was killed (SIGKILL) is stopped when the
next CodeCortex process that used it exits; `codecortex serve` started by hand in a terminal says
what it is and ends on Ctrl-C without a traceback."""

from __future__ import annotations

import json
import os
import pty
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
import pytest
from conftest import codecortex_exe

HOLD = """
import sys, time
from pathlib import Path
from codecortex.store.embedded import start_embedded
start_embedded(Path(sys.argv[1]))
print("up", flush=True)
time.sleep(600)
"""


def _postmaster(pgdata: Path) -> int | None:
    pid_file = pgdata / "postmaster.pid"
    if not pid_file.exists():
        return None
    pid = int(pid_file.read_text().splitlines()[0])
    return pid if psutil.pid_exists(pid) else None


def test_killed_users_do_not_keep_the_embedded_database_running(cli_env) -> None:
    data_dir = Path(tempfile.mkdtemp(prefix="cc-orphan-"))  # the PostgreSQL user must enter it
    pgdata = data_dir / "pgdata"
    env = {k: v for k, v in cli_env.items() if k != "CODECORTEX_DATABASE_URL"}
    env["CODECORTEX_DATA_DIR"] = str(data_dir)
    try:
        holder = subprocess.Popen(
            [sys.executable, "-c", HOLD, str(data_dir)], env=env, stdout=subprocess.PIPE, text=True
        )
        assert holder.stdout is not None and holder.stdout.readline().strip() == "up"
        postgres = _postmaster(pgdata)
        assert postgres is not None
        holder.send_signal(signal.SIGKILL)  # `kill -9` of a running learn-history
        holder.wait(timeout=30)
        assert holder.pid in json.loads((pgdata / ".handle_pids.json").read_text())

        doctor = subprocess.run(
            [codecortex_exe(), "doctor"], env=env, capture_output=True, text=True, timeout=120
        )
        assert "ok    database:" in doctor.stdout, doctor.stdout + doctor.stderr
        deadline = time.monotonic() + 30
        while psutil.pid_exists(postgres) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not psutil.pid_exists(postgres), "PostgreSQL still runs after its last user left"
        assert json.loads((pgdata / ".handle_pids.json").read_text() or "[]") == []
    finally:
        leftover = _postmaster(pgdata)
        if leftover is not None:
            os.kill(leftover, signal.SIGTERM)
        shutil.rmtree(data_dir, ignore_errors=True)


def test_serve_in_a_terminal_says_what_it_is_and_ends_on_ctrl_c(cli_env, fresh_db) -> None:
    env = {**cli_env, "CODECORTEX_DATABASE_URL": fresh_db}
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [codecortex_exe(), "serve"], env=env, stdin=slave, stdout=slave, stderr=slave,
        start_new_session=True,
    )  # fmt: skip
    os.close(slave)
    seen = b""

    def read_for(seconds: float) -> bytes:
        out = b""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.1)
            if ready:
                try:
                    chunk = os.read(master, 4096)
                except OSError:
                    break
                if not chunk:
                    break
                out += chunk
            elif proc.poll() is not None:
                break
        return out

    try:
        seen = read_for(5)
        text = seen.decode("utf-8", "replace")
        assert "language server" in text and "Ctrl-C" in text, text
        os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C in the terminal reaches the process group
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGABRT)
            print(read_for(3).decode("utf-8", "replace")[-4000:])
            raise
        rest = read_for(1).decode("utf-8", "replace")
        assert "Traceback" not in text + rest, text + rest
        assert proc.returncode in (0, 130), proc.returncode
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(master)


def _history_repo(root: Path, commits: int) -> None:
    """A repository whose every commit changes Python files (something for learn-history),
    written by `git fast-import` (thousands of commits in a second)."""
    root.mkdir()
    run = {"cwd": root, "check": True, "capture_output": True}
    subprocess.run(["git", "init", "-q"], **run)
    stream: list[bytes] = []

    def blob(path: str, text: str) -> None:
        data = text.encode()
        stream.append(b"M 100644 inline %s\ndata %d\n%s\n" % (path.encode(), len(data), data))

    for n in range(commits):
        message = f"change {n}".encode()
        stream.append(b"commit refs/heads/main\n")
        stream.append(b"committer Dev <dev@example.com> %d +0000\n" % (1_700_000_000 + 60 * n))
        stream.append(b"data %d\n%s\n" % (len(message), message))
        if n == 0:
            blob("ruff.toml", '[lint]\nselect = ["F", "E"]\n')
        for m in range(3):
            unused = "import os\n" if (n + m) % 2 else ""
            body = "".join(f"def f{k}(x):\n    return x == None or x + {n}\n\n" for k in range(20))
            blob(f"mod{m}.py", unused + "import sys\n\n" + body + "print(sys.argv)\n")
    subprocess.run(["git", "fast-import", "--quiet"], input=b"".join(stream), **run)
    subprocess.run(["git", "checkout", "-q", "main"], **run)


def _as_in_a_terminal() -> None:
    """Ctrl-C's default action, as in a terminal: a suite started in the background (`&` in a
    script) passes its children SIGINT ignored, and an ignored Ctrl-C is left ignored."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_learn_history_interrupted_leaves_nothing_behind(
    sig: int, tmp_path: Path, cli_env, fresh_db
) -> None:
    repo = tmp_path / "repo"
    _history_repo(repo, 3000)  # still mining when interrupted, at dozens of commits a second
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    env = {**cli_env, "CODECORTEX_DATABASE_URL": fresh_db, "TMPDIR": str(scratch)}
    proc = subprocess.Popen(
        [codecortex_exe(), "learn-history"], cwd=repo, env=env,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        preexec_fn=_as_in_a_terminal,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not any(scratch.glob("codecortex-history-*")):
        time.sleep(0.1)  # until it works on snapshots
    assert proc.poll() is None, "learn-history ended before it could be interrupted"
    time.sleep(1.5)
    children = psutil.Process(proc.pid).children(recursive=True)
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, (out, err)
    assert err == "codecortex: interrupted\n", err  # one line, no traceback
    assert not list(scratch.glob("codecortex-history-*"))  # no scratch folder left
    _gone, alive = psutil.wait_procs(children, timeout=5)
    assert not alive, [p.name() for p in alive]
