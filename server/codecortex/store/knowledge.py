"""Knowledge items: doc chunks, notes and snippets (dict-row connections)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import psycopg

from codecortex.llm.redaction import scrub, scrub_async


@dataclass
class NewItem:
    kind: str  # doc | note | snippet
    title: str
    content: str
    content_hash: str
    user_id: Any = None
    repo_id: Any = None
    source_path: str | None = None
    line_start: int | None = None
    line_end: int | None = None
    tags: list[str] = field(default_factory=list)
    visibility: str = "private"


async def add_item(conn: psycopg.AsyncConnection[Any], item: NewItem) -> Any:
    cur = await conn.execute(
        "INSERT INTO items (kind, title, content, content_hash, user_id, repo_id, source_path,"
        " line_start, line_end, tags, visibility) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s,"
        " %s, %s) RETURNING id",
        (
            item.kind,
            scrub(item.title),
            await scrub_async(item.content),
            item.content_hash,
            item.user_id,
            item.repo_id,
            item.source_path,
            item.line_start,
            item.line_end,
            item.tags,
            item.visibility,
        ),
    )
    row = await cur.fetchone()
    assert row is not None
    return row["id"]


async def doc_hashes(
    conn: psycopg.AsyncConnection[Any], repo_id: Any, source_path: str, user_id: Any = None
) -> dict[str, Any]:
    """content_hash -> id of the doc chunks `user_id` stored for one file."""
    cur = await conn.execute(
        "SELECT id, content_hash FROM items WHERE kind = 'doc' AND repo_id IS NOT DISTINCT FROM %s"
        " AND source_path = %s AND user_id IS NOT DISTINCT FROM %s",
        (repo_id, source_path, user_id),
    )
    return {r["content_hash"]: r["id"] for r in await cur.fetchall()}


async def set_doc_visibility(
    conn: psycopg.AsyncConnection[Any],
    repo_id: Any,
    source_path: str,
    user_id: Any,
    visibility: str,
) -> None:
    await conn.execute(
        "UPDATE items SET visibility = %s WHERE kind = 'doc' AND repo_id IS NOT DISTINCT FROM %s"
        " AND source_path = %s AND user_id IS NOT DISTINCT FROM %s AND visibility <> %s",
        (visibility, repo_id, source_path, user_id, visibility),
    )


async def delete_items(conn: psycopg.AsyncConnection[Any], ids: list[Any]) -> None:
    if ids:
        await conn.execute(
            "DELETE FROM embeddings WHERE owner_kind = 'item' AND owner_id = ANY(%s)", (ids,)
        )
        await conn.execute("DELETE FROM items WHERE id = ANY(%s)", (ids,))


async def doc_paths(
    conn: psycopg.AsyncConnection[Any], repo_id: Any, user_id: Any = None
) -> set[str]:
    cur = await conn.execute(
        "SELECT DISTINCT source_path FROM items WHERE kind = 'doc' AND repo_id = %s"
        " AND user_id IS NOT DISTINCT FROM %s",
        (repo_id, user_id),
    )
    return {r["source_path"] for r in await cur.fetchall()}
