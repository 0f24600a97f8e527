"""The editor's `dataDir` and `databaseUrl` settings decide where the server writes, from
`initializationOptions` and from `workspace/didChangeConfiguration` (the real server over stdio)."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import psycopg
from lsphelp import (
    Editor,
    eventually,
    forward,
    open_doc,
    ruff_diagnostics,
    server_env,
    start_client,
)
from lsprotocol import types

from codecortex.store.embedded import mask_url

TEXT = "import os\n\nprint(1)\n"


async def problems_in(url: str) -> int:
    async with await psycopg.AsyncConnection.connect(url) as conn:
        cur = await conn.execute("SELECT count(*) FROM detected_problems")
        row = await cur.fetchone()
        return int(row[0]) if row else 0


async def has_problems(url: str, n: int) -> bool | None:
    return await problems_in(url) == n or None


async def connected_to(client, where: str):
    async def probe():
        for status in reversed(client.statuses):
            return (
                status
                if status.get("database") == "connected" and status.get("where") == where
                else None
            )
        return None

    return await eventually(probe)


async def test_data_dir_from_initialization_options(editor: Editor, tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    ws.mkdir()
    # Outside pytest's tmp_path, which the embedded PostgreSQL's user (not root) cannot enter.
    data_dir = Path(tempfile.mkdtemp(prefix="cc-editor-data-"))
    client = await start_client(server_env(), ws, editor, {"dataDir": str(data_dir)})
    try:
        await connected_to(client, f"embedded PostgreSQL in {data_dir.resolve()}")
        assert (data_dir / "pgdata").is_dir()
        uri = open_doc(client, ws / "a.py", TEXT)
        forward(client, uri, 1, ruff_diagnostics(ws / "a.py", TEXT))
        await eventually(lambda: _problems_status(client, 1))
    finally:
        await client.shutdown_session()
        shutil.rmtree(data_dir, ignore_errors=True)


async def test_database_url_from_options_then_changed(editor: Editor, pg, tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    ws.mkdir()
    first, second = pg.create_database(), pg.create_database()
    unused = tmp_path / "default-data"
    env = server_env(CODECORTEX_DATA_DIR=str(unused))
    client = await start_client(env, ws, editor, {"databaseUrl": first})
    try:
        await connected_to(client, mask_url(first))
        a = open_doc(client, ws / "a.py", TEXT)
        forward(client, a, 1, ruff_diagnostics(ws / "a.py", TEXT))
        await eventually(lambda: has_problems(first, 1))

        client.workspace_did_change_configuration(
            types.DidChangeConfigurationParams(settings={"codecortex": {"databaseUrl": second}})
        )
        await connected_to(client, mask_url(second))
        b = open_doc(client, ws / "b.py", TEXT)
        forward(client, b, 1, ruff_diagnostics(ws / "b.py", TEXT))
        await eventually(lambda: has_problems(second, 1))
        assert await problems_in(first) == 1
        assert not unused.exists()  # the default embedded database was never started
    finally:
        await client.shutdown_session()


async def _problems_status(client, n: int):
    return any(s.get("problems", 0) >= n for s in client.statuses) or None
