"""`codecortex learn-history [PATH]`: learn fixes from a repository's git history.

The work runs as a `learn_history` job on the queue, in this process: a progress bar on a
terminal, plain progress lines otherwise. Interrupted (Ctrl-C, killed), the next run continues
after the last commit it finished; a run over commits already mined adds nothing.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from codecortex.cli.progress import ProgressBar
from codecortex.cli.run_job import ran_here, run_here
from codecortex.config import Settings
from codecortex.files.roots import git
from codecortex.history.job import JOB_TYPE, LEASE_SECONDS, enqueue_learn_history, make_job_handler
from codecortex.history.options import HISTORY_TOOLS, HistoryOptions
from codecortex.memory.identity import resolve_identity
from codecortex.reports.achievements import record_progress
from codecortex.store import history as history_store
from codecortex.store.pool import connect


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("path", nargs="?", default=".", metavar="PATH", help="the repository")
    limit = parser.add_mutually_exclusive_group()
    limit.add_argument("--since", metavar="DATE", help="only commits after DATE (git log --since)")
    limit.add_argument(
        "--max-commits", type=int, metavar="N", help="mine at most N commits in this run"
    )
    parser.add_argument("--branch", metavar="B", help="branch or commit to walk (default: HEAD)")
    parser.add_argument(
        "--tools",
        help=f"comma-separated detectors of {','.join(HISTORY_TOOLS)} (default: ruff, or pyflakes"
        " without ruff, or the project's [tool.codecortex] detectors; mypy only when named)",
    )
    parser.add_argument("--json", action="store_true", help="print the report as JSON")


def summary(report: dict[str, Any]) -> str:
    if report.get("up_to_date"):
        return f"history up to date (synced to {str(report.get('head') or '')[:12]})"
    parts = [
        f"learned {report['solutions_learned']} fix(es) from {report['commits_done']} commit(s)",
        f"{report['versions_checked']} file version(s) checked"
        f" ({report['versions_cached']} from cache)",
    ]
    if report.get("solutions_known"):
        parts.append(f"{report['solutions_known']} already known")
    line = ", ".join(parts) + f" in {report['seconds']:.1f} s"
    skipped = {**report.get("commits_skipped", {})}
    if skipped:
        line += "\nskipped commits: " + ", ".join(f"{k} {v}" for k, v in sorted(skipped.items()))
    if report.get("files_skipped"):
        line += "\nskipped files: " + ", ".join(
            f"{k} {v}" for k, v in sorted(report["files_skipped"].items())
        )
    left = int(report.get("commits_pending") or 0) - int(report.get("commits_done") or 0)
    if left > 0:
        line += f"\n{left} commit(s) left: run again to continue"
    return line


async def run(args: argparse.Namespace, settings: Settings) -> int:
    folder = Path(args.path).resolve()
    if not folder.is_dir():
        print(f"codecortex: error: not a directory: {folder}", file=sys.stderr)
        return 2
    if await git(folder, "rev-parse", "--show-toplevel") is None:
        print(f"codecortex: error: not a git repository: {folder}", file=sys.stderr)
        return 2
    if args.max_commits is not None and args.max_commits < 1:
        print("codecortex: error: --max-commits must be at least 1", file=sys.stderr)
        return 2
    tools = [t.strip() for t in args.tools.split(",") if t.strip()] if args.tools else None
    options = HistoryOptions.from_settings(
        settings, branch=args.branch, since=args.since, max_commits=args.max_commits, tools=tools
    )
    printer = ProgressBar("learn-history", sys.stderr, enabled=not getattr(args, "quiet", False))
    async with connect(settings) as conn:
        ident, root = await resolve_identity(conn, settings, folder)
        job_id = await enqueue_learn_history(conn, ident, root, options)
        # Ctrl-C: the commits done so far are saved; the next run continues from there.
        job = await run_here(
            conn, JOB_TYPE, make_job_handler(settings), job_id, lease_seconds=LEASE_SECONDS,
            printer=printer,
        )  # fmt: skip
        await record_progress(conn, ident.user_id)
    if not ran_here(
        job, "learn-history", "this repository's history is being learned by another process"
        " ({locked_by}); try again when it is done",
    ):  # fmt: skip
        return 2
    if job.status != "completed":
        print(f"codecortex: error: learning from history {job.status}: {job.last_error}",
              file=sys.stderr)  # fmt: skip
        return 1
    report = job.result or {}
    if args.json:
        json.dump(report, sys.stdout, indent=2, default=str)
        sys.stdout.write("\n")
    else:
        print(summary(report))
        for tool, error in sorted((report.get("tool_errors") or {}).items()):
            print(f"codecortex: {tool}: {error}", file=sys.stderr)
    return 0


async def history_detail(conn: Any) -> str:
    """One line for `codecortex doctor`: what was learned from git history so far."""
    try:
        summary = await history_store.history_summary(conn)
    except Exception as exc:  # an unmigrated or unreachable database: doctor reports that
        return f"unknown ({type(exc).__name__})"
    if not summary["repos"] and not summary["solutions"]:
        return "no repository mined yet (run `codecortex learn-history`)"
    repos = ", ".join(
        f"{r['name']} at {str(r['last_synced_sha'])[:8]}" for r in summary["repos"][:3]
    )
    more = f" (+{len(summary['repos']) - 3} more)" if len(summary["repos"]) > 3 else ""
    return (
        f"{summary['solutions']} solution(s) learned from {summary['commits']} commit(s);"
        f" mined: {repos or 'none'}{more}"
    )
