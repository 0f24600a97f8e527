"""What the database server is: its PostgreSQL version and the pgvector extension (for `doctor`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import psycopg


@dataclass(frozen=True)
class ServerInfo:
    version: str  # as the server reports it, e.g. "16.4 (Debian 16.4-1)"
    vector_installed: str | None  # pgvector's version in this database, if created
    vector_available: str | None  # the version the server could install

    @property
    def major(self) -> int:
        head = self.version.split(".")[0]
        return int(head) if head.isdigit() else 0


async def server_info(conn: psycopg.AsyncConnection[Any]) -> ServerInfo:
    cur = await conn.execute(
        "SELECT current_setting('server_version') AS version,"
        " (SELECT extversion FROM pg_extension WHERE extname = 'vector') AS installed,"
        " (SELECT default_version FROM pg_available_extensions WHERE name = 'vector')"
        " AS available"
    )
    row = await cur.fetchone()
    if row is None:
        return ServerInfo("?", None, None)
    version, installed, available = (
        (row["version"], row["installed"], row["available"])
        if isinstance(row, dict)
        else (row[0], row[1], row[2])
    )
    return ServerInfo(str(version), installed, available)
