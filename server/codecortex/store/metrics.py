"""Success metrics, weekly trends and achievements (dict-row connections)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

# Repositories a developer worked in: where they have problems, solutions or analysis sessions.
_MY_REPOS = """
    my_repos AS (
        SELECT repo_id FROM detected_problems WHERE user_id = %(u)s AND repo_id IS NOT NULL
        UNION SELECT repo_id FROM past_solutions WHERE user_id = %(u)s AND repo_id IS NOT NULL
        UNION SELECT repo_id FROM codecortex_analysis_sessions
            WHERE user_id = %(u)s AND repo_id IS NOT NULL
    )
"""


async def figures(
    conn: psycopg.AsyncConnection[Any],
    user_id: Any,
    *,
    fast_fix_seconds: int,
    pattern_min_seen: int,
) -> dict[str, Any]:
    """Raw per-developer figures the metrics and achievements are computed from."""
    cur = await conn.execute(
        f"""
        WITH {_MY_REPOS},
        mine AS (SELECT * FROM detected_problems WHERE user_id = %(u)s),
        sigs AS (
            SELECT problem_signature, COUNT(*) AS seen,
                COUNT(*) FILTER (WHERE status = 'resolved') AS fixed
            FROM mine GROUP BY problem_signature
        ),
        replays AS (SELECT * FROM codecortex_replays WHERE user_id = %(u)s),
        applied AS (
            SELECT type FROM code_insights
            WHERE status = 'applied' AND repo_id IN (SELECT repo_id FROM my_repos)
        )
        SELECT
            (SELECT COUNT(*) FROM mine) AS problems_detected,
            (SELECT COUNT(*) FROM mine WHERE status = 'open') AS problems_open,
            (SELECT COUNT(*) FROM mine WHERE status = 'resolved') AS problems_solved,
            (SELECT AVG(resolution_time_seconds) FROM mine
                WHERE status = 'resolved' AND resolution_time_seconds IS NOT NULL)
                AS avg_resolution_seconds,
            (SELECT COALESCE(SUM(resolution_time_seconds), 0) FROM mine
                WHERE status = 'resolved') AS total_resolution_seconds,
            (SELECT COUNT(*) FROM mine WHERE status = 'resolved'
                AND resolution_time_seconds <= %(fast)s) AS fast_fixes,
            (SELECT COUNT(*) FROM sigs WHERE seen >= %(pattern)s AND fixed >= 1)
                AS patterns_discovered,
            (SELECT COUNT(*) FROM past_solutions WHERE user_id = %(u)s) AS solutions_captured,
            (SELECT COALESCE(SUM(reuse_count), 0) FROM past_solutions WHERE user_id = %(u)s)
                AS solutions_reused,
            (SELECT COUNT(*) FROM replays) AS replays_applied,
            (SELECT COALESCE(SUM(time_saved_seconds), 0) FROM replays) AS time_saved_seconds,
            (SELECT COUNT(*) FROM applied) AS insights_applied,
            (SELECT COUNT(*) FROM applied WHERE type IN ('security_issue', 'performance'))
                AS bugs_prevented,
            (SELECT COUNT(*) FROM applied WHERE type IN ('refactor', 'architecture'))
                AS refactorings_completed,
            (SELECT COUNT(*) FROM past_solutions WHERE user_id = %(u)s AND visibility = 'team')
              + (SELECT COUNT(*) FROM items WHERE user_id = %(u)s AND visibility = 'team'
                 AND kind IN ('note', 'snippet')) AS shared,
            (SELECT COUNT(*) FROM my_repos) AS repos_active,
            (SELECT COUNT(*) FROM codecortex_learning_paths WHERE user_id = %(u)s
                AND completed_at IS NOT NULL) AS learning_paths_completed,
            (SELECT r.full_name FROM github_repos r JOIN mine p ON p.repo_id = r.id
                ORDER BY p.detected_at LIMIT 1) AS first_repo,
            (SELECT COALESCE(ARRAY_AGG(DISTINCT language ORDER BY language), '{{}}')
                FROM past_solutions WHERE user_id = %(u)s AND language IS NOT NULL) AS languages,
            (SELECT COALESCE(SUM(reuse_count), 0) FROM past_solutions
                WHERE user_id = %(u)s OR visibility = 'team') AS visible_accepted,
            (SELECT COALESCE(SUM(reject_count), 0) FROM past_solutions
                WHERE user_id = %(u)s OR visibility = 'team') AS visible_rejected
        """,
        {"u": user_id, "fast": fast_fix_seconds, "pattern": pattern_min_seen},
    )
    row = await cur.fetchone()
    assert row is not None
    return dict(row)


async def weekly(
    conn: psycopg.AsyncConnection[Any], user_id: Any, weeks: int, now: datetime | None = None
) -> list[dict[str, Any]]:
    """Per ISO week (Monday), the last `weeks` weeks up to the one containing `now`, zero-filled."""
    cur = await conn.execute(
        """
        WITH w AS (
            SELECT generate_series(
                date_trunc('week', COALESCE(%(now)s::timestamptz, NOW()))
                    - (%(weeks)s - 1) * INTERVAL '1 week',
                date_trunc('week', COALESCE(%(now)s::timestamptz, NOW())),
                INTERVAL '1 week') AS week
        )
        SELECT w.week,
            (SELECT COUNT(*) FROM detected_problems p WHERE p.user_id = %(u)s
                AND date_trunc('week', p.detected_at) = w.week) AS detected,
            (SELECT COUNT(*) FROM detected_problems p WHERE p.user_id = %(u)s
                AND p.status = 'resolved' AND date_trunc('week', p.resolved_at) = w.week)
                AS solved,
            (SELECT COUNT(*) FROM past_solutions s WHERE s.user_id = %(u)s
                AND date_trunc('week', s.created_at) = w.week) AS captured,
            (SELECT COUNT(*) FROM codecortex_replays r WHERE r.user_id = %(u)s
                AND date_trunc('week', r.applied_at) = w.week) AS replays,
            (SELECT COALESCE(SUM(r.time_saved_seconds), 0) FROM codecortex_replays r
                WHERE r.user_id = %(u)s AND date_trunc('week', r.applied_at) = w.week)
                AS time_saved_seconds
        FROM w ORDER BY w.week
        """,
        {"u": user_id, "weeks": weeks, "now": now},
    )
    return [
        {
            "week": r["week"].date().isoformat(),
            "detected": int(r["detected"]),
            "solved": int(r["solved"]),
            "captured": int(r["captured"]),
            "replays": int(r["replays"]),
            "timeSavedSeconds": int(r["time_saved_seconds"]),
        }
        for r in await cur.fetchall()
    ]


async def save_metrics(
    conn: psycopg.AsyncConnection[Any], user_id: Any, values: dict[str, Any]
) -> None:
    """Upsert the developer's codecortex_success_metrics row (`values`: column -> value)."""
    cols = list(values)
    params = [user_id] + [Jsonb(values[c]) if c == "weekly" else values[c] for c in cols]
    await conn.execute(
        f"INSERT INTO codecortex_success_metrics (user_id, {', '.join(cols)}, last_calculated)"
        f" VALUES (%s, {', '.join(['%s'] * len(cols))}, NOW())"
        " ON CONFLICT (user_id) DO UPDATE SET "
        + ", ".join(f"{c} = EXCLUDED.{c}" for c in cols)
        + ", last_calculated = NOW()",
        params,
    )


