"""`codecortex db status|migrate`."""

from __future__ import annotations

import argparse

from codecortex.config import Settings
from codecortex.store.embedded import MigrationError
from codecortex.store.migrations import migrate, migration_status
from codecortex.store.pool import connect


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="db_command", metavar="ACTION", required=True)
    sub.add_parser("status", help="list applied and pending migrations")
    sub.add_parser("migrate", help="apply pending migrations")


async def run(args: argparse.Namespace, settings: Settings) -> int:
    async with connect(settings, run_migrations=False) as conn:
        if args.db_command == "migrate":
            from codecortex.store.embedded import resolve_target

            done = await migrate(conn, where=resolve_target(settings).describe())
            if done:
                for m in done:
                    print(f"applied  {m.name}")
            else:
                print("nothing to migrate: the database is up to date")
            return 0
        states = await migration_status(conn)
        width = max((len(s.migration.name) for s in states), default=10)
        for s in states:
            when = s.applied_at.strftime("%Y-%m-%d %H:%M:%S") if s.applied_at else ""
            print(f"{s.status:<9}{s.migration.name:<{width + 2}}{when}")
        pending = sum(s.status == "pending" for s in states)
        modified = [s.migration.name for s in states if s.status == "modified"]
        print(f"{len(states) - pending} applied, {pending} pending")
        if modified:
            raise MigrationError(
                f"changed after being applied: {', '.join(modified)}; restore them and put "
                "changes in a new numbered migration"
            )
        return 0
