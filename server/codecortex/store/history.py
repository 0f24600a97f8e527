"""Queries for learning from git history (dict-row connections)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import psycopg
from psycopg.types.json import Jsonb


async def set_committed_at(
    conn: psycopg.AsyncConnection[Any], solution_id: Any, committed_at: datetime
) -> None:
    await conn.execute(
        "UPDATE past_solutions SET committed_at = %s WHERE id = %s AND committed_at IS NULL",
        (committed_at, solution_id),
    )


async def release_job(
    conn: psycopg.AsyncConnection[Any],
    job_id: str,
    payload: dict[str, Any] | None = None,
    *,
    interrupted: bool = False,
) -> None:
    """Make an unfinished job runnable now (its worker was interrupted or died), optionally
    with a new payload (the options of the run that takes it over). `interrupted`: its run was
    stopped on purpose (Ctrl-C, SIGTERM), which does not count as one of its attempts (those
    are for workers that die: ten deaths fail the job)."""
    await conn.execute(
        "UPDATE processing_jobs SET status = 'pending', locked_by = NULL,"
        " lease_expires_at = NULL, run_after = NOW(), cancel_requested = FALSE,"
        " payload = COALESCE(%s, payload),"
        " attempts = CASE WHEN %s THEN GREATEST(attempts - 1, 0) ELSE attempts END"
        " WHERE job_id = %s AND status IN ('pending', 'running')",
        (Jsonb(payload) if payload is not None else None, interrupted, job_id),
    )


async def history_summary(conn: psycopg.AsyncConnection[Any]) -> dict[str, Any]:
    """Solutions learned from git history (all users) and the repositories mined so far."""
    cur = await conn.execute(
        "SELECT COUNT(*) AS n, COUNT(DISTINCT commit_sha) AS commits"
        " FROM past_solutions WHERE source = 'git'"
    )
    row = await cur.fetchone()
    cur = await conn.execute(
        "SELECT name, root_path, last_synced_sha FROM github_repos"
        " WHERE last_synced_sha IS NOT NULL ORDER BY last_fetched_at DESC NULLS LAST"
    )
    repos = [dict(r) for r in await cur.fetchall()]
    return {
        "solutions": int(row["n"]) if row else 0,
        "commits": int(row["commits"]) if row else 0,
        "repos": repos,
    }


async def git_solutions(
    conn: psycopg.AsyncConnection[Any], user_id: Any, repo_id: Any
) -> list[dict[str, Any]]:
    """This user's solutions learned from the history of one repository, oldest commit first."""
    cur = await conn.execute(
        "SELECT * FROM past_solutions WHERE source = 'git' AND user_id = %s"
        " AND repo_id IS NOT DISTINCT FROM %s ORDER BY committed_at, file_path, created_at",
        (user_id, repo_id),
    )
    return [dict(r) for r in await cur.fetchall()]


async def solution_exists(
    conn: psycopg.AsyncConnection[Any], user_id: Any, content_hash: str
) -> bool:
    cur = await conn.execute(
        "SELECT 1 FROM past_solutions WHERE user_id IS NOT DISTINCT FROM %s AND content_hash = %s",
        (user_id, content_hash),
    )
    return await cur.fetchone() is not None
