"""Aggregates for stats and reports (dict-row connections)."""

from __future__ import annotations

from typing import Any

import psycopg


async def totals(conn: psycopg.AsyncConnection[Any], user_id: Any) -> dict[str, Any]:
    cur = await conn.execute(
        """
        SELECT
            (SELECT COUNT(*) FROM detected_problems WHERE user_id = %(u)s) AS problems,
            (SELECT COUNT(*) FROM detected_problems WHERE user_id = %(u)s
                AND status = 'open') AS open,
            (SELECT COUNT(*) FROM detected_problems WHERE user_id = %(u)s
                AND status = 'resolved') AS solved,
            (SELECT AVG(resolution_time_seconds) FROM detected_problems WHERE user_id = %(u)s
                AND status = 'resolved') AS avg_solve_seconds,
            (SELECT COUNT(*) FROM past_solutions WHERE user_id = %(u)s) AS solutions,
            (SELECT COALESCE(SUM(reuse_count), 0) FROM past_solutions
                WHERE user_id = %(u)s OR visibility = 'team') AS reused,
            (SELECT COALESCE(SUM(time_saved_seconds), 0) FROM past_solutions
                WHERE user_id = %(u)s OR visibility = 'team') AS time_saved_seconds,
            (SELECT COUNT(*) FROM past_solutions WHERE user_id = %(u)s
                AND source IN ('git', 'github')) AS from_history,
            (SELECT COUNT(*) FROM items WHERE user_id = %(u)s OR visibility = 'team') AS knowledge_items
        """,
        {"u": user_id},
    )
    row = await cur.fetchone()
    assert row is not None
    return {
        "problems": int(row["problems"]),
        "open": int(row["open"]),
        "solved": int(row["solved"]),
        "avgSolveSeconds": float(row["avg_solve_seconds"]) if row["avg_solve_seconds"] else None,
        "solutions": int(row["solutions"]),
        "reused": int(row["reused"]),
        "timeSavedSeconds": int(row["time_saved_seconds"]),
        "solutionsFromHistory": int(row["from_history"]),
        "knowledgeItems": int(row["knowledge_items"]),
    }


async def top_signatures(
    conn: psycopg.AsyncConnection[Any], user_id: Any, limit: int = 10
) -> list[dict[str, Any]]:
    cur = await conn.execute(
        "SELECT problem_signature AS signature, COUNT(*) AS seen,"
        " COUNT(*) FILTER (WHERE status = 'resolved') AS fixed"
        " FROM detected_problems WHERE user_id = %s GROUP BY problem_signature"
        " ORDER BY seen DESC, signature LIMIT %s",
        (user_id, limit),
    )
    return [
        {"signature": r["signature"], "seen": int(r["seen"]), "fixed": int(r["fixed"])}
        for r in await cur.fetchall()
    ]


async def solutions_by_source(conn: psycopg.AsyncConnection[Any], user_id: Any) -> dict[str, int]:
    cur = await conn.execute(
        "SELECT source, COUNT(*) AS n FROM past_solutions WHERE user_id = %s OR visibility = 'team'"
        " GROUP BY source",
        (user_id,),
    )
    return {r["source"]: int(r["n"]) for r in await cur.fetchall()}
