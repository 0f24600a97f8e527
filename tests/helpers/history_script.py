"""A scripted history of problems, fixes, replays and insights, written straight into the
database, whose metrics are computed by hand in tests/unit/reports/test_metrics.py."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from codecortex.store import solutions as solution_store

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
