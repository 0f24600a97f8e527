"""Users and repositories (rows every other table points at)."""

from __future__ import annotations

from typing import Any

import psycopg


async def ensure_user(
    conn: psycopg.AsyncConnection[Any], name: str, email: str | None = None
) -> Any:
    # Connected with a developer role of a team server: that role's users row is the identity.
    cur = await conn.execute("SELECT id FROM users WHERE db_role = current_user")
    row = await cur.fetchone()
    if row is not None:
        return row["id"] if isinstance(row, dict) else row[0]
    cur = await conn.execute(
        "INSERT INTO users (name, email) VALUES (%s, %s)"
        " ON CONFLICT (name) DO UPDATE SET email = COALESCE(EXCLUDED.email, users.email)"
        " RETURNING id",
        (name, email),
    )
    row = await cur.fetchone()
    assert row is not None
    return row["id"] if isinstance(row, dict) else row[0]


async def ensure_repo(
    conn: psycopg.AsyncConnection[Any],
    root_path: str,
    *,
    name: str,
    remote_url: str | None = None,
    default_branch: str | None = None,
    head_sha: str | None = None,
) -> Any:
    owner = ""
    full_name = name
    if remote_url:
        tail = remote_url.rstrip("/").removesuffix(".git").replace(":", "/").split("/")
        if len(tail) >= 2:
            owner, full_name = tail[-2], f"{tail[-2]}/{tail[-1]}"
    cur = await conn.execute(
        "INSERT INTO github_repos (full_name, owner, name, root_path, remote_url, default_branch,"
        " head_sha) VALUES (%s, %s, %s, %s, %s, COALESCE(%s, 'main'), %s)"
        " ON CONFLICT (root_path) WHERE root_path IS NOT NULL DO UPDATE SET"
        " remote_url = COALESCE(EXCLUDED.remote_url, github_repos.remote_url),"
        " default_branch = COALESCE(EXCLUDED.default_branch, github_repos.default_branch),"
        " head_sha = COALESCE(EXCLUDED.head_sha, github_repos.head_sha),"
        " full_name = EXCLUDED.full_name, owner = EXCLUDED.owner"
        " RETURNING id",
        (full_name, owner, name, root_path, remote_url, default_branch, head_sha),
    )
    row = await cur.fetchone()
    assert row is not None
    return row["id"] if isinstance(row, dict) else row[0]


async def get_repo(conn: psycopg.AsyncConnection[Any], repo_id: Any) -> dict[str, Any] | None:
    cur = await conn.execute("SELECT * FROM github_repos WHERE id = %s", (repo_id,))
    row = await cur.fetchone()
    return dict(row) if row else None


async def set_last_synced(conn: psycopg.AsyncConnection[Any], repo_id: Any, sha: str) -> None:
    await conn.execute(
        "UPDATE github_repos SET last_synced_sha = %s, last_fetched_at = NOW() WHERE id = %s",
        (sha, repo_id),
    )
