"""Numbered plain-SQL migrations from `sql/`, applied in order, recorded with a checksum.

Two processes starting at once are serialised by a PostgreSQL advisory lock: the second waits,
then finds nothing pending. A file changed after it was applied is refused.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime
from importlib import resources
from pathlib import Path
from typing import Any

import psycopg
from psycopg.rows import tuple_row

from codecortex.store.embedded import VECTOR_HELP, MigrationError, VectorExtensionMissing

ADVISORY_LOCK_KEY = 0x434F4445_43545258 & 0x7FFFFFFFFFFFFFFF  # "CODECTRX"
_NAME = re.compile(r"^(\d{3,})_[\w-]+\.sql$")


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class MigrationState:
    migration: Migration
    applied_at: datetime | None
    applied_checksum: str | None

    @property
    def status(self) -> str:
        if self.applied_at is None:
            return "pending"
        if self.applied_checksum != self.migration.checksum:
            return "modified"
        return "applied"


def sql_dir() -> Path:
    return Path(str(resources.files("codecortex") / "sql"))


def load_migrations(directory: Path | None = None) -> list[Migration]:
    directory = directory or sql_dir()
    found: list[Migration] = []
    for path in sorted(directory.glob("*.sql")):
        match = _NAME.match(path.name)
        if not match:
            continue
        found.append(Migration(int(match.group(1)), path.name, path.read_text(encoding="utf-8")))
    versions = [m.version for m in found]
    if len(versions) != len(set(versions)):
        raise MigrationError(f"two migration files share a number in {directory}")
    return found


_CREATE_TABLE = """
CREATE TABLE IF NOT EXISTS codecortex_migrations (
    version INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    checksum TEXT NOT NULL,
    applied_at TIMESTAMPTZ NOT NULL DEFAULT NOW()
)
"""


async def _applied(conn: psycopg.AsyncConnection[Any]) -> dict[int, tuple[str, str, datetime]]:
    cur = conn.cursor(row_factory=tuple_row)
    await cur.execute("SELECT to_regclass('codecortex_migrations') IS NOT NULL")
    row = await cur.fetchone()
    if not row or not row[0]:
        return {}
    await cur.execute("SELECT version, name, checksum, applied_at FROM codecortex_migrations")
    return {v: (n, c, a) for v, n, c, a in await cur.fetchall()}


async def migration_status(
    conn: psycopg.AsyncConnection[Any], migrations: list[Migration] | None = None
) -> list[MigrationState]:
    migrations = load_migrations() if migrations is None else migrations
    applied = await _applied(conn)
    return [
        MigrationState(
            m,
            applied[m.version][2] if m.version in applied else None,
            applied[m.version][1] if m.version in applied else None,
        )
        for m in migrations
    ]


async def check_vector_available(conn: psycopg.AsyncConnection[Any], where: str) -> None:
    cur = conn.cursor(row_factory=tuple_row)
    await cur.execute(
        "SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'vector') "
        "OR EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'vector')"
    )
    row = await cur.fetchone()
    if not row or not row[0]:
        raise VectorExtensionMissing(VECTOR_HELP.format(where=where))


async def migrate(
    conn: psycopg.AsyncConnection[Any],
    migrations: list[Migration] | None = None,
    *,
    where: str = "the server",
) -> list[Migration]:
    """Apply pending migrations under the advisory lock; return the ones applied now.

    `conn` must be in autocommit mode; each migration runs in its own transaction.
    """
    migrations = load_migrations() if migrations is None else migrations
    await conn.execute("SELECT pg_advisory_lock(%s)", (ADVISORY_LOCK_KEY,))
    try:
        await check_vector_available(conn, where)
        applied = await _applied(conn)
        if not applied:  # a developer role on a team server may not create tables
            await conn.execute(_CREATE_TABLE)
        for m in migrations:
            if m.version in applied and applied[m.version][1] != m.checksum:
                raise MigrationError(
                    f"migration {m.name} was changed after it was applied "
                    f"(recorded checksum {applied[m.version][1][:12]}, file {m.checksum[:12]}); "
                    "restore the file and put the change in a new numbered migration"
                )
        done: list[Migration] = []
        for m in migrations:
            if m.version in applied:
                continue
            try:
                async with conn.transaction():
                    await conn.execute(m.sql.encode("utf-8"))
                    await conn.execute(
                        "INSERT INTO codecortex_migrations (version, name, checksum) "
                        "VALUES (%s, %s, %s)",
                        (m.version, m.name, m.checksum),
                    )
            except psycopg.Error as exc:
                raise MigrationError(f"migration {m.name} failed: {exc}".strip()) from None
            done.append(m)
        return done
    finally:
        await conn.execute("SELECT pg_advisory_unlock(%s)", (ADVISORY_LOCK_KEY,))
