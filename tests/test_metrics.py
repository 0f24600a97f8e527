"""Success metrics and achievements computed from a scripted history, against hand-computed
values (real PostgreSQL, the trigger that records replays, the weekly trend)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from codecortex import achievements, metrics
from codecortex.stats import collect_stats
from codecortex.store import solutions as solution_store
from codecortex.store.connection import connect

NOW = datetime(2025, 3, 12, 15, 0, tzinfo=UTC)  # a Wednesday; its week starts 2025-03-10
W0 = datetime(2025, 3, 10, 9, 0, tzinfo=UTC)  # this week
W1 = W0 - timedelta(weeks=1)  # 2025-03-03
W3 = W0 - timedelta(weeks=3)  # 2025-02-17


async def make_user(conn: Any, name: str) -> Any:
    cur = await conn.execute("INSERT INTO users (name) VALUES (%s) RETURNING id", (name,))
    return (await cur.fetchone())["id"]


async def make_repo(conn: Any, name: str) -> Any:
    cur = await conn.execute(
        "INSERT INTO github_repos (full_name, name, root_path) VALUES (%s, %s, %s) RETURNING id",
        (f"acme/{name}", name, f"/src/{name}"),
    )
    return (await cur.fetchone())["id"]


async def problem(
    conn: Any, user: Any, repo: Any, sig: str, detected: datetime, solved_after: int | None
) -> None:
    await conn.execute(
        "INSERT INTO detected_problems (user_id, repo_id, problem_type, problem_signature,"
        " detected_at, status, resolved_at, resolution_time_seconds)"
        " VALUES (%s, %s, 'error', %s, %s, %s, %s, %s)",
        (
            user,
            repo,
            sig,
            detected,
            "open" if solved_after is None else "resolved",
            None if solved_after is None else detected + timedelta(seconds=solved_after),
            solved_after,
        ),
    )


async def solution(
    conn: Any,
    user: Any,
    repo: Any,
    *,
    visibility: str,
    seconds: int,
    language: str,
    created: datetime,
    rejects: int = 0,
) -> Any:
    cur = await conn.execute(
        "INSERT INTO past_solutions (user_id, repo_id, problem_signature, problem_type, language,"
        " visibility, time_to_solve_seconds, content_hash, created_at, reject_count)"
        " VALUES (%s, %s, 'sig', 'error', %s, %s, %s, %s, %s, %s) RETURNING id",
        (user, repo, language, visibility, seconds, uuid.uuid4().hex, created, rejects),
    )
    return (await cur.fetchone())["id"]


async def replay(conn: Any, applier: Any, solution_id: Any, saved: int, when: datetime) -> None:
    """Apply a fix the way the product does (record_reuse), as `applier`, at `when`."""
    await conn.execute("SELECT set_config('codecortex.user_id', %s, false)", (str(applier),))
    await solution_store.record_reuse(conn, solution_id, saved)
    await conn.execute(
        "UPDATE codecortex_replays SET applied_at = %s WHERE id ="
        " (SELECT id FROM codecortex_replays ORDER BY applied_at DESC LIMIT 1)",
        (when,),
    )


async def insight(conn: Any, repo: Any, kind: str, status: str) -> None:
    await conn.execute(
        "INSERT INTO code_insights (repo_id, type, title, detail, fingerprint_sha, status,"
        " ai_agent) VALUES (%s, %s, 't', '{}', %s, %s, 'rules')",
        (repo, kind, uuid.uuid4().hex, status),
    )


async def script_history(conn: Any) -> dict[str, Any]:
    u = await make_user(conn, "una@example.com")
    v = await make_user(conn, "vic@example.com")
    repo = await make_repo(conn, "shop")
    other_repo = await make_repo(conn, "elsewhere")
    # Una: sigA x3 (30 s, 90 s, open), sigB x3 (10 s, 20 s, 600 s), sigC x1 (45 s), sigD x4 open.
    await problem(conn, u, repo, "sigA", W0, 30)
    await problem(conn, u, repo, "sigA", W1, 90)
    await problem(conn, u, repo, "sigA", W1, None)
    await problem(conn, u, repo, "sigB", W3, 10)
    await problem(conn, u, repo, "sigB", W3, 20)
    await problem(conn, u, repo, "sigB", W1, 600)
    await problem(conn, u, repo, "sigC", W0, 45)
    for _ in range(4):
        await problem(conn, u, repo, "sigD", W0, None)
    # Vic's own problems never count for Una.
    await problem(conn, v, other_repo, "sigA", W0, 5)
    s1 = await solution(conn, u, repo, visibility="private", seconds=300, language="python",
                        created=W1)  # fmt: skip
    s2 = await solution(conn, u, repo, visibility="team", seconds=200, language="typescript",
                        created=W0)  # fmt: skip
    await solution(conn, u, repo, visibility="team", seconds=100, language="python", created=W0,
                   rejects=1)  # fmt: skip
    await solution(conn, v, other_repo, visibility="private", seconds=50, language="go",
                   created=W0, rejects=2)  # fmt: skip
    await conn.execute(
        "INSERT INTO items (user_id, kind, content, content_hash, visibility) VALUES"
        " (%s, 'note', 'shared', 'h1', 'team'), (%s, 'note', 'mine', 'h2', 'private'),"
        " (%s, 'note', 'vic shared', 'h3', 'team')",
        (u, u, v),
    )
    # Una applies s1 twice (saving 300 - 5 s each); Vic applies Una's shared s2 once.
    await replay(conn, u, s1, 295, W1 + timedelta(hours=1))
    await replay(conn, u, s1, 295, W0 + timedelta(hours=1))
    await replay(conn, v, s2, 195, W0 + timedelta(hours=2))
    for kind, status in (("security_issue", "applied"), ("refactor", "applied"),
                         ("documentation", "applied"), ("performance", "open"),
                         ("refactor", "ignored")):  # fmt: skip
        await insight(conn, repo, kind, status)
    await insight(conn, other_repo, "security_issue", "applied")
    await conn.execute(
        "INSERT INTO codecortex_learning_paths (user_id, title, modules, completed_at)"
        " VALUES (%s, 'done', '[]', %s), (%s, 'in progress', '[]', NULL), (%s, 'vic', '[]', %s)",
        (u, W1, u, v, W1),
    )
    return {"u": u, "v": v}


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
        assert await achievements.check_achievements(conn, u) == ["first_repo", "speed_demon"]
        assert await achievements.check_achievements(conn, u) == []
        await conn.execute(
            "INSERT INTO items (user_id, kind, content, content_hash, visibility)"
            " VALUES (%s, 'note', 'y', 'hn', 'team')",
            (u,),
        )
        msgs = await achievements.take_announcements(conn, u)
        assert len(msgs) == 2 and any("Speed demon" in m for m in msgs)
        assert await achievements.take_announcements(conn, u) == []
        assert await achievements.check_achievements(conn, u) == ["knowledge_sharer"]
        assert [m.split(":")[1].split("—")[0].strip() for m in
                await achievements.take_announcements(conn, u)] == ["Knowledge sharer"]  # fmt: skip
        listed = await achievements.list_achievements(conn, u)
        assert {a["type"] for a in listed} == {"first_repo", "speed_demon", "knowledge_sharer"}
        assert next(a for a in listed if a["type"] == "speed_demon")["data"] == {"fastFixes": 5}
