"""`codecortex report --html FILE`: a self-contained HTML page with charts, viewable offline."""

from __future__ import annotations

import argparse
from pathlib import Path

from codecortex.config import Settings
from codecortex.memory.identity import resolve_identity
from codecortex.reports.html import render_html
from codecortex.reports.stats import collect_stats
from codecortex.store import team as team_store
from codecortex.store.pool import connect


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--html", type=Path, required=True, metavar="FILE", help="output file")


async def run(args: argparse.Namespace, settings: Settings) -> int:
    async with connect(settings) as conn:
        ident, _root = await resolve_identity(conn, settings, Path.cwd())
        name = await team_store.user_name(conn, ident.user_id)
        data = await collect_stats(conn, ident.user_id)
    page = render_html(data, user=name or ident.user_name)
    args.html.parent.mkdir(parents=True, exist_ok=True)
    args.html.write_text(page, encoding="utf-8")
    print(f"wrote {args.html} ({len(page) // 1024 + 1} KiB)")
    return 0
