"""Success metrics (`codecortex_success_metrics`): what CodeCortex did for a developer.

Definitions (all per developer):
- problems detected / solved: their detected_problems rows, all / status resolved;
- average time to solve: mean resolution_time_seconds of the solved ones;
- solutions captured: their past_solutions rows; solutions reused: times their solutions were
  applied (by anyone: the rows' reuse_count);
- replays applied: past fixes they applied (codecortex_replays, written by a trigger whenever a
  solution's reuse_count goes up);
- estimated time saved: over their replays, the time the original fix took minus the time to
  apply the replay (what the caller adds to past_solutions.time_saved_seconds);
- insights applied: code insights with status applied in repositories they worked in
  (bugs prevented: security/performance ones; refactorings: refactor/architecture ones);
- learning paths completed: their codecortex_learning_paths with completed_at;
- patterns discovered: problem signatures they met at least PATTERN_MIN_SEEN times and fixed;
- trend: the same counts per ISO week.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import psycopg

from codecortex.store import metrics as store

FAST_FIX_SECONDS = 60
PATTERN_MIN_SEEN = 3
TREND_WEEKS = 12


async def compute_figures(conn: psycopg.AsyncConnection[Any], user_id: Any) -> dict[str, Any]:
    raw = await store.figures(
        conn, user_id, fast_fix_seconds=FAST_FIX_SECONDS, pattern_min_seen=PATTERN_MIN_SEEN
    )
    out: dict[str, Any] = {}
    for key, value in raw.items():
        if key in ("first_repo", "languages"):
            out[key] = value
        elif key == "avg_resolution_seconds":
            out[key] = float(value) if value is not None else None
        else:
            out[key] = int(value or 0)
    return out


def metrics_row(fig: dict[str, Any], weekly: list[dict[str, Any]]) -> dict[str, Any]:
    """The codecortex_success_metrics columns from the figures."""
    accepted, rejected = fig["visible_accepted"], fig["visible_rejected"]
    spent = fig["total_resolution_seconds"]
    avg = fig["avg_resolution_seconds"]
    return {
        "problems_detected": fig["problems_detected"],
        "total_problems_solved": fig["problems_solved"],
        "total_time_saved_seconds": fig["time_saved_seconds"],
        "average_resolution_time_seconds": round(avg) if avg is not None else None,
        "insights_applied": fig["insights_applied"],
        "bugs_prevented": fig["bugs_prevented"],
        "refactorings_completed": fig["refactorings_completed"],
        "solutions_captured": fig["solutions_captured"],
        "solutions_reused": fig["solutions_reused"],
        "replays_applied": fig["replays_applied"],
        "patterns_discovered": fig["patterns_discovered"],
        "learning_paths_completed": fig["learning_paths_completed"],
        "skills_improved": list(fig["languages"] or []),
        # Time saved per second spent fixing problems by hand.
        "roi_multiplier": fig["time_saved_seconds"] / spent if spent else None,
        # Laplace-smoothed share of offered past fixes that were applied, not rejected.
        "trust_score": (accepted + 1) / (accepted + rejected + 2),
        "weekly": weekly,
    }


async def current_metrics(
    conn: psycopg.AsyncConnection[Any], user_id: Any, *, now: datetime | None = None
) -> dict[str, Any]:
    """The developer's metrics as of now, read only; returns {"figures", "metrics", "weekly"}."""
    fig = await compute_figures(conn, user_id)
    trend = await store.weekly(conn, user_id, TREND_WEEKS, now)
    return {"figures": fig, "metrics": metrics_row(fig, trend), "weekly": trend}


async def refresh_metrics(
    conn: psycopg.AsyncConnection[Any], user_id: Any, *, now: datetime | None = None
) -> dict[str, Any]:
    """Recompute and store the developer's metrics (a write); returns what `current_metrics`
    does."""
    current = await current_metrics(conn, user_id, now=now)
    await store.save_metrics(conn, user_id, current["metrics"])
    return current


def metrics_json(row: dict[str, Any]) -> dict[str, Any]:
    """camelCase figures for clients (the `codecortex.stats` command, the report)."""
    return {
        "problemsDetected": row["problems_detected"],
        "problemsSolved": row["total_problems_solved"],
        "averageSolveSeconds": row["average_resolution_time_seconds"],
        "solutionsCaptured": row["solutions_captured"],
        "solutionsReused": row["solutions_reused"],
        "replaysApplied": row["replays_applied"],
        "timeSavedSeconds": row["total_time_saved_seconds"],
        "insightsApplied": row["insights_applied"],
        "bugsPrevented": row["bugs_prevented"],
        "refactoringsCompleted": row["refactorings_completed"],
        "patternsDiscovered": row["patterns_discovered"],
        "skillsImproved": row["skills_improved"],
        "roiMultiplier": row["roi_multiplier"],
        "trustScore": row["trust_score"],
    }
