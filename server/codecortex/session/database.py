"""The server's connection to its database, kept alive across outages.

States: starting -> migrating -> connected; `down` after a failure, with a reconnect loop
(exponential backoff) that restarts the embedded PostgreSQL if it is the one that went away.
Callers use `async with db.connection() as conn` and get `DatabaseDown` at once when there is no
database, so nothing on the request path ever waits for one. A pool whose connections are all
in use is busy, not down: a caller waits for one to come back (up to BUSY_WAIT_SECONDS) instead
of the server declaring the database unavailable.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import psycopg
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from codecortex.config import Settings
from codecortex.store.embedded import DatabaseTarget, StoreError
from codecortex.store.pool import open_pool, prepare

log = logging.getLogger(__name__)

ACQUIRE_TIMEOUT = 5.0
BUSY_WAIT_SECONDS = 120.0


class DatabaseDown(Exception):
    pass


StateListener = Callable[[str, str | None], Awaitable[None] | None]


class Database:
    def __init__(self, settings: Settings, on_state: StateListener | None = None) -> None:
        self.settings = settings
        self.state = "starting"
        self.error: str | None = None
        self.target: DatabaseTarget | None = None
        self._pool: AsyncConnectionPool[Any] | None = None
        self._on_state = on_state
        self._reconnect_task: asyncio.Task[None] | None = None
        self._closed = False
        self._notify_task: asyncio.Future[None] | None = None
        self.ready = asyncio.Event()
        self.on_connected: list[Callable[[], Awaitable[None]]] = []

    async def _set_state(self, state: str, error: str | None = None) -> None:
        changed = state != self.state or error != self.error
        self.state, self.error = state, error
        if state == "connected":
            self.ready.set()
        else:
            self.ready.clear()
        if changed and self._on_state is not None:
            result = self._on_state(state, error)
            if result is not None:
                await result

    async def start(self) -> bool:
        """Connect (starting the embedded server and migrating). False, with a reconnect loop
        running, when the database is not there."""
        try:
            await self._set_state("migrating")
            self.target = await prepare(self.settings)
            self._pool = await open_pool(self.target)
        except (StoreError, psycopg.Error, OSError) as exc:
            await self._set_state("down", str(exc))
            self._schedule_reconnect()
            return False
        await self._set_state("connected")
        for callback in list(self.on_connected):
            try:
                await callback()
            except Exception:
                log.exception("on-connected callback failed")
        return True

    def _schedule_reconnect(self) -> None:
        if self._closed or (self._reconnect_task and not self._reconnect_task.done()):
            return
        self._reconnect_task = asyncio.get_running_loop().create_task(self._reconnect())

    async def _reconnect(self) -> None:
        delay = 0.5
        while not self._closed:
            await asyncio.sleep(delay)
            if self._pool is not None:
                pool, self._pool = self._pool, None
                await pool.close()
            if await self.start():
                log.info("database is back")
                return
            delay = min(delay * 2, 15.0)

    def mark_down(self, exc: BaseException) -> None:
        """A query failed with a connection error: go down and start reconnecting."""
        if self.state != "connected":
            return
        self.state = "down"
        self.error = str(exc)
        self.ready.clear()
        if self._on_state is not None:
            result = self._on_state("down", self.error)
            if result is not None:
                self._notify_task = asyncio.ensure_future(result)
        self._schedule_reconnect()

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[psycopg.AsyncConnection[dict[str, Any]]]:
        if self.state != "connected" or self._pool is None:
            raise DatabaseDown(self.error or f"database {self.state}")
        pool = self._pool
        try:
            conn = await _acquire(pool)
            try:
                async with conn:  # a pooled connection: commit/rollback, not closed
                    yield conn
            finally:
                await pool.putconn(conn)
        except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
            self.mark_down(exc)
            raise DatabaseDown(str(exc)) from None
        except PoolTimeout as exc:
            self.mark_down(exc)
            raise DatabaseDown(str(exc)) from None

    async def close(self) -> None:
        self._closed = True
        self.state = "closed"  # work still running at shutdown is told "database closed"
        self.ready.clear()
        if self._reconnect_task is not None:
            self._reconnect_task.cancel()
        if self._pool is not None:
            await self._pool.close()
            self._pool = None


async def _acquire(pool: AsyncConnectionPool[Any]) -> Any:
    """A connection from `pool` within ACQUIRE_TIMEOUT; while every connection the pool may
    open is open and in use (busy, not down), wait on for one to be returned, up to
    BUSY_WAIT_SECONDS in all."""
    waited = 0.0
    while True:
        try:
            return await pool.getconn(timeout=ACQUIRE_TIMEOUT)
        except PoolTimeout:
            stats = pool.get_stats()
            busy = stats.get("pool_size", 0) >= pool.max_size and not stats.get("pool_available")
            waited += ACQUIRE_TIMEOUT
            if not busy or waited >= BUSY_WAIT_SECONDS:
                raise
            log.debug("all %d database connections in use; waiting for one", pool.max_size)
