"""`codecortex stats`: what CodeCortex has learned and how much it helped."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from codecortex.config import Settings
from codecortex.memory.identity import resolve_identity
from codecortex.presentation import format_duration
from codecortex.reports.stats import collect_stats
from codecortex.store.pool import connect


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
        ("  of which from git history and pull requests", data["solutionsFromHistory"]),
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
    m = data["metrics"]
    print("\nsuccess metrics")
    for key, value in (
        ("replays applied", m["replaysApplied"]),
        ("your solutions reused", m["solutionsReused"]),
        ("time saved by replays", format_duration(m["timeSavedSeconds"])),
        ("insights applied", m["insightsApplied"]),
        ("recurring patterns fixed", m["patternsDiscovered"]),
    ):
        print(f"  {key:<{width - 2}}  {value}")
    if data["acceptanceBySource"]:
        print("\nacceptance per source")
        print(f"  {'source':<12} {'solutions':>9} {'applied':>8} {'rejected':>8} {'rate':>6}")
        for src in data["acceptanceBySource"]:
            rate = "-" if src["acceptance"] is None else f"{src['acceptance']:.0%}"
            print(
                f"  {src['source']:<12} {src['solutions']:>9} {src['applied']:>8}"
                f" {src['rejected']:>8} {rate:>6}"
            )
    active = [w for w in data["weekly"] if w["detected"] or w["solved"] or w["replays"]]
    if active:
        print("\nper week        detected  solved  replays  time saved")
        for w in active:
            print(
                f"  {w['week']}  {w['detected']:>8} {w['solved']:>7} {w['replays']:>8}"
                f"  {format_duration(w['timeSavedSeconds'])}"
            )
    if data["achievements"]:
        print("\nachievements: " + ", ".join(a["title"] for a in data["achievements"]))
    for t in data.get("promptTemplates") or []:
        rate = "n/a" if t["acceptanceRate"] is None else f"{t['acceptanceRate']:.0%}"
        print(
            f"\nprompt {t['template']} v{t['version']}: {t['executions']} runs "
            f"({t['cacheHits']} cached, {t['failures']} failed), {t['presented']} fixes shown, "
            f"{t['applied']} applied, {t['modified']} modified, {t['rejected']} rejected, "
            f"acceptance {rate}"
        )
    return 0
