"""The job queue on `processing_jobs`: enqueue, claim with FOR UPDATE SKIP LOCKED, leases,
progress, retries with exponential backoff, final failure with the error kept.

A job whose worker died stays `running` until its lease expires; then any worker claims it again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

BACKOFF_BASE_SECONDS = 5.0
BACKOFF_MAX_SECONDS = 600.0


@dataclass
class Job:
    job_id: str
    job_type: str
    status: str
    payload: dict[str, Any]
    attempts: int
    max_attempts: int
    progress: float
    progress_message: str | None
    last_error: str | None
    result: dict[str, Any] | None
    locked_by: str | None
    lease_expires_at: datetime | None
    cancel_requested: bool
    user_id: Any = None
    repo_id: Any = None

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Job:
        return cls(**{k: row[k] for k in cls.__dataclass_fields__})


_COLUMNS = ", ".join(Job.__dataclass_fields__)


async def enqueue(
    conn: psycopg.AsyncConnection[Any],
    job_type: str,
    payload: dict[str, Any] | None = None,
    *,
    priority: int = 0,
    max_attempts: int = 3,
    dedupe_key: str | None = None,
    user_id: Any = None,
    repo_id: Any = None,
    delay_seconds: float = 0,
) -> str:
    """Add a job; with `dedupe_key`, an equal pending/running job is reused instead."""
    cur = await conn.execute(
        "INSERT INTO processing_jobs (job_type, payload, priority, max_attempts, dedupe_key,"
        " user_id, repo_id, run_after)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s, NOW() + make_interval(secs => %s))"
        " ON CONFLICT (dedupe_key) WHERE dedupe_key IS NOT NULL"
        "   AND status IN ('pending', 'running') DO NOTHING"
        " RETURNING job_id",
        (
            job_type,
            Jsonb(payload or {}),
            priority,
            max_attempts,
            dedupe_key,
            user_id,
            repo_id,
            delay_seconds,
        ),
    )
    row = await cur.fetchone()
    if row is not None:
        return str(_first(row))
    cur = await conn.execute(
        "SELECT job_id FROM processing_jobs WHERE dedupe_key = %s"
        " AND status IN ('pending', 'running')",
        (dedupe_key,),
    )
    row = await cur.fetchone()
    if row is None:  # finished between the two statements: enqueue again
        return await enqueue(
            conn,
            job_type,
            payload,
            priority=priority,
            max_attempts=max_attempts,
            dedupe_key=dedupe_key,
            user_id=user_id,
            repo_id=repo_id,
        )
    return str(_first(row))


def _first(row: Any) -> Any:
    return next(iter(row.values())) if isinstance(row, dict) else row[0]


def _as_dict(cur: psycopg.AsyncCursor[Any], row: Any) -> dict[str, Any]:
    if isinstance(row, dict):
        return row
    names = [d.name for d in cur.description or []]
    return dict(zip(names, row, strict=True))


async def claim(
    conn: psycopg.AsyncConnection[Any],
    worker_id: str,
    job_types: list[str] | None = None,
    *,
    lease_seconds: float = 60,
) -> Job | None:
    """Take the next runnable job (pending and due, or running with an expired lease)."""
    while True:
        cur = await conn.execute(
            f"""
            UPDATE processing_jobs SET
                status = 'running', locked_by = %(worker)s,
                lease_expires_at = NOW() + make_interval(secs => %(lease)s),
                attempts = attempts + 1, started_at = COALESCE(started_at, NOW())
            WHERE job_id = (
                SELECT job_id FROM processing_jobs
                WHERE ((status = 'pending' AND run_after <= NOW())
                       OR (status = 'running' AND lease_expires_at < NOW()))
                  AND (%(types)s::text[] IS NULL OR job_type = ANY(%(types)s::text[]))
                ORDER BY priority DESC, run_after, created_at
                LIMIT 1
                FOR UPDATE SKIP LOCKED
            )
            RETURNING {_COLUMNS}
            """,
            {"worker": worker_id, "lease": lease_seconds, "types": job_types},
        )
        row = await cur.fetchone()
        if row is None:
            return None
        job = Job.from_row(_as_dict(cur, row))
        if job.attempts > job.max_attempts:
            # Its workers kept dying: give up with the reason kept.
            await conn.execute(
                "UPDATE processing_jobs SET status = 'failed', finished_at = NOW(),"
                " locked_by = NULL, lease_expires_at = NULL,"
                " last_error = COALESCE(last_error || '; ', '') || %s WHERE job_id = %s",
                (f"lease expired {job.attempts - 1} times (worker died)", job.job_id),
            )
            continue
        return job


async def claim_job(
    conn: psycopg.AsyncConnection[Any], job_id: str, worker_id: str, *, lease_seconds: float
) -> bool:
    """Claim one given job (pending, or running with an expired lease). True when claimed."""
    cur = await conn.execute(
        "UPDATE processing_jobs SET status = 'running', locked_by = %s,"
        " lease_expires_at = NOW() + make_interval(secs => %s), attempts = attempts + 1,"
        " started_at = COALESCE(started_at, NOW())"
        " WHERE job_id = %s AND ((status = 'pending' AND run_after <= NOW())"
        "   OR (status = 'running' AND lease_expires_at < NOW()))"
        " RETURNING job_id",
        (worker_id, lease_seconds, job_id),
    )
    return await cur.fetchone() is not None


async def report_progress(
    conn: psycopg.AsyncConnection[Any],
    job_id: str,
    worker_id: str,
    fraction: float,
    message: str | None = None,
    *,
    lease_seconds: float = 60,
) -> bool:
    """Record progress and extend the lease. Returns True when cancellation was requested."""
    cur = await conn.execute(
        "UPDATE processing_jobs SET progress = %s, progress_message = COALESCE(%s, progress_message),"
        " lease_expires_at = NOW() + make_interval(secs => %s)"
        " WHERE job_id = %s AND locked_by = %s RETURNING cancel_requested",
        (min(max(fraction, 0.0), 1.0), message, lease_seconds, job_id, worker_id),
    )
    row = await cur.fetchone()
    return bool(_first(row)) if row is not None else True  # lost the lease: stop


async def complete(
    conn: psycopg.AsyncConnection[Any],
    job_id: str,
    worker_id: str,
    result: dict[str, Any] | None = None,
) -> None:
    await conn.execute(
        "UPDATE processing_jobs SET status = 'completed', progress = 1, result = %s,"
        " finished_at = NOW(), locked_by = NULL, lease_expires_at = NULL"
        " WHERE job_id = %s AND locked_by = %s",
        (Jsonb(result or {}), job_id, worker_id),
    )


async def fail(
    conn: psycopg.AsyncConnection[Any],
    job_id: str,
    worker_id: str,
    error: str,
    *,
    retry: bool = True,
) -> str:
    """Record a failure: retry later with exponential backoff, or fail for good. Returns status."""
    cur = await conn.execute(
        """
        UPDATE processing_jobs SET
            last_error = %(error)s, locked_by = NULL, lease_expires_at = NULL,
            status = CASE WHEN %(retry)s AND attempts < max_attempts THEN 'pending' ELSE 'failed' END,
            run_after = NOW() + make_interval(secs => LEAST(%(base)s * power(2, attempts - 1), %(max)s)),
            finished_at = CASE WHEN %(retry)s AND attempts < max_attempts THEN NULL ELSE NOW() END
        WHERE job_id = %(job)s AND locked_by = %(worker)s
        RETURNING status
        """,
        {
            "error": error[:4000],
            "retry": retry,
            "base": BACKOFF_BASE_SECONDS,
            "max": BACKOFF_MAX_SECONDS,
            "job": job_id,
            "worker": worker_id,
        },
    )
    row = await cur.fetchone()
    return str(_first(row)) if row is not None else "lost"


async def mark_cancelled(conn: psycopg.AsyncConnection[Any], job_id: str, worker_id: str) -> None:
    await conn.execute(
        "UPDATE processing_jobs SET status = 'cancelled', finished_at = NOW(), locked_by = NULL,"
        " lease_expires_at = NULL WHERE job_id = %s AND locked_by = %s",
        (job_id, worker_id),
    )


async def request_cancel(conn: psycopg.AsyncConnection[Any], job_id: str) -> None:
    """Cancel a pending job now; ask a running one to stop at its next progress report."""
    await conn.execute(
        "UPDATE processing_jobs SET"
        " status = CASE WHEN status = 'pending' THEN 'cancelled' ELSE status END,"
        " finished_at = CASE WHEN status = 'pending' THEN NOW() ELSE finished_at END,"
        " cancel_requested = TRUE"
        " WHERE job_id = %s AND status IN ('pending', 'running')",
        (job_id,),
    )


async def get_job(conn: psycopg.AsyncConnection[Any], job_id: str) -> Job | None:
    cur = await conn.execute(f"SELECT {_COLUMNS} FROM processing_jobs WHERE job_id = %s", (job_id,))
    row = await cur.fetchone()
    return Job.from_row(_as_dict(cur, row)) if row is not None else None
