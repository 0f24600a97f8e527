"""Success metrics and achievements computed from a scripted history, against hand-computed
values (real PostgreSQL, the trigger that records replays, the weekly trend)."""

from __future__ import annotations

from typing import Any

import pytest
from history_script import NOW, W0, make_repo, make_user, problem, script_history, solution

from codecortex.reports import achievements, metrics
from codecortex.reports.stats import collect_stats
from codecortex.store.pool import connect


async def test_metrics_match_hand_computed_values(db_settings: Any) -> None:
    async with connect(db_settings) as conn:
        await conn.execute("SET TimeZone = 'UTC'")  # weeks start on Monday in the session's zone
        who = await script_history(conn)
        result = await metrics.refresh_metrics(conn, who["u"], now=NOW)
        row = result["metrics"]
        assert row["problems_detected"] == 11
        assert row["total_problems_solved"] == 6
        assert row["average_resolution_time_seconds"] == round((30 + 90 + 10 + 20 + 600 + 45) / 6)
        assert row["solutions_captured"] == 3
        assert row["solutions_reused"] == 3  # s1 twice (by Una) + s2 once (by Vic)
        assert row["replays_applied"] == 2
        assert row["total_time_saved_seconds"] == 590
        assert row["insights_applied"] == 3
        assert row["bugs_prevented"] == 1
        assert row["refactorings_completed"] == 1
        assert row["learning_paths_completed"] == 1
        assert row["patterns_discovered"] == 2  # sigA and sigB: seen 3 times, fixed
        assert row["skills_improved"] == ["python", "typescript"]
        assert row["roi_multiplier"] == pytest.approx(590 / 795)
        # Visible to Una: her three solutions (3 applied, 1 rejected); not Vic's private one.
        assert row["trust_score"] == pytest.approx((3 + 1) / (3 + 1 + 2))
        fig = result["figures"]
        assert (fig["fast_fixes"], fig["shared"], fig["repos_active"]) == (4, 3, 1)
        assert fig["first_repo"] == "acme/shop"

        weeks = {w["week"]: w for w in result["weekly"]}
        assert len(result["weekly"]) == metrics.TREND_WEEKS
        assert result["weekly"][-1]["week"] == "2025-03-10"
        assert weeks["2025-03-10"] == {"week": "2025-03-10", "detected": 6, "solved": 2,
                                       "captured": 2, "replays": 1, "timeSavedSeconds": 295}  # fmt: skip
        assert weeks["2025-03-03"] == {"week": "2025-03-03", "detected": 3, "solved": 2,
                                       "captured": 1, "replays": 1, "timeSavedSeconds": 295}  # fmt: skip
        assert weeks["2025-02-17"]["detected"] == 2 and weeks["2025-02-17"]["solved"] == 2
        assert weeks["2025-02-24"]["detected"] == 0

        vic = (await metrics.refresh_metrics(conn, who["v"], now=NOW))["metrics"]
        assert (vic["replays_applied"], vic["total_time_saved_seconds"]) == (1, 195)
        assert (vic["problems_detected"], vic["solutions_reused"]) == (1, 0)

        # Stored and kept current: the row is there, and moves with new history.
        cur = await conn.execute(
            "SELECT replays_applied, weekly FROM codecortex_success_metrics WHERE user_id = %s",
            (who["u"],),
        )
        stored = await cur.fetchone()
        assert stored["replays_applied"] == 2 and len(stored["weekly"]) == metrics.TREND_WEEKS
        await problem(conn, who["u"], None, "sigE", W0, 3)
        data = await collect_stats(conn, who["u"])
        assert data["metrics"]["problemsSolved"] == 7
        assert data["metrics"]["timeSavedSeconds"] == 590
        by_source = {s["source"]: s for s in data["acceptanceBySource"]}
        assert by_source["live"] == {"source": "live", "solutions": 3, "applied": 3,
                                     "rejected": 1, "acceptance": 0.75}  # fmt: skip
        assert data["insightStatus"] == {"applied": 3, "open": 1, "ignored": 1}


# --- achievements ------------------------------------------------------------------------------

