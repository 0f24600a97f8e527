"""Team memory: set up a shared PostgreSQL server for a team (roles, grants; the row-level
security policies are in migration 003), add developers, and share rows with the team.

On a team server every developer connects with their own login role (`team add-user`); the
policies give that role its own rows plus the team's rows, never another developer's private ones.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import psycopg
from psycopg.conninfo import make_conninfo

from codecortex.store import team as store
from codecortex.store.embedded import StoreError

VISIBILITIES = ("private", "team")


class TeamError(StoreError):
    """A team administration step that cannot be done (one-line message for the CLI)."""


@dataclass
class InitResult:
    database: str
    admin_role: str
    group: str
    unprotected: list[str]


@dataclass
class NewDeveloper:
    name: str
    role: str
    user_id: Any
    url: str


def developer_role_name(name: str) -> str:
    """A PostgreSQL role name for a developer identity: `cc_` + lower-case word characters."""
    local = name.strip().lower()
    slug = re.sub(r"[^a-z0-9_]+", "_", local).strip("_") or "developer"
    return ("cc_" + slug)[:63]


def developer_url(admin_url: str, role: str, password: str | None) -> str:
    """The admin's connection string with the developer's role (and password) in it."""
    if "://" not in admin_url:
        extra = {"user": role} | ({"password": password} if password is not None else {})
        return make_conninfo(admin_url, **extra)
    parts = urlsplit(admin_url)
    hostport = parts.netloc.rpartition("@")[2]
    userinfo = quote(role, safe="")
    if password is not None:
        userinfo += ":" + quote(password, safe="")
    return urlunsplit(parts._replace(netloc=f"{userinfo}@{hostport}"))


async def init_team(conn: psycopg.AsyncConnection[Any]) -> InitResult:
    """Create the developer group and its grants on an already migrated database."""
    info = await store.current_role_info(conn)
    if not info["can_create_roles"]:
        raise TeamError(
            f"role {info['role']} cannot create roles; run `codecortex team init` with an admin "
            "URL (a superuser or a role with CREATEROLE that owns the CodeCortex tables)"
        )
    await store.setup_developer_group(conn)
    return InitResult(
        info["database"], info["role"], store.DEVELOPER_GROUP, await store.tables_without_rls(conn)
    )


async def add_developer(
    conn: psycopg.AsyncConnection[Any],
    admin_url: str,
    name: str,
    *,
    role: str | None = None,
    password: str | None = None,
    generate_password: bool = True,
) -> NewDeveloper:
    """Create a developer's login role bound to the users row `name`; returns the URL to use."""
    if not name.strip():
        raise TeamError("a developer needs a name (their git user.email is a good choice)")
    info = await store.current_role_info(conn)
    if not info["can_create_roles"]:
        raise TeamError(f"role {info['role']} cannot create roles; use the admin URL")
    if not await store.role_exists(conn, store.DEVELOPER_GROUP):
        raise TeamError("this server is not set up for a team yet: run `codecortex team init`")
    role = role or developer_role_name(name)
    if password is None and generate_password:
        password = secrets.token_urlsafe(18)
    try:
        user_id = await store.create_developer(conn, name.strip(), role, password)
    except ValueError as exc:
        raise TeamError(str(exc)) from None
    return NewDeveloper(name.strip(), role, user_id, developer_url(admin_url, role, password))


async def share(
    conn: psycopg.AsyncConnection[Any], user_id: Any, row_id: str, visibility: str = "team"
) -> str | None:
    """Set the visibility of one of the user's solutions, notes or snippets (id or id prefix)."""
    if visibility not in VISIBILITIES:
        raise ValueError(f"visibility must be one of {', '.join(VISIBILITIES)}")
    return await store.set_visibility(conn, user_id, row_id, visibility)


async def users(conn: psycopg.AsyncConnection[Any]) -> list[dict[str, Any]]:
    return await store.list_users(conn)
