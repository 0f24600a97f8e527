"""Faults when starting the embedded PostgreSQL: a full disk and a shared lock file that cannot
be opened. One line with the cause and where to look; no initdb log, no traceback."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from conftest import codecortex_exe


def _db_status(env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [codecortex_exe(), "db", "status"], cwd=cwd, env=env,
        capture_output=True, text=True, timeout=180,
    )  # fmt: skip


def test_disk_full_at_start_says_so_in_one_line(tmp_path: Path, cli_env) -> None:
    disk = tmp_path / "small-disk"
    disk.mkdir()
    # A real full disk: a 12 MB tmpfs, too small for initdb (which needs ~40 MB).
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=12m", "tmpfs", str(disk)], capture_output=True
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here (needs root): {mounted.stderr.strip()}")
    try:
        data = disk / "data"
        result = _db_status({**cli_env, "CODECORTEX_DATA_DIR": str(data)}, tmp_path)
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)
    assert result.returncode == 2
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith(f"codecortex: error: could not start the embedded PostgreSQL in {data}")
    assert "no space left on device" in line
    assert f"df -h {data}" in line and "CODECORTEX_DATA_DIR" in line
    assert "initdb" not in line and "Traceback" not in result.stderr


def test_a_shared_lock_file_that_cannot_be_opened_does_not_stop_the_start(
    tmp_path: Path, cli_env
) -> None:
    """pgserver locks `$TMPDIR/.lockfile` when there is no per-user runtime directory; another
    OS user's file there raised PermissionError. Root may open any file, so the test makes it
    unopenable another way (a directory of that name): the start must not touch it at all."""
    shared = tmp_path / "shared-tmp"
    (shared / ".lockfile").mkdir(parents=True)
    env = {**cli_env, "TMPDIR": str(shared), "CODECORTEX_DATA_DIR": str(tmp_path / "data")}
    env.pop("XDG_RUNTIME_DIR", None)
    result = _db_status(env, tmp_path)
    assert result.returncode == 0, result.stderr
    assert "pending" in result.stdout or "applied" in result.stdout
    assert "Traceback" not in result.stderr
    assert (tmp_path / "data" / ".pgserver.lock").exists()
