"""`codecortex stats`: what CodeCortex has learned and how much it helped."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from codecortex.config import Settings
from codecortex.identity import resolve_identity
from codecortex.presentation import format_duration
from codecortex.stats import collect_stats
from codecortex.store.connection import connect


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true")


async def run(args: argparse.Namespace, settings: Settings) -> int:
    async with connect(settings) as conn:
        ident, _root = await resolve_identity(conn, settings, Path.cwd())
        data = await collect_stats(conn, ident.user_id)
    if args.json:
        print(json.dumps(data, indent=2, default=str))
        return 0
    rows = [
        ("problems detected", data["problems"]),
        ("open", data["open"]),
        ("solved", data["solved"]),
        ("average time to solve", format_duration(data["avgSolveSeconds"])),
        ("solutions captured", data["solutions"]),
        ("  of which from git history", data["solutionsFromHistory"]),
        ("solutions reused", data["reused"]),
        ("estimated time saved", format_duration(data["timeSavedSeconds"])),
        ("knowledge items", data["knowledgeItems"]),
    ]
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        print(f"{key:<{width}}  {value}")
    if data["topSignatures"]:
        print("\ntop recurring problems")
        for top in data["topSignatures"]:
            print(f"  {top['seen']:>4}× seen {top['fixed']:>4}× fixed  {top['signature']}")
    if data["solutionsBySource"]:
        print("\nsolutions by source: " + ", ".join(
            f"{k} {v}" for k, v in sorted(data["solutionsBySource"].items())))  # fmt: skip
    return 0
