"""Achievements (`codecortex_achievements`): earned once per developer when a criterion over
their success-metric figures holds; the editor announces each once (window/showMessage).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import psycopg

from codecortex.reports import metrics
from codecortex.store import metrics as store

PATTERN_HUNTER_PATTERNS = 3
INSIGHT_MASTER_INSIGHTS = 10
SPEED_DEMON_FIXES = 5
QUALITY_GUARDIAN_SOLVED = 25
KNOWLEDGE_SHARER_SHARED = 5
LEARNING_CHAMPION_REPLAYS = 10


@dataclass(frozen=True)
class Achievement:
    kind: str
    title: str
    criterion: str
    earned: Callable[[dict[str, Any]], bool]
    data: Callable[[dict[str, Any]], dict[str, Any]]


def _at_least(
    kind: str, title: str, criterion: str, figure: str, threshold: int, data_key: str
) -> Achievement:
    """Earned once the success-metric `figure` reaches `threshold`; its data is that figure."""
    return Achievement(
        kind,
        title,
        criterion,
        lambda f: f[figure] >= threshold,
        lambda f: {data_key: f[figure]},
    )


ACHIEVEMENTS: tuple[Achievement, ...] = (
    Achievement(
        "first_repo",
        "First repository",
        "a repository where CodeCortex recorded one of your problems or solutions",
        lambda f: f["repos_active"] >= 1,
        lambda f: {"repository": f["first_repo"], "repositories": f["repos_active"]},
    ),
    _at_least(
        "pattern_hunter",
        "Pattern hunter",
        f"{PATTERN_HUNTER_PATTERNS} recurring problems (each seen "
        f"{metrics.PATTERN_MIN_SEEN}+ times) that you fixed",
        "patterns_discovered",
        PATTERN_HUNTER_PATTERNS,
        "patterns",
    ),
    _at_least(
        "insight_master",
        "Insight master",
        f"{INSIGHT_MASTER_INSIGHTS} code insights applied in your repositories",
        "insights_applied",
        INSIGHT_MASTER_INSIGHTS,
        "insightsApplied",
    ),
    _at_least(
        "speed_demon",
        "Speed demon",
        f"{SPEED_DEMON_FIXES} problems solved within {metrics.FAST_FIX_SECONDS} seconds",
        "fast_fixes",
        SPEED_DEMON_FIXES,
        "fastFixes",
    ),
    _at_least(
        "quality_guardian",
        "Quality guardian",
        f"{QUALITY_GUARDIAN_SOLVED} problems solved",
        "problems_solved",
        QUALITY_GUARDIAN_SOLVED,
        "problemsSolved",
    ),
    _at_least(
        "knowledge_sharer",
        "Knowledge sharer",
        f"{KNOWLEDGE_SHARER_SHARED} solutions, notes or snippets shared with your team",
        "shared",
        KNOWLEDGE_SHARER_SHARED,
        "shared",
    ),
    _at_least(
        "learning_champion",
        "Learning champion",
        f"{LEARNING_CHAMPION_REPLAYS} past fixes applied",
        "replays_applied",
        LEARNING_CHAMPION_REPLAYS,
        "replaysApplied",
    ),
)
BY_KIND = {a.kind: a for a in ACHIEVEMENTS}


def earned_kinds(figures: dict[str, Any]) -> list[str]:
    return [a.kind for a in ACHIEVEMENTS if a.earned(figures)]


async def award_due(
    conn: psycopg.AsyncConnection[Any], user_id: Any, figures: dict[str, Any] | None = None
) -> list[str]:
    """Award (a write) every achievement whose criterion now holds; returns the newly earned
    kinds."""
    figures = figures if figures is not None else await metrics.compute_figures(conn, user_id)
    new = []
    for ach in ACHIEVEMENTS:
        if ach.earned(figures) and await store.award(conn, user_id, ach.kind, ach.data(figures)):
            new.append(ach.kind)
    return new


async def record_progress(conn: psycopg.AsyncConnection[Any], user_id: Any) -> list[str]:
    """What the write paths call after recording a developer's work: store their refreshed
    metrics and award the achievements now due; returns the newly earned kinds."""
    refreshed = await metrics.refresh_metrics(conn, user_id)
    return await award_due(conn, user_id, refreshed["figures"])


def announcement(kind: str) -> str:
    ach = BY_KIND[kind]
    return f"CodeCortex achievement unlocked: {ach.title} — {ach.criterion}."


async def take_announcements(conn: psycopg.AsyncConnection[Any], user_id: Any) -> list[str]:
    """Messages for achievements not announced yet (each is returned only once, ever)."""
    rows = await store.claim_unannounced(conn, user_id)
    return [announcement(r["achievement_type"]) for r in rows]


async def list_achievements(
    conn: psycopg.AsyncConnection[Any], user_id: Any
) -> list[dict[str, Any]]:
    return [
        {
            "type": r["achievement_type"],
            "title": BY_KIND[r["achievement_type"]].title,
            "criterion": BY_KIND[r["achievement_type"]].criterion,
            "data": r["achievement_data"],
            "achievedAt": r["achieved_at"].isoformat(),
        }
        for r in await store.achievements(conn, user_id)
    ]
