"""`codecortex team {init,add-user,list,share}`: a shared PostgreSQL server for a team.

codecortex team init --database-url postgresql://admin@db/codecortex
codecortex team add-user alice@example.com      # prints the URL Alice puts in databaseUrl
codecortex team share SOLUTION_OR_NOTE_ID        # --private to take it back
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

from codecortex.config import Settings
from codecortex.memory.identity import resolve_identity
from codecortex.store.pool import connect
from codecortex.team import roles as team


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="team_command", metavar="ACTION", required=True)
    init = sub.add_parser(
        "init", help="set up a shared server: migrations, developer group role, grants (admin)"
    )
    init.add_argument("--database-url", help="admin URL of the team server (default: setting)")
    add = sub.add_parser("add-user", help="create a developer's role and print their URL (admin)")
    add.add_argument("name", help="the developer's identity (their git user.email)")
    add.add_argument("--role", help="PostgreSQL role name (default: cc_<name>)")
    add.add_argument("--password", help="password for the role (default: generated)")
    add.add_argument(
        "--no-password", action="store_true", help="no password (trust / certificate auth)"
    )
    add.add_argument("--database-url", help="admin URL of the team server (default: setting)")
    sub.add_parser("list", help="developers and what they have shared")
    share = sub.add_parser("share", help="share one of your solutions, notes or snippets")
    share.add_argument("id", help="id (or a unique prefix) of the solution, note or snippet")
    share.add_argument("--private", action="store_true", help="make it private again")


async def run(args: argparse.Namespace, settings: Settings) -> int:
    url = getattr(args, "database_url", None)
    if url:
        settings = dataclasses.replace(settings, database_url=url)
    if args.team_command in ("init", "add-user") and not settings.database_url:
        print(
            "codecortex: error: team commands need the team server's admin URL "
            "(--database-url or CODECORTEX_DATABASE_URL); the embedded database is single-user",
            file=sys.stderr,
        )
        return 2
    async with connect(settings) as conn:
        if args.team_command == "init":
            result = await team.init_team(conn)
            print(f"team server ready: database {result.database}, admin role {result.admin_role}")
            print(f"developer group role: {result.group} (row-level security on private rows)")
            if result.unprotected:
                print(
                    "warning: tables with user rows but no row-level security: "
                    + ", ".join(result.unprotected),
                    file=sys.stderr,
                )
            print("next: codecortex team add-user NAME  (one per developer)")
            return 0
        if args.team_command == "add-user":
            dev = await team.add_developer(
                conn,
                settings.database_url,
                args.name,
                role=args.role,
                password=args.password,
                generate_password=not args.no_password,
            )
            print(f"developer {dev.name}: role {dev.role}")
            print("connection URL (setting databaseUrl / CODECORTEX_DATABASE_URL):")
            print(dev.url)
            return 0
        if args.team_command == "list":
            rows = await team.users(conn)
            for row in rows:
                print(
                    f"{row['name']:<32} {row['db_role'] or '-':<20} {row['solutions']:>5} solutions"
                    f" ({row['shared_solutions']} shared) {row['notes']:>5} notes"
                )
            return 0
        ident, _root = await resolve_identity(conn, settings, Path.cwd())
        visibility = "private" if args.private else "team"
        kind = await team.share(conn, ident.user_id, args.id, visibility)
    if kind is None:
        print(f"codecortex: error: no solution, note or snippet of yours matches {args.id!r}",
              file=sys.stderr)  # fmt: skip
        return 2
    print(f"{kind} {args.id} is now {'visible to the team' if visibility == 'team' else 'private'}")
    return 0
