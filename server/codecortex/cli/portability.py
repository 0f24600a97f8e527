"""`codecortex export [FILE] [--private]` and `codecortex import FILE`: memory as NDJSON.

codecortex export --private memory.ndjson      # everything of yours, private rows too
CODECORTEX_DATABASE_URL=postgresql://cc_alice:...@team/db codecortex import memory.ndjson
"""

from __future__ import annotations

import argparse
import io
import sys
from pathlib import Path

from codecortex.config import Settings
from codecortex.memory.identity import resolve_identity
from codecortex.memory.problem_memory import Memory
from codecortex.reports.achievements import record_progress
from codecortex.store.pool import connect
from codecortex.team import portability


def add_arguments(parser: argparse.ArgumentParser) -> None:
    if parser.prog.endswith("import"):
        parser.add_argument(
            "file", help="an NDJSON file written by `codecortex export` ('-': stdin)"
        )
        return
    parser.add_argument("file", nargs="?", default="-", help="output file (default: stdout)")
    parser.add_argument(
        "--private",
        action="store_true",
        help="include private rows (your problems, private solutions and notes)",
    )


async def run(args: argparse.Namespace, settings: Settings) -> int:
    if args.command == "import":
        return await _import(args, settings)
    async with connect(settings) as conn:
        ident, _root = await resolve_identity(conn, settings, Path.cwd())
        buffer = io.StringIO()
        counts = await portability.export_ndjson(conn, ident, buffer, include_private=args.private)
    if args.file == "-":
        sys.stdout.write(buffer.getvalue())
    else:
        Path(args.file).write_text(buffer.getvalue(), encoding="utf-8")
    summary = ", ".join(f"{n} {kind}s" for kind, n in counts.items())
    print(f"exported {summary}" + ("" if args.private else " (team rows only; --private for all)"),
          file=sys.stderr)  # fmt: skip
    return 0


async def _import(args: argparse.Namespace, settings: Settings) -> int:
    try:
        if args.file == "-":
            lines = sys.stdin.read().splitlines()
        else:
            lines = Path(args.file).read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        print(f"codecortex: error: cannot read {args.file}: {exc.strerror}", file=sys.stderr)
        return 2
    except UnicodeDecodeError as exc:
        print(
            f"codecortex: error: {args.file}: not UTF-8 (invalid byte at offset {exc.start})",
            file=sys.stderr,
        )
        return 2
    async with connect(settings) as conn:
        ident, _root = await resolve_identity(conn, settings, Path.cwd())
        try:
            counts = await portability.import_ndjson(conn, ident, lines, Memory(settings))
        except portability.ImportFormatError as exc:
            print(f"codecortex: error: {args.file}: {exc}", file=sys.stderr)
            return 2
        await record_progress(conn, ident.user_id)
    for kind, c in counts.items():
        print(f"{kind}s: {c['added']} added, {c['skipped']} already there")
    return 0
