"""Opening the database: start the embedded server if needed, migrate, hand out connections.

The language server uses an async pool; the CLI uses one plain async connection.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import psycopg
from pgvector.psycopg import register_vector_async
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from codecortex.config.settings import Settings
from codecortex.store.embedded import (
    DatabaseTarget,
    DatabaseUnavailable,
    connect_url,
    resolve_target,
    unreachable_message,
)
from codecortex.store.migrations import migrate

log = logging.getLogger(__name__)
CONNECT_TIMEOUT = 5


async def _raw_connect(url: str, **kwargs: Any) -> psycopg.AsyncConnection[Any]:
    try:
        return await psycopg.AsyncConnection.connect(
            url, connect_timeout=CONNECT_TIMEOUT, autocommit=True, **kwargs
        )
    except psycopg.OperationalError as exc:
        raise DatabaseUnavailable(unreachable_message(url, exc)) from None


async def prepare(settings: Settings, *, run_migrations: bool = True) -> DatabaseTarget:
    """Resolve the database, start the embedded server if needed, and migrate. Returns the target."""
    target = resolve_target(settings)
    url = await asyncio.to_thread(connect_url, target)
    if run_migrations:
        conn = await _raw_connect(url)
        try:
            await migrate(conn, where=target.describe())
        finally:
            await conn.close()
    return target


# HNSW search breadth per query (pgvector's default is 40, the semantic leg's LIMIT): 64 finds
# more of the true nearest neighbours for ~0.6 ms at 100,000 vectors (bench/retrieval.py).
# strict_order: when the filters (model, owner kind) drop candidates, keep scanning the index
# until the LIMIT is filled, in distance order (pgvector >= 0.8; ignored by older versions).
VECTOR_SETTINGS = (("hnsw.ef_search", "64"), ("hnsw.iterative_scan", "strict_order"))


async def _configure(conn: psycopg.AsyncConnection[Any]) -> None:
    await register_vector_async(conn)
    for name, value in VECTOR_SETTINGS:
        try:
            await conn.execute("SELECT set_config(%s, %s, false)", (name, value))
        except psycopg.Error as exc:  # an older pgvector without the setting
            log.debug("could not set %s: %s", name, exc)


@asynccontextmanager
async def connect(
    settings: Settings, *, run_migrations: bool = True
) -> AsyncIterator[psycopg.AsyncConnection[dict[str, Any]]]:
    """One autocommit connection with dict rows and pgvector types (for the CLI and tests)."""
    target = await prepare(settings, run_migrations=run_migrations)
    conn = await _raw_connect(target.url, row_factory=dict_row)
    try:
        if run_migrations:
            await _configure(conn)
        yield conn
    finally:
        await conn.close()


async def open_pool(
    target: DatabaseTarget, *, min_size: int = 1, max_size: int = 4
) -> AsyncConnectionPool[psycopg.AsyncConnection[dict[str, Any]]]:
    """An open pool to an already migrated database (raises DatabaseUnavailable)."""
    pool: AsyncConnectionPool[psycopg.AsyncConnection[dict[str, Any]]] = AsyncConnectionPool(
        target.url,
        min_size=min_size,
        max_size=max_size,
        kwargs={"autocommit": True, "row_factory": dict_row, "connect_timeout": CONNECT_TIMEOUT},
        configure=_configure,
        open=False,
        timeout=CONNECT_TIMEOUT,
        reconnect_timeout=0,
        check=AsyncConnectionPool.check_connection,
    )
    try:
        await pool.open(wait=True, timeout=CONNECT_TIMEOUT)
    except Exception as exc:
        await pool.close()
        raise DatabaseUnavailable(unreachable_message(target.url, exc)) from None
    return pool
