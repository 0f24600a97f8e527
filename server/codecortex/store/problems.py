"""Detected problems, file snapshots and ignored signatures (dict-row connections).

Secrets are redacted here, before anything is written (`codecortex.llm.redaction.scrub`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from codecortex.llm.redaction import scrub, scrub_async, scrub_value


@dataclass
class NewProblem:
    user_id: Any
    repo_id: Any
    problem_type: str
    signature: str
    values: list[str]
    tool: str
    code: str
    language: str | None
    severity: int
    file_path: str
    line: int
    column: int
    end_line: int
    end_column: int
    message: str
    code_context: str
    context: dict[str, Any]
    detection_method: str
    confidence: float = 1.0


_INSERT_PROBLEM = """
    INSERT INTO detected_problems (user_id, repo_id, problem_type, problem_signature,
        signature_values, confidence_score, tool, code, language, severity, file_path,
        line_number, column_number, end_line, end_column, error_message, code_context,
        context, detection_method, detected_by_agent)
    VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s,
        'codecortex')
    RETURNING id
"""


async def insert_problem(conn: psycopg.AsyncConnection[Any], p: NewProblem) -> Any:
    cur = await conn.execute(_INSERT_PROBLEM, _problem_params(p))
    row = await cur.fetchone()
    assert row is not None
    return row["id"]


async def insert_problems(
    conn: psycopg.AsyncConnection[Any], problems: list[NewProblem]
) -> list[Any]:
    """`insert_problem` for many, in one pipelined round trip; their ids in order."""
    if not problems:
        return []
    ids = []
    async with conn.cursor() as cur:
        await cur.executemany(
            _INSERT_PROBLEM, [_problem_params(p) for p in problems], returning=True
        )
        while True:
            row = await cur.fetchone()
            assert row is not None
            ids.append(row["id"])
            if not cur.nextset():
                break
    return ids


def _problem_params(p: NewProblem) -> tuple[Any, ...]:
    return (
        p.user_id,
        p.repo_id,
        p.problem_type,
        p.signature,
        Jsonb(p.values),
        p.confidence,
        p.tool,
        p.code,
        p.language,
        p.severity,
        p.file_path,
        p.line,
        p.column,
        p.end_line,
        p.end_column,
        scrub(p.message),
        scrub(p.code_context),
        Jsonb(scrub_value(p.context)),
        p.detection_method,
    )


async def open_problems(
    conn: psycopg.AsyncConnection[Any], user_id: Any, file_path: str
) -> list[dict[str, Any]]:
    cur = await conn.execute(
        "SELECT * FROM detected_problems WHERE user_id = %s AND file_path = %s AND status = 'open'"
        " ORDER BY line_number",
        (user_id, file_path),
    )
    return [dict(r) for r in await cur.fetchall()]


async def touch_problems(
    conn: psycopg.AsyncConnection[Any], updates: list[tuple[Any, int, int, int, int, str]]
) -> None:
    """Seen again: new position and message, seen_count + 1 (one statement for all)."""
    if not updates:
        return
    ids, sls, scs, els, ecs, msgs = zip(*updates, strict=True)
    await conn.execute(
        "UPDATE detected_problems d SET line_number = u.sl, column_number = u.sc,"
        " end_line = u.el, end_column = u.ec, error_message = u.msg,"
        " seen_count = d.seen_count + 1, last_seen_at = NOW()"
        " FROM unnest(%s::uuid[], %s::int[], %s::int[], %s::int[], %s::int[], %s::text[])"
        " AS u(id, sl, sc, el, ec, msg) WHERE d.id = u.id",
        (list(ids), list(sls), list(scs), list(els), list(ecs), [scrub(m) for m in msgs]),
    )


async def resolve_problem(
    conn: psycopg.AsyncConnection[Any], problem_id: Any, note: str | None = None
) -> int:
    """Mark resolved now; returns resolution_time_seconds."""
    cur = await conn.execute(
        "UPDATE detected_problems SET status = 'resolved', resolved_at = NOW(),"
        " resolution_time_seconds = GREATEST(0, EXTRACT(EPOCH FROM NOW() - detected_at))::int,"
        " resolution_note = %s WHERE id = %s RETURNING resolution_time_seconds",
        (note, problem_id),
    )
    row = await cur.fetchone()
    return int(row["resolution_time_seconds"]) if row else 0


# History counts at most this many recent occurrences per signature ("seen 200+×"): the read
# is the same at a hundred problems and at a million.
HISTORY_WINDOW = 200


async def signature_history(
    conn: psycopg.AsyncConnection[Any], user_id: Any, signatures: list[str]
) -> dict[str, dict[str, Any]]:
    """Per signature, over its last HISTORY_WINDOW occurrences: times seen, times fixed,
    median/last time to fix (seconds); `more` when there were older ones."""
    if not signatures:
        return {}
    cur = await conn.execute(
        """
        SELECT sig.signature, COUNT(*) AS seen,
            COUNT(*) FILTER (WHERE p.status = 'resolved') AS fixed,
            percentile_cont(0.5) WITHIN GROUP (ORDER BY p.resolution_time_seconds)
                FILTER (WHERE p.status = 'resolved') AS median_fix_seconds,
            (ARRAY_AGG(p.resolution_time_seconds ORDER BY p.resolved_at DESC)
                FILTER (WHERE p.status = 'resolved'))[1] AS last_fix_seconds,
            MAX(p.detected_at) AS last_seen,
            COUNT(*) >= %(n)s AS more
        FROM unnest(%(sigs)s::text[]) AS sig(signature)
        CROSS JOIN LATERAL (
            SELECT u.* FROM (
                (SELECT status, resolution_time_seconds, resolved_at, detected_at
                 FROM detected_problems
                 WHERE problem_signature = sig.signature AND user_id = %(user)s
                 ORDER BY detected_at DESC LIMIT %(n)s)
                UNION ALL
                (SELECT status, resolution_time_seconds, resolved_at, detected_at
                 FROM detected_problems
                 WHERE problem_signature = sig.signature AND user_id IS NULL
                 ORDER BY detected_at DESC LIMIT %(n)s)
            ) u
            ORDER BY u.detected_at DESC LIMIT %(n)s
        ) p
        GROUP BY sig.signature
        """,
        {"sigs": signatures, "user": user_id, "n": HISTORY_WINDOW},
    )
    return {r["signature"]: dict(r) for r in await cur.fetchall()}


async def get_snapshot(
    conn: psycopg.AsyncConnection[Any], user_id: Any, file_path: str, tool: str
) -> tuple[str, datetime] | None:
    cur = await conn.execute(
        "SELECT content, updated_at FROM file_snapshots"
        " WHERE user_id = %s AND file_path = %s AND tool = %s",
        (user_id, file_path, tool),
    )
    row = await cur.fetchone()
    return (row["content"], row["updated_at"]) if row else None


async def put_snapshot(
    conn: psycopg.AsyncConnection[Any],
    user_id: Any,
    file_path: str,
    tool: str,
    content: str,
    sha: str,
    version: int | None = None,
) -> None:
    await conn.execute(
        "INSERT INTO file_snapshots (user_id, file_path, tool, content, content_sha, version)"
        " VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (user_id, file_path, tool) DO UPDATE SET"
        " content = EXCLUDED.content, content_sha = EXCLUDED.content_sha,"
        " version = EXCLUDED.version, updated_at = NOW()",
        (user_id, file_path, tool, await scrub_async(content), sha, version),
    )


async def ignore_signature(
    conn: psycopg.AsyncConnection[Any], user_id: Any, signature: str
) -> None:
    await conn.execute(
        "INSERT INTO ignored_signatures (user_id, problem_signature) VALUES (%s, %s)"
        " ON CONFLICT DO NOTHING",
        (user_id, signature),
    )
    await conn.execute(
        "UPDATE detected_problems SET status = 'ignored'"
        " WHERE user_id = %s AND problem_signature = %s AND status = 'open'",
        (user_id, signature),
    )


async def ignored_signatures(conn: psycopg.AsyncConnection[Any], user_id: Any) -> set[str]:
    cur = await conn.execute(
        "SELECT problem_signature FROM ignored_signatures WHERE user_id = %s", (user_id,)
    )
    return {r["problem_signature"] for r in await cur.fetchall()}


async def counts(conn: psycopg.AsyncConnection[Any], user_id: Any) -> dict[str, int]:
    """The status bar's figures: the developer's problems, and the solutions they can use
    (their own and the team's)."""
    cur = await conn.execute(
        "SELECT (SELECT COUNT(*) FROM detected_problems WHERE user_id = %(u)s) AS problems,"
        " (SELECT COUNT(*) FROM past_solutions WHERE user_id = %(u)s"
        "  OR visibility = 'team') AS solutions",
        {"u": user_id},
    )
    row = await cur.fetchone()
    if not row:
        return {}
    values = (
        row if isinstance(row, dict) else dict(zip(("problems", "solutions"), row, strict=True))
    )
    return {"problems": int(values["problems"]), "solutions": int(values["solutions"])}