BASE = {
    "repos_active": 0, "first_repo": None, "patterns_discovered": 0, "insights_applied": 0,
    "fast_fixes": 0, "problems_solved": 0, "shared": 0, "replays_applied": 0,
}  # fmt: skip
THRESHOLDS = {
    "first_repo": ("repos_active", 1),
    "pattern_hunter": ("patterns_discovered", achievements.PATTERN_HUNTER_PATTERNS),
    "insight_master": ("insights_applied", achievements.INSIGHT_MASTER_INSIGHTS),
    "speed_demon": ("fast_fixes", achievements.SPEED_DEMON_FIXES),
    "quality_guardian": ("problems_solved", achievements.QUALITY_GUARDIAN_SOLVED),
    "knowledge_sharer": ("shared", achievements.KNOWLEDGE_SHARER_SHARED),
    "learning_champion": ("replays_applied", achievements.LEARNING_CHAMPION_REPLAYS),
}


def test_every_seed_achievement_has_a_criterion() -> None:
    assert set(achievements.BY_KIND) == set(THRESHOLDS)


@pytest.mark.parametrize("kind", sorted(THRESHOLDS))
def test_achievement_criterion_positive_and_negative(kind: str) -> None:
    key, threshold = THRESHOLDS[kind]
    assert kind not in achievements.earned_kinds(dict(BASE, **{key: threshold - 1}))
    assert achievements.earned_kinds(dict(BASE, **{key: threshold})) == [kind]


def stored_metrics(conn: Any, user: Any) -> Any:
    return conn.execute(
        "SELECT count(*) AS n FROM codecortex_success_metrics WHERE user_id = %s", (user,)
    )


async def test_achievements_from_history_awarded_and_announced_once(db_settings: Any) -> None:
    async with connect(db_settings) as conn:
        u = await make_user(conn, "ada@example.com")
        repo = await make_repo(conn, "app")
        # 5 fixes within 60 s (speed demon), one of 61 s; 3 signatures seen 3x, 2 of them fixed.
        for n, secs in enumerate((5, 10, 60, 59, 1, 61)):
            await problem(conn, u, repo, f"fast{n}", W0, secs)
        for sig, fixed in (("p1", True), ("p2", True), ("p3", False)):
            for i in range(3):
                await problem(conn, u, repo, sig, W0, 300 if fixed and i == 0 else None)
        # 4 shared rows: one short of knowledge_sharer.
        for _ in range(3):
            await solution(conn, u, repo, visibility="team", seconds=10, language="python",
                           created=W0)  # fmt: skip
        await conn.execute(
            "INSERT INTO items (user_id, kind, content, content_hash, visibility)"
            " VALUES (%s, 'snippet', 'x', 'hs', 'team')",
            (u,),
        )
        fig = await metrics.compute_figures(conn, u)
        assert (fig["fast_fixes"], fig["patterns_discovered"], fig["shared"]) == (5, 2, 4)
        # reading the stats writes nothing: no achievement, no stored metrics
        assert (await collect_stats(conn, u))["achievements"] == []
        assert (await (await stored_metrics(conn, u)).fetchone())["n"] == 0
        assert await achievements.award_due(conn, u) == ["first_repo", "speed_demon"]
        assert await achievements.award_due(conn, u) == []
        await conn.execute(
            "INSERT INTO items (user_id, kind, content, content_hash, visibility)"
            " VALUES (%s, 'note', 'y', 'hn', 'team')",
            (u,),
        )
        msgs = await achievements.take_announcements(conn, u)
        assert len(msgs) == 2 and any("Speed demon" in m for m in msgs)
        assert await achievements.take_announcements(conn, u) == []
        assert await achievements.award_due(conn, u) == ["knowledge_sharer"]
        assert [m.split(":")[1].split("—")[0].strip() for m in
                await achievements.take_announcements(conn, u)] == ["Knowledge sharer"]  # fmt: skip
        # the write paths' call: metrics stored, nothing new to award
        assert await achievements.record_progress(conn, u) == []
        assert (await (await stored_metrics(conn, u)).fetchone())["n"] == 1
        listed = await achievements.list_achievements(conn, u)
        assert {a["type"] for a in listed} == {"first_repo", "speed_demon", "knowledge_sharer"}
        assert next(a for a in listed if a["type"] == "speed_demon")["data"] == {"fastFixes": 5}
