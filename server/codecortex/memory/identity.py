"""Who is working where (`Identity`), and the developer and repository rows for a CLI run (the
server keeps its own in `Service`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg

from codecortex.config import Settings
from codecortex.files.roots import RepoInfo, repo_info, user_name
from codecortex.store import identity as store


@dataclass
class Identity:
    """Who is working where: rows are attributed to `user_id` and scoped to `repo_id`."""

    user_id: Any
    user_name: str
    repo_id: Any = None
    visibility: str = "private"


async def resolve_identity(
    conn: psycopg.AsyncConnection[Any], settings: Settings, folder: Path
) -> tuple[Identity, Path]:
    """(identity, repository root) for work under `folder`."""
    name, email = await user_name(settings.user, folder)
    user_id = await store.ensure_user(conn, name, email)
    info = await repo_info(folder)
    repo_id = await register_repo(conn, info)
    return Identity(user_id, name, repo_id, settings.default_visibility), info.root


async def register_repo(conn: psycopg.AsyncConnection[Any], info: RepoInfo) -> Any:
    """The `github_repos` row of a local repository (created or refreshed)."""
    return await store.ensure_repo(
        conn, str(info.root), name=info.name, remote_url=info.remote,
        default_branch=info.branch, head_sha=info.head,
    )  # fmt: skip
