"""The account's repositories: list them from GitHub (all pages, conditional on the stored
ETags, so an unchanged page costs no rate limit), keep their metadata, select and unselect."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from codecortex.github.api import GitHubClient, json_of
from codecortex.store import github as store

LIST_PATH = "/user/repos"
LIST_PARAMS = {"sort": "full_name", "affiliation": "owner,collaborator,organization_member"}


def repo_metadata(data: dict[str, Any], seen_by: Any) -> dict[str, Any]:
    topics = data.get("topics")
    return {
        "language": data.get("language"),
        "stars": int(data.get("stargazers_count") or 0),
        "description": data.get("description"),
        "topics": [str(t) for t in topics] if isinstance(topics, list) else [],
        "private": bool(data.get("private")),
        "archived": bool(data.get("archived")),
        "html_url": data.get("html_url"),
        "seen_by": seen_by,
    }


@dataclass
class Listing:
    pages: int = 0
    not_modified: int = 0  # pages answered 304 (unchanged since the last listing)
    repos: int = 0
    gone: list[str] = field(default_factory=list)


async def refresh_repos(conn: Any, client: GitHubClient, account: dict[str, Any]) -> Listing:
    """Fetch the account's repositories into github_repos (in one transaction)."""
    cache = await store.etag_cache(conn, account["id"])
    listing = Listing()
    seen: list[int] = []
    updates: list[dict[str, Any]] = []
    etags: dict[str, dict[str, Any]] = {}
    page = 1
    while True:
        key = f"{LIST_PATH}?page={page}"
        cached = cache.get(key) or {}
        resp = await client.get(  # one page at a time: each page has its own ETag
            LIST_PATH,
            "your GitHub repositories",
            {**LIST_PARAMS, "page": page, "per_page": 100},
            etag=cached.get("etag"),
        )
        listing.pages += 1
        if resp.status == 304:
            listing.not_modified += 1
            seen.extend(int(i) for i in cached.get("ids") or [])
            more = bool(cached.get("next"))
        else:
            items = json_of(resp, "your GitHub repositories", list)
            ids = []
            for item in items:
                if (
                    isinstance(item, dict)
                    and isinstance(item.get("id"), int)
                    and item.get("full_name")
                ):
                    updates.append(item)
                    ids.append(int(item["id"]))
            seen.extend(ids)
            more = 'rel="next"' in (resp.header("link") or "")
            if resp.header("etag"):
                etags[key] = {"etag": resp.header("etag"), "ids": ids, "next": more}
        if not more:
            break
        page += 1
    async with conn.transaction():
        for item in updates:
            await store.upsert_repo(
                conn,
                account["id"],
                api_url=account["api_url"],
                github_id=int(item["id"]),
                full_name=str(item["full_name"]),
                default_branch=str(item.get("default_branch") or "main"),
                metadata=repo_metadata(item, account.get("github_user_id")),
            )
        for key, value in etags.items():
            await store.set_etag(conn, account["id"], key, value)
        listing.gone = await store.mark_gone(conn, account["id"], seen)
    listing.repos = len(seen)
    return listing
