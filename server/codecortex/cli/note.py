"""`codecortex note add TEXT | --file F [--tag T] [--title T] [--share]`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from codecortex.config import Settings
from codecortex.files.text import read_text_file
from codecortex.knowledge.docs import add_note
from codecortex.memory.identity import resolve_identity
from codecortex.memory.problem_memory import Memory
from codecortex.reports.achievements import record_progress
from codecortex.store.pool import connect


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="note_command", metavar="ACTION", required=True)
    add = sub.add_parser("add", help="add a note (or a snippet with --file)")
    add.add_argument("text", nargs="*", help="the note text ('-' reads standard input)")
    add.add_argument("--file", type=Path, help="save this file (or --lines of it) as a snippet")
    add.add_argument("--lines", help="START-END line range of --file (1-based, inclusive)")
    add.add_argument("--title", default="")
    add.add_argument("--tag", action="append", default=[], dest="tags")
    add.add_argument("--share", action="store_true", help="visible to the team")


async def run(args: argparse.Namespace, settings: Settings) -> int:
    text = " ".join(args.text)
    if text == "-":
        text = sys.stdin.read()
    kind, source, line_start = "note", None, None
    if args.file is not None:
        content, reason = read_text_file(args.file, settings.max_file_size)
        if content is None:
            print(f"codecortex: error: cannot read {args.file}: {reason}", file=sys.stderr)
            return 2
        if args.lines:
            start, _, end = args.lines.partition("-")
            lines = content.splitlines()
            line_start = int(start)
            content = "\n".join(lines[line_start - 1 : int(end or start)])
        kind, source = "snippet", str(args.file)
        text = (text + "\n\n" if text else "") + content
    if not text.strip():
        print("codecortex: error: a note needs text (or --file)", file=sys.stderr)
        return 2
    memory = Memory(settings)
    async with connect(settings) as conn:
        ident, _root = await resolve_identity(conn, settings, Path.cwd())
        item_id = await add_note(
            conn, memory.embedder, user_id=ident.user_id, repo_id=ident.repo_id, text=text,
            title=args.title or (Path(source).name if source else ""), tags=args.tags, kind=kind,
            source_path=source, line_start=line_start,
            visibility="team" if args.share else settings.default_visibility,
        )  # fmt: skip
        await record_progress(conn, ident.user_id)
    print(f"added {kind} {item_id}")
    return 0