async def load_metrics(conn: psycopg.AsyncConnection[Any], user_id: Any) -> dict[str, Any] | None:
    cur = await conn.execute(
        "SELECT * FROM codecortex_success_metrics WHERE user_id = %s", (user_id,)
    )
    row = await cur.fetchone()
    return dict(row) if row else None


async def acceptance_by_source(
    conn: psycopg.AsyncConnection[Any], user_id: Any
) -> list[dict[str, Any]]:
    """Per solution source (live, cli, git, manual, synthesized, import): how often its fixes
    were applied and rejected, over the solutions visible to the developer."""
    cur = await conn.execute(
        "SELECT source, COUNT(*) AS solutions, COALESCE(SUM(reuse_count), 0) AS applied,"
        " COALESCE(SUM(reject_count), 0) AS rejected FROM past_solutions"
        " WHERE user_id = %s OR visibility = 'team' GROUP BY source ORDER BY source",
        (user_id,),
    )
    out = []
    for r in await cur.fetchall():
        applied, rejected = int(r["applied"]), int(r["rejected"])
        out.append(
            {
                "source": r["source"],
                "solutions": int(r["solutions"]),
                "applied": applied,
                "rejected": rejected,
                "acceptance": applied / (applied + rejected) if applied + rejected else None,
            }
        )
    return out


async def insight_status(conn: psycopg.AsyncConnection[Any], user_id: Any) -> dict[str, int]:
    """Code insights by status in the developer's repositories."""
    cur = await conn.execute(
        f"WITH {_MY_REPOS} SELECT status, COUNT(*) AS n FROM code_insights"
        " WHERE repo_id IN (SELECT repo_id FROM my_repos) GROUP BY status",
        {"u": user_id},
    )
    return {r["status"]: int(r["n"]) for r in await cur.fetchall()}


# --- achievements ---------------------------------------------------------------------------


async def award(
    conn: psycopg.AsyncConnection[Any], user_id: Any, kind: str, data: dict[str, Any]
) -> bool:
    """Record an achievement; True when it is new."""
    cur = await conn.execute(
        "INSERT INTO codecortex_achievements (user_id, achievement_type, achievement_data)"
        " VALUES (%s, %s, %s) ON CONFLICT (user_id, achievement_type) DO NOTHING RETURNING id",
        (user_id, kind, Jsonb(data)),
    )
    return await cur.fetchone() is not None


async def achievements(conn: psycopg.AsyncConnection[Any], user_id: Any) -> list[dict[str, Any]]:
    cur = await conn.execute(
        "SELECT id, achievement_type, achievement_data, achieved_at, announced_at"
        " FROM codecortex_achievements WHERE user_id = %s ORDER BY achieved_at, achievement_type",
        (user_id,),
    )
    return [dict(r) for r in await cur.fetchall()]


async def claim_unannounced(
    conn: psycopg.AsyncConnection[Any], user_id: Any
) -> list[dict[str, Any]]:
    """Mark the developer's not yet announced achievements as announced and return them (so two
    editors never both announce one)."""
    cur = await conn.execute(
        "UPDATE codecortex_achievements SET announced_at = NOW()"
        " WHERE user_id = %s AND announced_at IS NULL"
        " RETURNING achievement_type, achievement_data, achieved_at",
        (user_id,),
    )
    return [dict(r) for r in await cur.fetchall()]
