"""`codecortex check PATH...`: run the installed detectors, record problems, learn the fixes of
problems gone since the last check, and print each problem with the fixes CodeCortex knows.

Each file is recorded in its own transaction, so Ctrl-C leaves the database consistent.
"""

from __future__ import annotations

import argparse
import difflib
import errno
import json
import sys
from pathlib import Path
from typing import Any

from codecortex import presentation
from codecortex.config import Settings, load_project_config
from codecortex.detectors import TOOLS, run_detectors
from codecortex.diagnostics import TextEdit, apply_edits
from codecortex.files.text import read_text_file
from codecortex.memory.identity import resolve_identity
from codecortex.memory.problem_memory import Memory
from codecortex.memory.signatures import normalise_tool
from codecortex.memory.views import ProblemView
from codecortex.reports.achievements import record_progress
from codecortex.store.pool import connect
from codecortex.syntax.grammars import language_for_path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("paths", nargs="*", default=["."], metavar="PATH")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.add_argument("--fix", action="store_true", help="apply replayable past fixes")
    parser.add_argument(
        "--min-confidence", type=float, default=None,
        help="confidence needed by --fix (default: the replayMinConfidence setting)",
    )  # fmt: skip
    parser.add_argument(
        "--tools", help="comma-separated detectors to run (default: those the project uses)"
    )


def _replay_diff(path: str, before: str, after: str) -> str:
    lines = difflib.unified_diff(
        before.splitlines(keepends=True), after.splitlines(keepends=True),
        fromfile=path, tofile=path, n=1,
    )  # fmt: skip
    return "".join(line if line.endswith("\n") else line + "\n" for line in lines)


def _view_json(path: str, view: ProblemView, text: str) -> dict[str, Any]:
    d = view.diagnostic
    return {
        "path": path,
        "line": d.range.start.line + 1,
        "column": d.range.start.character + 1,
        "endLine": d.range.end.line + 1,
        "endColumn": d.range.end.character + 1,
        "tool": view.signature.tool,
        "code": d.code,
        "message": d.message,
        "signature": view.signature.key,
        "problemType": view.problem_type,
        "seen": int((view.history or {}).get("seen") or 1),
        "fixes": [
            {
                "solutionId": str(f.solution["id"]),
                "confidence": round(f.confidence, 3),
                "verified": f.verified is True,
                "from": presentation.where_from(f.solution),
                "diff": _replay_diff(path, text, f.replay.new_text),
            }
            for f in view.fixes
        ],
    }


def _apply_best(text: str, views: list[ProblemView], threshold: float) -> tuple[str, list[Any]]:
    """Apply the best verified fix of each view above `threshold`, skipping overlapping edits
    (a fix the detector could not check is shown, never applied)."""
    chosen: list[TextEdit] = []
    applied: list[Any] = []
    taken: list[tuple[tuple[int, int], tuple[int, int]]] = []
    for view in views:
        fix = view.best_fix
        if fix is None or fix.verified is not True or fix.confidence < threshold:
            continue
        spans = [
            (
                (e.range.start.line, e.range.start.character),
                (e.range.end.line, e.range.end.character),
            )
            for e in fix.replay.edits
        ]
        if any(a[0] <= b[1] and b[0] <= a[1] for a in spans for b in taken):
            continue
        taken.extend(spans)
        chosen.extend(fix.replay.edits)
        applied.append(fix)
    return (apply_edits(text, chosen) if chosen else text), applied


