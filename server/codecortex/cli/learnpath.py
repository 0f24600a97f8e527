"""`codecortex learn-path`: a learning path of weekly modules built by the configured model from
the problems you keep hitting, pointing at your own code and past fixes; mark lessons done."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from codecortex.config import Settings
from codecortex.llm import LLMError
from codecortex.memory.identity import resolve_identity
from codecortex.store.pool import connect
from codecortex.synthesis import learning_paths
from codecortex.synthesis.runner import Synthesizer


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--new", action="store_true", help="build a new path (default: show the latest one)"
    )
    parser.add_argument("--weeks", type=int, default=learning_paths.DEFAULT_WEEKS)
    parser.add_argument("--done", metavar="LESSON", help="mark a lesson (e.g. w1-l2) done")
    parser.add_argument("--undo", metavar="LESSON", help="mark a lesson not done")
    parser.add_argument("--path", metavar="ID", help="the learning path (default: the latest)")
    parser.add_argument("--json", action="store_true")


def render(path: dict[str, Any]) -> str:
    p = path["progress"]
    out = [
        f"{path['title']}  ({path['difficulty']}, {path['durationWeeks']} weeks, "
        f"{p['percent']}% done, week {p['currentWeek']})",
        f"id {path['id']}",
    ]
    for module in path["modules"]:
        out.append(f"\nWeek {module['week']}: {module['title']}")
        if module["goal"]:
            out.append(f"  goal: {module['goal']}")
        for lesson in module["lessons"]:
            mark = "x" if lesson["done"] else " "
            out.append(f"  [{mark}] {lesson['id']}  {lesson['title']}")
            if lesson["description"]:
                out.append(f"        {lesson['description']}")
            for f in lesson["files"]:
                out.append(f"        file: {f}")
            for sid in lesson["solution_ids"]:
                out.append(f"        past fix: {sid}")
            if lesson["exercise"]:
                out.append(f"        exercise: {lesson['exercise']}")
    return "\n".join(out)


async def run(args: argparse.Namespace, settings: Settings) -> int:
    synth = Synthesizer(settings.llm_settings())
    try:
        async with connect(settings) as conn:
            ident, _root = await resolve_identity(conn, settings, Path.cwd())
            row: dict[str, Any] | None = None
            if args.done or args.undo:
                path_id = args.path or (
                    (await learning_paths.latest(conn, ident.user_id)) or {}
                ).get("id")
                if path_id is None:
                    print("codecortex: no learning path yet (run `codecortex learn-path --new`)",
                          file=sys.stderr)  # fmt: skip
                    return 1
                try:
                    row = await learning_paths.mark_lesson(
                        conn, ident.user_id, path_id, args.done or args.undo, bool(args.done)
                    )
                except (LookupError, ValueError) as exc:
                    print(f"codecortex: {exc}", file=sys.stderr)
                    return 1
            elif args.path:
                try:
                    row = await learning_paths.get(conn, ident.user_id, args.path)
                except LookupError as exc:
                    print(f"codecortex: {exc}", file=sys.stderr)
                    return 1
            elif not args.new:
                row = await learning_paths.latest(conn, ident.user_id)
            if row is None:
                if synth.settings.provider == "none":
                    print("codecortex: no model is configured: set CODECORTEX_LLM_PROVIDER, "
                          "CODECORTEX_LLM_MODEL (and CODECORTEX_LLM_BASE_URL or an API key)",
                          file=sys.stderr)  # fmt: skip
                    return 1
                try:
                    row = await learning_paths.generate(
                        conn, synth, ident, weeks=args.weeks, use_cache=not args.new
                    )
                except learning_paths.NotEnoughHistory as exc:
                    print(f"codecortex: {exc}", file=sys.stderr)
                    return 1
                except LLMError as exc:
                    print(f"codecortex: could not build a learning path: {exc}", file=sys.stderr)
                    return 1
    finally:
        await synth.aclose()
    path = learning_paths.path_json(row)
    print(json.dumps(path, indent=2) if args.json else render(path))
    return 0
