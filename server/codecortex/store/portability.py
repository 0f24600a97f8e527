"""Rows for `codecortex export` / `import` (dict-row connections). Columns are read from the
catalog, so rows keep every column (including ones added by later migrations) and generated
columns are left to the database."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb

TABLES = ("github_repos", "detected_problems", "items", "past_solutions")


async def table_columns(conn: psycopg.AsyncConnection[Any], table: str) -> dict[str, str]:
    """Column name -> SQL type of a table's stored, non-generated columns."""
    cur = await conn.execute(
        "SELECT attname, format_type(atttypid, atttypmod) AS type FROM pg_attribute"
        " WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped"
        " AND attgenerated = '' ORDER BY attnum",
        (table,),
    )
    return {r["attname"]: r["type"] for r in await cur.fetchall()}


async def export_rows(
    conn: psycopg.AsyncConnection[Any], user_id: Any, include_private: bool
) -> dict[str, list[dict[str, Any]]]:
    """The user's problems (private by nature: only with include_private), notes and snippets,
    and solutions (team ones, private ones only when asked), and the repositories they name."""
    private = bool(include_private)
    out: dict[str, list[dict[str, Any]]] = {}
    queries = {
        "detected_problems": "SELECT {cols} FROM detected_problems WHERE user_id = %(u)s"
        " AND %(private)s ORDER BY detected_at, id",
        "items": "SELECT {cols} FROM items WHERE user_id = %(u)s AND kind IN ('note', 'snippet')"
        " AND (visibility = 'team' OR %(private)s) ORDER BY created_at, id",
        "past_solutions": "SELECT {cols} FROM past_solutions WHERE user_id = %(u)s"
        " AND (visibility = 'team' OR %(private)s) ORDER BY created_at, id",
    }
    repo_ids: set[Any] = set()
    for table, query in queries.items():
        cols = await table_columns(conn, table)
        cur = await conn.execute(
            sql.SQL(query).format(cols=sql.SQL(", ").join(map(sql.Identifier, cols))),
            {"u": user_id, "private": private},
        )
        out[table] = [dict(r) for r in await cur.fetchall()]
        repo_ids |= {r["repo_id"] for r in out[table] if r.get("repo_id") is not None}
    cols = await table_columns(conn, "github_repos")
    cur = await conn.execute(
        sql.SQL("SELECT {} FROM github_repos WHERE id = ANY(%s) ORDER BY created_at").format(
            sql.SQL(", ").join(map(sql.Identifier, cols))
        ),
        (list(repo_ids),),
    )
    out["github_repos"] = [dict(r) for r in await cur.fetchall()]
    return out


async def insert_row(
    conn: psycopg.AsyncConnection[Any], table: str, columns: dict[str, str], row: dict[str, Any]
) -> bool:
    """Insert one exported row as is (same id); False when it (or its duplicate) is there."""
    names = [c for c in row if c in columns]
    values = [
        Jsonb(row[c]) if columns[c] in ("jsonb", "json") and row[c] is not None else row[c]
        for c in names
    ]
    query = sql.SQL("INSERT INTO {} ({}) VALUES ({}) ON CONFLICT DO NOTHING RETURNING id").format(
        sql.Identifier(table),
        sql.SQL(", ").join(map(sql.Identifier, names)),
        sql.SQL(", ").join(sql.SQL("CAST(%s AS {})").format(sql.SQL(columns[c])) for c in names),
    )
    cur = await conn.execute(query, values)
    return await cur.fetchone() is not None


async def existing_ids(conn: psycopg.AsyncConnection[Any], table: str, ids: list[Any]) -> set[str]:
    if not ids:
        return set()
    cur = await conn.execute(
        sql.SQL("SELECT id::text AS id FROM {} WHERE id::text = ANY(%s)").format(
            sql.Identifier(table)
        ),
        ([str(i) for i in ids],),
    )
    return {r["id"] for r in await cur.fetchall()}