async def run(args: argparse.Namespace, settings: Settings) -> int:
    paths: list[Path] = []
    bad_input = False  # a named path that cannot be checked: said, the rest checked, exit 2
    for name in args.paths:
        usable, reason = _usable(name)
        if usable is None:
            print(f"codecortex: error: {name}: {reason}", file=sys.stderr)
            bad_input = True
        else:
            paths.append(usable)
    if not paths:
        return 2
    threshold = (
        settings.replay_min_confidence if args.min_confidence is None else args.min_confidence
    )
    # Without --tools: the tools the project uses (see run_detectors); named ones always run.
    tools = [t.strip() for t in args.tools.split(",") if t.strip()] if args.tools else None
    unknown = [t for t in tools or [] if t not in TOOLS]
    if unknown:
        print(
            f"codecortex: error: unknown detector {', '.join(unknown)} (known: {', '.join(TOOLS)})",
            file=sys.stderr,
        )
        return 2
    memory = Memory(settings)
    report: dict[str, Any] = {"problems": [], "resolved": [], "fixed": 0}
    out = sys.stdout
    async with connect(settings) as conn:
        folder = paths[0] if paths[0].is_dir() else paths[0].parent
        ident, root = await resolve_identity(conn, settings, folder)
        quiet = bool(getattr(args, "quiet", False))
        project = load_project_config(root, root)
        for error in [] if quiet else project.errors:
            print(f"codecortex: warning: {error}", file=sys.stderr)
        if not project.enable:
            print(
                f"codecortex: disabled for {project.root} ([tool.codecortex] enable = false)",
                file=sys.stderr,
            )
            return 0
        if tools is None and project.detectors is not None:
            tools = list(project.detectors)  # the project asks for these: run them
        run_ = await run_detectors(
            paths, root=root, tools=tools, max_file_size=settings.max_file_size
        )
        for ignored in [p for p in run_.diagnostics if project.ignores(p)]:
            del run_.diagnostics[ignored]  # never recorded, never resolved
        # A tool the user named and that did not run is worth a line; the default set skips
        # what the project does not use without a word (--json lists it under "skipped").
        for tool, reason in sorted(run_.skipped.items()):
            if reason == "no files to check" or tools is None or quiet:
                continue
            print(f"codecortex: skipped {tool}: {reason}", file=sys.stderr)
        for tool, error in sorted(run_.errors.items()):
            print(f"codecortex: {tool} failed: {error}", file=sys.stderr)
        failed = bool(run_.errors)  # an incomplete check must not look clean
        for path, reason in sorted(run_.skipped_files.items()):
            if not quiet:
                print(f"codecortex: skipped {path}: {reason}", file=sys.stderr)
        report["skipped"] = {**run_.skipped, **{str(p): r for p, r in run_.skipped_files.items()}}
        report["errors"] = dict(run_.errors)
        checked_by: dict[Path, set[str]] = {}
        for tool, files in run_.checked.items():
            for f in files:
                checked_by.setdefault(f, set()).add(normalise_tool(tool))
        remaining = 0
        for path in sorted(run_.diagnostics):
            text, why = read_text_file(path, settings.max_file_size)
            if text is None:
                print(f"codecortex: skipped {path}: {why}", file=sys.stderr)
                continue
            display = _display(path)
            language = language_for_path(path)
            async with conn.transaction():
                result = await memory.observe(
                    conn, ident, str(path), text, language, run_.diagnostics[path],
                    tools=checked_by.get(path, set()), detection_method="cli",
                )  # fmt: skip
            await memory.recall(
                conn, ident, text, language, result.views, related=False, path=path, root=root
            )
            for resolved in result.resolved:
                item = {
                    "path": display,
                    "line": (resolved.problem.get("line_number") or 0) + 1,
                    "message": resolved.problem.get("error_message"),
                    "learned": resolved.solution_id is not None,
                    "reason": resolved.reason,
                }
                report["resolved"].append(item)
                if not args.json:
                    what = (
                        "learned its fix" if item["learned"] else f"not learned: {item['reason']}"
                    )
                    print(
                        f"{display}:{item['line']}: resolved: {item['message']} ({what})", file=out
                    )
            views = sorted(
                result.views,
                key=lambda v: (v.diagnostic.range.start.line, v.diagnostic.range.start.character),
            )
            fixed_views: set[int] = set()
            if args.fix:
                new_text, applied = _apply_best(text, views, threshold)
                if applied:
                    path.write_text(new_text, encoding="utf-8")
                    for fix in applied:
                        await memory.record_applied(conn, fix.solution)
                    fixed_ids = {id(f) for f in applied}
                    fixed_views = {
                        i for i, v in enumerate(views) if v.best_fix and id(v.best_fix) in fixed_ids
                    }
                    report["fixed"] += len(applied)
            for i, view in enumerate(views):
                item = _view_json(display, view, text)
                item["fixed"] = i in fixed_views
                report["problems"].append(item)
                if i not in fixed_views:
                    remaining += 1
                if not args.json:
                    _print_view(item, out)
        await record_progress(conn, ident.user_id)  # what was learned and applied counts now
    if args.json:
        json.dump(report, out, indent=2, default=str)
        out.write("\n")
    else:
        fixed = f", {report['fixed']} fixed" if args.fix else ""
        learned = sum(r["learned"] for r in report["resolved"])
        print(
            f"{remaining} problem(s){fixed}, {len(report['resolved'])} resolved "
            f"({learned} fix(es) learned)",
            file=out,
        )
    if bad_input or failed:
        return 2
    return 1 if remaining else 0


def _usable(name: str) -> tuple[Path | None, str]:
    """(the resolved path, "") or (None, why it cannot be checked)."""
    try:
        path = Path(name).resolve(strict=True)
    except RuntimeError:  # Python 3.11 reports a symlink loop so
        return None, "a symlink loop"
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return None, "a symlink loop"
        return None, (exc.strerror or str(exc)).lower()
    if not (path.is_dir() or path.is_file()):
        return None, "not a regular file or directory"
    return path, ""


def _display(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _print_view(item: dict[str, Any], out: Any) -> None:
    status = "  [fixed]" if item["fixed"] else ""
    code = f"{item['code']} " if item["code"] else ""
    print(f"{item['path']}:{item['line']}:{item['column']}: {code}{item['message']} "
          f"[{item['tool']}]{status}", file=out)  # fmt: skip
    for fix in item["fixes"][:1]:
        origin = f" from {fix['from']}" if fix["from"] else ""
        checked = "" if fix["verified"] else ", unverified"
        print(f"  known fix (confidence {fix['confidence']:.0%}{checked}{origin}):", file=out)
        for line in fix["diff"].splitlines()[2:]:
            print(f"    {line}", file=out)
