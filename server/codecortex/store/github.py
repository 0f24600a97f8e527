"""Queries for GitHub accounts and repositories (dict-row connections)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

ACCOUNT_COLUMNS = (
    "id, user_id, api_url, web_url, github_username, github_user_id, scopes, access_token_enc,"
    " refresh_token_enc, token_expires_at, refresh_expires_at, key_id, created_at, updated_at"
)


async def get_account(conn: psycopg.AsyncConnection[Any], user_id: Any) -> dict[str, Any] | None:
    cur = await conn.execute(
        f"SELECT {ACCOUNT_COLUMNS} FROM github_accounts WHERE user_id = %s", (user_id,)
    )
    row = await cur.fetchone()
    return dict(row) if row else None


async def save_account(
    conn: psycopg.AsyncConnection[Any],
    user_id: Any,
    *,
    api_url: str,
    web_url: str,
    username: str,
    github_user_id: int | None,
    scopes: list[str],
    access_enc: bytes,
    refresh_enc: bytes | None,
    expires_at: datetime | None,
    refresh_expires_at: datetime | None,
    key_id: str,
) -> Any:
    """Create or replace the user's account; the ETag cache survives only a new sign-in to the
    same GitHub account."""
    cur = await conn.execute(
        "INSERT INTO github_accounts (user_id, api_url, web_url, github_username, github_user_id,"
        " scopes, access_token_enc, refresh_token_enc, token_expires_at, refresh_expires_at,"
        " key_id) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
        " ON CONFLICT (user_id) DO UPDATE SET api_url = EXCLUDED.api_url,"
        " web_url = EXCLUDED.web_url,"
        " github_username = EXCLUDED.github_username, github_user_id = EXCLUDED.github_user_id,"
        " scopes = EXCLUDED.scopes, access_token_enc = EXCLUDED.access_token_enc,"
        " refresh_token_enc = EXCLUDED.refresh_token_enc,"
        " token_expires_at = EXCLUDED.token_expires_at,"
        " refresh_expires_at = EXCLUDED.refresh_expires_at, key_id = EXCLUDED.key_id,"
        " etag_cache = CASE WHEN github_accounts.api_url = EXCLUDED.api_url AND"
        "   github_accounts.github_user_id IS NOT DISTINCT FROM EXCLUDED.github_user_id"
        "   THEN github_accounts.etag_cache ELSE '{}'::jsonb END"
        " RETURNING id",
        (
            user_id, api_url, web_url, username, github_user_id, scopes, access_enc, refresh_enc,
            expires_at, refresh_expires_at, key_id,
        ),
    )  # fmt: skip
    row = await cur.fetchone()
    assert row is not None
    account_id = row["id"]
    # repositories seen by this GitHub account before a logout come back to it
    await conn.execute(
        "UPDATE github_repos SET account_id = %s WHERE api_url = %s AND account_id IS NULL"
        " AND (metadata->>'seen_by')::bigint IS NOT DISTINCT FROM %s",
        (account_id, api_url, github_user_id),
    )
    return account_id


async def update_tokens(
    conn: psycopg.AsyncConnection[Any],
    account_id: Any,
    *,
    access_enc: bytes,
    refresh_enc: bytes | None,
    expires_at: datetime | None,
    refresh_expires_at: datetime | None,
    key_id: str,
) -> None:
    await conn.execute(
        "UPDATE github_accounts SET access_token_enc = %s, refresh_token_enc = %s,"
        " token_expires_at = %s, refresh_expires_at = %s, key_id = %s WHERE id = %s",
        (access_enc, refresh_enc, expires_at, refresh_expires_at, key_id, account_id),
    )


async def delete_account(conn: psycopg.AsyncConnection[Any], user_id: Any) -> bool:
    """Delete the account and its tokens; its repositories (and what was learned from them)
    stay, unlinked."""
    cur = await conn.execute(
        "DELETE FROM github_accounts WHERE user_id = %s RETURNING id", (user_id,)
    )
    return await cur.fetchone() is not None


async def etag_cache(conn: psycopg.AsyncConnection[Any], account_id: Any) -> dict[str, Any]:
    cur = await conn.execute("SELECT etag_cache FROM github_accounts WHERE id = %s", (account_id,))
    row = await cur.fetchone()
    return dict(row["etag_cache"] or {}) if row else {}


async def set_etag(
    conn: psycopg.AsyncConnection[Any], account_id: Any, key: str, value: dict[str, Any] | None
) -> None:
    if value is None:
        await conn.execute(
            "UPDATE github_accounts SET etag_cache = etag_cache - %s WHERE id = %s",
            (key, account_id),
        )
        return
    await conn.execute(
        "UPDATE github_accounts SET etag_cache = etag_cache || jsonb_build_object(%s::text, %s)"
        " WHERE id = %s",
        (key, Jsonb(value), account_id),
    )


async def upsert_repo(
    conn: psycopg.AsyncConnection[Any],
    account_id: Any,
    *,
    api_url: str,
    github_id: int,
    full_name: str,
    default_branch: str,
    metadata: dict[str, Any],
) -> Any:
    owner, _, name = full_name.partition("/")
    cur = await conn.execute(
        "INSERT INTO github_repos (account_id, api_url, github_id, full_name, owner, name,"
        " default_branch, metadata, selected) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, FALSE)"
        " ON CONFLICT (api_url, github_id) WHERE github_id IS NOT NULL DO UPDATE SET"
        " account_id = EXCLUDED.account_id, full_name = EXCLUDED.full_name,"
        " owner = EXCLUDED.owner, name = EXCLUDED.name,"
        " default_branch = EXCLUDED.default_branch,"
        " metadata = github_repos.metadata - 'gone' || EXCLUDED.metadata"
        " RETURNING id",
        (account_id, api_url, github_id, full_name, owner, name, default_branch, Jsonb(metadata)),
    )
    row = await cur.fetchone()
    assert row is not None
    return row["id"]


async def mark_gone(
    conn: psycopg.AsyncConnection[Any], account_id: Any, seen_ids: list[int]
) -> list[str]:
    """Repositories of the account GitHub no longer lists: flagged (kept: fixes point at them)."""
    cur = await conn.execute(
        "UPDATE github_repos SET metadata = metadata || '{\"gone\": true}'::jsonb"
        " WHERE account_id = %s AND github_id IS NOT NULL AND NOT (github_id = ANY(%s))"
        " AND NOT COALESCE((metadata->>'gone')::boolean, FALSE) RETURNING full_name",
        (account_id, seen_ids),
    )
    return [r["full_name"] for r in await cur.fetchall()]


async def list_repos(
    conn: psycopg.AsyncConnection[Any], account_id: Any, *, selected_only: bool = False
) -> list[dict[str, Any]]:
    cur = await conn.execute(
        "SELECT id, full_name, owner, name, selected, default_branch, last_synced_sha,"
        " last_fetched_at, metadata, github_id FROM github_repos WHERE account_id = %s"
        + (" AND selected" if selected_only else "")
        + " ORDER BY lower(full_name)",
        (account_id,),
    )
    return [dict(r) for r in await cur.fetchall()]


async def set_selected(
    conn: psycopg.AsyncConnection[Any], account_id: Any, full_names: list[str], selected: bool
) -> list[str]:
    cur = await conn.execute(
        "UPDATE github_repos SET selected = %s WHERE account_id = %s"
        " AND lower(full_name) = ANY(%s) RETURNING full_name",
        (selected, account_id, [n.lower() for n in full_names]),
    )
    return [r["full_name"] for r in await cur.fetchall()]


async def rename_repo(
    conn: psycopg.AsyncConnection[Any], repo_id: Any, full_name: str, default_branch: str | None,
    metadata: dict[str, Any],
) -> None:  # fmt: skip
    owner, _, name = full_name.partition("/")
    await conn.execute(
        "UPDATE github_repos SET full_name = %s, owner = %s, name = %s,"
        " default_branch = COALESCE(%s, default_branch),"
        " metadata = metadata - 'gone' || %s WHERE id = %s",
        (full_name, owner, name, default_branch, Jsonb(metadata), repo_id),
    )


async def set_synced(conn: psycopg.AsyncConnection[Any], repo_id: Any, sha: str | None) -> None:
    """A sync of the repository finished (up to the pull request whose head is `sha`)."""
    await conn.execute(
        "UPDATE github_repos SET last_synced_sha = COALESCE(%s, last_synced_sha),"
        " last_fetched_at = NOW() WHERE id = %s",
        (sha, repo_id),
    )


async def registry(conn: psycopg.AsyncConnection[Any], user_id: Any) -> list[dict[str, Any]]:
    """Local repositories and this user's GitHub repositories, for the server's registry."""
    cur = await conn.execute(
        "SELECT r.id, r.full_name, r.root_path, r.remote_url, r.selected, r.default_branch,"
        " r.last_synced_sha, r.last_fetched_at, r.metadata,"
        " CASE WHEN r.github_id IS NULL THEN 'local' ELSE 'github' END AS kind"
        " FROM github_repos r LEFT JOIN github_accounts a ON a.id = r.account_id"
        " WHERE r.root_path IS NOT NULL OR a.user_id = %s"
        " ORDER BY kind DESC, lower(r.full_name)",
        (user_id,),
    )
    return [dict(r) for r in await cur.fetchall()]
