"""Team server administration (roles, grants) and sharing rows (dict-row connections).

Row-level security policies themselves are in sql/003_team.sql; they key on `users.db_role`.
"""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg import sql

DEVELOPER_GROUP = "codecortex_developer"
# Tables a developer may read but never change.
READ_ONLY_TABLES = ("users", "codecortex_migrations", "solution_signature_versions")


async def role_exists(conn: psycopg.AsyncConnection[Any], role: str) -> bool:
    cur = await conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,))
    return await cur.fetchone() is not None


async def current_role_info(conn: psycopg.AsyncConnection[Any]) -> dict[str, Any]:
    """The connected role, whether it may create roles, and the database name."""
    cur = await conn.execute(
        "SELECT current_user AS role, current_database() AS database,"
        " r.rolsuper OR r.rolcreaterole AS can_create_roles"
        " FROM pg_roles r WHERE r.rolname = current_user"
    )
    row = await cur.fetchone()
    assert row is not None
    return dict(row)


async def setup_developer_group(conn: psycopg.AsyncConnection[Any]) -> None:
    """Create the developer group role and grant it what the product needs (idempotent)."""
    group = sql.Identifier(DEVELOPER_GROUP)
    if not await role_exists(conn, DEVELOPER_GROUP):
        await conn.execute(sql.SQL("CREATE ROLE {} NOLOGIN").format(group))
    cur = await conn.execute("SELECT current_database() AS db")
    row = await cur.fetchone()
    assert row is not None
    statements = [
        sql.SQL("GRANT CONNECT, TEMPORARY ON DATABASE {} TO {}").format(
            sql.Identifier(row["db"]), group
        ),
        sql.SQL("GRANT USAGE ON SCHEMA public TO {}").format(group),
        sql.SQL("GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {}").format(
            group
        ),
        sql.SQL("GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {}").format(group),
        sql.SQL("GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA public TO {}").format(group),
        # Tables created by later migrations (run by this admin role) are usable too.
        sql.SQL(
            "ALTER DEFAULT PRIVILEGES IN SCHEMA public"
            " GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {}"
        ).format(group),
        sql.SQL(
            "ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO {}"
        ).format(group),
    ]
    for table in READ_ONLY_TABLES:
        statements.append(
            sql.SQL("REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON {} FROM {}").format(
                sql.Identifier(table), group
            )
        )
    async with conn.transaction():
        for statement in statements:
            await conn.execute(statement)


async def tables_without_rls(conn: psycopg.AsyncConnection[Any]) -> list[str]:
    """Tables with a user_id column but no row-level security (rows any developer can read)."""
    cur = await conn.execute(
        "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE n.nspname = 'public' AND c.relkind = 'r' AND NOT c.relrowsecurity"
        " AND EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid"
        "             AND a.attname = 'user_id' AND NOT a.attisdropped)"
        " ORDER BY 1"
    )
    return [r["relname"] for r in await cur.fetchall()]


async def create_developer(
    conn: psycopg.AsyncConnection[Any], name: str, role: str, password: str | None
) -> Any:
    """Create (or update) a login role in the developer group and bind it to the users row
    `name`. Returns the users id."""
    ident = sql.Identifier(role)
    async with conn.transaction():
        if await role_exists(conn, role):
            await conn.execute(sql.SQL("ALTER ROLE {} LOGIN").format(ident))
        else:
            await conn.execute(sql.SQL("CREATE ROLE {} LOGIN").format(ident))
        if password is not None:
            await conn.execute(
                sql.SQL("ALTER ROLE {} PASSWORD {}").format(ident, sql.Literal(password))
            )
        await conn.execute(sql.SQL("GRANT {} TO {}").format(sql.Identifier(DEVELOPER_GROUP), ident))
        cur = await conn.execute(
            "SELECT name FROM users WHERE db_role = %s AND name <> %s", (role, name)
        )
        other = await cur.fetchone()
        if other is not None:
            raise ValueError(f"role {role} already belongs to user {other['name']}")
        cur = await conn.execute(
            "INSERT INTO users (name, email, db_role) VALUES (%s, %s, %s)"
            " ON CONFLICT (name) DO UPDATE SET db_role = EXCLUDED.db_role RETURNING id",
            (name, name if "@" in name else None, role),
        )
        row = await cur.fetchone()
        assert row is not None
        return row["id"]


async def list_users(conn: psycopg.AsyncConnection[Any]) -> list[dict[str, Any]]:
    cur = await conn.execute(
        """
        SELECT u.name, u.db_role, u.created_at,
            (SELECT COUNT(*) FROM past_solutions s WHERE s.user_id = u.id) AS solutions,
            (SELECT COUNT(*) FROM past_solutions s WHERE s.user_id = u.id
                AND s.visibility = 'team') AS shared_solutions,
            (SELECT COUNT(*) FROM items i WHERE i.user_id = u.id AND i.kind <> 'doc') AS notes
        FROM users u ORDER BY u.name
        """
    )
    return [dict(r) for r in await cur.fetchall()]


async def set_visibility(
    conn: psycopg.AsyncConnection[Any], user_id: Any, row_id: str, visibility: str
) -> str | None:
    """Share (or make private) one of the user's own solutions, notes or snippets.
    `row_id` may be a unique prefix of the id. Returns "solution"/"note"/"snippet" or None."""
    prefix = row_id.lower().strip()
    cur = await conn.execute(
        """
        SELECT 'solution' AS kind, id FROM past_solutions
            WHERE user_id = %(u)s AND id::text LIKE %(p)s
        UNION ALL
        SELECT kind, id FROM items
            WHERE user_id = %(u)s AND kind IN ('note', 'snippet') AND id::text LIKE %(p)s
        LIMIT 2
        """,
        {"u": user_id, "p": prefix + "%"},
    )
    rows = await cur.fetchall()
    if len(rows) != 1:
        return None
    kind, rid = rows[0]["kind"], rows[0]["id"]
    table = "past_solutions" if kind == "solution" else "items"
    await conn.execute(
        sql.SQL("UPDATE {} SET visibility = %s WHERE id = %s AND user_id = %s").format(
            sql.Identifier(table)
        ),
        (visibility, rid, user_id),
    )
    return str(kind)


async def own_private_solutions(
    conn: psycopg.AsyncConnection[Any], user_id: Any, ids: list[str]
) -> list[str]:
    cur = await conn.execute(
        "SELECT id::text AS id FROM past_solutions WHERE user_id = %s AND visibility = 'private'"
        " AND id::text = ANY(%s)",
        (user_id, ids),
    )
    return [r["id"] for r in await cur.fetchall()]


async def user_name(conn: psycopg.AsyncConnection[Any], user_id: Any) -> str | None:
    cur = await conn.execute("SELECT name FROM users WHERE id = %s", (user_id,))
    row = await cur.fetchone()
    return row["name"] if row else None
