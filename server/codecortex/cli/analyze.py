"""`codecortex analyze [PATH]` and `codecortex insights {list,ignore,reopen}`.

`analyze` runs a progressive analysis session of the repository containing PATH (quick, then
medium, then deep when a model is configured) as a job on the queue, in this process, with a
progress bar on a terminal (plain lines otherwise, on stderr), then prints the open insights
ranked by priority. Files unchanged since the last analysis are skipped; a session interrupted by
a crash is resumed by the next run (or by the language server) once its lease expires.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

from codecortex.analysis import pipeline as ap
from codecortex.cli.progress import ProgressBar
from codecortex.cli.run_job import reuse
from codecortex.config import Settings
from codecortex.memory.identity import resolve_identity
from codecortex.store import analysis as store
from codecortex.store.pool import connect

STATUSES = ("open", "ignored", "applied", "expired")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    if parser.prog.split()[-1] == "insights":
        sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
        ls = sub.add_parser("list", help="insights of the repository, ranked by priority")
        ls.add_argument("path", nargs="?", default=".", metavar="PATH")
        ls.add_argument(
            "--status", default="open", choices=(*STATUSES, "all"), help="default: open"
        )
        ls.add_argument("--limit", type=int, default=50, help="0 = all (default 50)")
        ls.add_argument("--json", action="store_true", help="machine-readable output")
        for name, text in (
            ("ignore", "ignore insights: they stay ignored in later analyses"),
            ("reopen", "show ignored (or applied) insights again"),
        ):
            p = sub.add_parser(name, help=text)
            p.add_argument("ids", nargs="+", metavar="ID", help="insight id or a unique prefix")
        return
    parser.add_argument("path", nargs="?", default=".", metavar="PATH")
    parser.add_argument(
        "--phase",
        choices=ap.PHASES,
        default="deep",
        help="last phase to run (default deep; deep needs a configured model, else skipped)",
    )
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.add_argument("--limit", type=int, default=25, help="insights to print, 0 = all")


async def run(args: argparse.Namespace, settings: Settings) -> int:
    if args.command == "insights":
        return await _insights(args, settings)
    return await _analyze(args, settings)


# --------------------------------------------------------------------------- progress


# --------------------------------------------------------------------------- output


def insight_json(row: dict[str, Any]) -> dict[str, Any]:
    detail = row.get("detail") or {}
    return {
        "id": str(row["id"]),
        "type": row["type"],
        "rule": row.get("rule"),
        "title": row["title"],
        "summary": row.get("summary"),
        "severity": row.get("severity"),
        "status": row.get("status"),
        "file": row.get("file_path"),
        "line": None if row.get("line_start") is None else int(row["line_start"]) + 1,
        "endLine": None if row.get("line_end") is None else int(row["line_end"]) + 1,
        "priority": row.get("priority_score"),
        "category": row.get("priority_category"),
        "effort": row.get("effort_estimate"),
        "impact": row.get("business_impact"),
        "actionability": row.get("actionability_score"),
        "confidence": row.get("confidence_score"),
        "why": detail.get("why"),
        "howToFix": detail.get("how_to_fix") or detail.get("suggestion"),
        "hasFix": bool(detail.get("fix")),
        "agent": row.get("ai_agent"),
    }


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    return value


def print_table(rows: list[dict[str, Any]], out: TextIO) -> None:
    if not rows:
        print("no insights", file=out)
        return
    cols = shutil.get_terminal_size((120, 20)).columns
    items = [insight_json(r) for r in rows]
    locations = [
        f"{i['file'] or '(project)'}" + (f":{i['line']}" if i["line"] else "") for i in items
    ]
    loc_w = min(max(len(x) for x in locations), 40)
    type_w = max(len(i["type"]) for i in items)
    head = (
        f"{'ID':<8}  {'PRI':>3}  {'SEVERITY':<8}  {'TYPE':<{type_w}}  {'LOCATION':<{loc_w}}  TITLE"
    )
    print(head, file=out)
    for i, loc in zip(items, locations, strict=True):
        if len(loc) > loc_w:
            loc = "…" + loc[-(loc_w - 1) :]
        pri = f"{i['priority']:.0f}" if i["priority"] is not None else "-"
        fix = " [fix]" if i["hasFix"] else ""
        line = (
            f"{i['id'][:8]:<8}  {pri:>3}  {i['severity'] or '':<8}  {i['type']:<{type_w}}  "
            f"{loc:<{loc_w}}  {i['title']}{fix}"
        )
        print(line if len(line) <= max(cols, 60) else line[: max(cols, 60) - 1] + "…", file=out)


def _phase_text(phases: dict[str, Any]) -> str:
    parts = []
    for name in ap.PHASES:
        p = phases.get(name) or {}
        status = p.get("status", "pending")
        text = f"{name} {status}"
        if p.get("reason") and p.get("reason") != "not requested":
            text += f" ({p['reason']})"
        elif p.get("error"):
            text += f" ({p['error'][:80]})"
        parts.append(text)
    return ", ".join(parts)


# --------------------------------------------------------------------------- analyze


async def _analyze(args: argparse.Namespace, settings: Settings) -> int:
    path = Path(args.path).resolve()
    if not path.is_dir():
        print(f"codecortex: error: not a directory: {args.path}", file=sys.stderr)
        return 2
    view = ProgressBar("analyze", sys.stderr, enabled=not getattr(args, "quiet", False))
    async with connect(settings) as conn:
        ident, root = await resolve_identity(conn, settings, path)

        def connection() -> Any:
            return reuse(conn)

        while True:
            job_id = await ap.enqueue(conn, root, ident.repo_id, ident.user_id, args.phase)
            try:
                job = await ap.run_inline(connection, job_id, settings, on_progress=view)
            finally:
                view.close()
            wanted = ap.PHASES.index(args.phase)
            got = ap.PHASES.index((job.payload or {}).get("phase") or "deep")
            if job.status != "completed" or got >= wanted:
                break  # else: it was another run's job asking for less; now run ours
        session = await store.session_for_job(conn, job_id)
        limit = args.limit if args.limit > 0 else None
        rows = await store.list_insights(conn, ident.repo_id, limit=limit)
        summary = await store.insights_summary(conn, ident.repo_id)
    phases = (session or {}).get("phases") or {}
    if args.json:
        print(
            json.dumps(
                {
                    "root": str(root),
                    "job": job_id,
                    "status": job.status,
                    "error": job.last_error if job.status != "completed" else None,
                    "session": _jsonable(
                        {k: session[k] for k in ("id", "status", "phases", "insights_summary")}
                        if session
                        else None
                    ),
                    "result": job.result,
                    "summary": summary,
                    "insights": [insight_json(r) for r in rows],
                },
                indent=2,
                default=str,
            )
        )
    else:
        out = sys.stdout
        print_table(rows, out)
        shown = f" (top {len(rows)} shown)" if limit and summary["total"] > len(rows) else ""
        print(
            f"\n{summary['total']} open insights{shown}: {summary['critical']} critical, "
            f"{summary['warnings']} warnings, {summary['suggestions']} suggestions; "
            f"{summary['ignored']} ignored",
            file=out,
        )
        result = job.result or {}
        if job.status == "completed":
            print(
                f"{root}: {result.get('changed', 0)} files analysed, "
                f"{result.get('unchanged', 0)} unchanged, {result.get('removed', 0)} removed; "
                f"{_phase_text(phases)}",
                file=out,
            )
    if job.status == "cancelled":
        print("codecortex: analysis cancelled", file=sys.stderr)
        return 1
    if job.status != "completed":
        print(f"codecortex: analysis failed: {job.last_error}", file=sys.stderr)
        return 1
    return 0


# --------------------------------------------------------------------------- insights


async def _insights(args: argparse.Namespace, settings: Settings) -> int:
    async with connect(settings) as conn:
        if args.action == "list":
            path = Path(args.path).resolve()
            ident, root = await resolve_identity(conn, settings, path)
            statuses = STATUSES if args.status == "all" else (args.status,)
            rows = await store.list_insights(
                conn, ident.repo_id, statuses=statuses, limit=args.limit or None
            )
            if args.json:
                print(
                    json.dumps(
                        {"root": str(root), "insights": [insight_json(r) for r in rows]}, indent=2
                    )
                )
            else:
                print_table(rows, sys.stdout)
            return 0
        status = "ignored" if args.action == "ignore" else "open"
        failed = False
        for ident_text in args.ids:
            found = await store.find_insight(conn, ident_text)
            if len(found) != 1:
                reason = "no insight" if not found else "more than one insight"
                print(f"codecortex: error: {reason} with id {ident_text!r}", file=sys.stderr)
                failed = True
                continue
            row = found[0]
            await store.set_insight_status(conn, row["id"], status)
            where = row["file_path"] or "(project)"
            if row.get("line_start") is not None:
                where += f":{row['line_start'] + 1}"
            verb = "ignored" if status == "ignored" else "reopened"
            print(f"{verb} {str(row['id'])[:8]} {where} {row['title']}")
        return 2 if failed else 0
