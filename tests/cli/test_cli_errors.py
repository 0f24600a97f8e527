"""The CLI's error paths through the real `codecortex` executable."""

from __future__ import annotations

import subprocess

from conftest import codecortex_exe


def run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [codecortex_exe(), *args], env=env, capture_output=True, text=True, timeout=120
    )


def test_version(cli_env) -> None:
    from codecortex import __version__

    result = run(["--version"], cli_env)
    assert result.returncode == 0 and __version__ in result.stdout


def test_unreachable_database_url(cli_env) -> None:
    env = {**cli_env, "CODECORTEX_DATABASE_URL": "postgresql://alice:s3cret@127.0.0.1:9/cc"}
    result = run(["db", "status"], env)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr  # one line, no traceback
    assert "127.0.0.1:9" in lines[0]
    assert "s3cret" not in result.stderr and "***" in lines[0]


def test_database_without_pgvector(pg, cli_env) -> None:
    import psycopg

    name = "novector_db"
    with psycopg.connect(pg.admin_url, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name}")
        conn.execute(f"CREATE DATABASE {name}")
        # A server without pgvector installed: hide the extension's control files from this db.
        conn.execute(f"ALTER DATABASE {name} SET extension_control_path = '/nonexistent'")
    env = {**cli_env, "CODECORTEX_DATABASE_URL": pg.url(name)}
    result = run(["db", "migrate"], env)
    assert result.returncode == 2
    assert "no `vector` extension" in result.stderr
    assert "CREATE EXTENSION vector" in result.stderr
    assert "Traceback" not in result.stderr


def test_unwritable_data_dir(tmp_path, cli_env) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    env = {**cli_env, "CODECORTEX_DATA_DIR": str(blocker / "data")}
    result = run(["doctor"], env)
    assert result.returncode == 1
    assert str(blocker / "data") in result.stdout
    assert "not writable" in result.stdout
    result = run(["db", "status"], env)
    assert result.returncode == 2 and str(blocker / "data") in result.stderr


def test_doctor_passes_on_embedded_database(cli_env) -> None:
    result = run(["doctor"], cli_env)
    assert result.returncode == 0, result.stdout + result.stderr
    for name in ("database", "postgresql", "pgvector", "migrations", "tree-sitter grammars"):
        assert f"ok    {name}:" in result.stdout


def test_doctor_does_not_count_a_cargo_without_toolchain(cli_env, tmp_path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    cargo = bin_dir / "cargo"
    cargo.write_text("#!/bin/sh\necho 'error: no default toolchain configured' >&2\nexit 1\n")
    cargo.chmod(0o755)
    env = {**cli_env, "PATH": f"{bin_dir}:{cli_env['PATH']}"}
    result = run(["doctor"], env)
    (line,) = [x for x in result.stdout.splitlines() if "external tools:" in x]
    assert "cargo: no working toolchain (error: no default toolchain configured)" in line
    assert "cargo" not in line.split("found ", 1)[1].split(";", 1)[0]
