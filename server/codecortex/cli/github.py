"""`codecortex github login|logout|status|repos|select|unselect|sync`: a GitHub account and its
repositories; `sync` learns fixes from merged pull requests of the selected repositories (a
`github_sync` job on the queue, run in this process, with progress)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TextIO

from codecortex.cli.progress import ProgressBar
from codecortex.cli.run_job import ran_here, run_here
from codecortex.config import Settings
from codecortex.files.roots import user_name
from codecortex.github import account as accounts
from codecortex.github.account import AccountError
from codecortex.github.api import GitHubError
from codecortex.github.device import DeviceCode
from codecortex.github.repos import refresh_repos
from codecortex.github.sync import (
    JOB_TYPE,
    LEASE_SECONDS,
    enqueue_github_sync,
    make_job_handler,
    parse_since,
)
from codecortex.github.vault import VaultError
from codecortex.history.options import HISTORY_TOOLS, HistoryOptions
from codecortex.memory.identity import Identity
from codecortex.reports.achievements import record_progress
from codecortex.store import github as store
from codecortex.store import identity as identity_store
from codecortex.store.jobs import Job
from codecortex.store.pool import connect


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    sub.add_parser("login", help="sign in with the device flow (shows a code to enter on GitHub)")
    sub.add_parser("logout", help="sign out: delete the stored tokens")
    p = sub.add_parser("status", help="the account, scopes and token expiry (never the token)")
    p.add_argument("--json", action="store_true")
    p = sub.add_parser("repos", help="list your repositories (fetched from GitHub)")
    p.add_argument("--offline", action="store_true", help="list what was fetched last time")
    p.add_argument("--json", action="store_true")
    for name, help_text in (("select", "learn from these"), ("unselect", "stop learning from")):
        p = sub.add_parser(name, help=f"{help_text} repositories (OWNER/NAME)")
        p.add_argument("names", nargs="+", metavar="OWNER/NAME")
    p = sub.add_parser("sync", help="learn fixes from merged pull requests of selected repos")
    p.add_argument("names", nargs="*", metavar="OWNER/NAME", help="default: all selected")
    p.add_argument("--since", metavar="DATE", help="only pull requests merged after DATE (ISO)")
    p.add_argument("--max-prs", type=int, metavar="N", help="at most N pull requests per repo")
    p.add_argument(
        "--tools",
        help=f"comma-separated detectors (default: installed of {','.join(HISTORY_TOOLS)})",
    )
    p.add_argument("--json", action="store_true", help="print the report as JSON")


def _err(message: str) -> None:
    print(f"codecortex: error: {message}", file=sys.stderr)


async def _user(conn: Any, settings: Settings) -> tuple[Any, str]:
    name, email = await user_name(settings.user, Path.cwd())
    return await identity_store.ensure_user(conn, name, email), name


def _stamp(value: Any) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC") if value is not None else "never"


async def run(args: argparse.Namespace, settings: Settings) -> int:
    try:
        return await _run(args, settings)
    except (AccountError, GitHubError, VaultError) as exc:
        _err(str(exc))
        return 2 if isinstance(exc, AccountError) else 1


async def _run(args: argparse.Namespace, settings: Settings) -> int:
    action = args.action
    if action == "sync":
        return await sync(args, settings)
    async with connect(settings) as conn:
        user_id, _ = await _user(conn, settings)
        if action == "login":
            return await login(conn, settings, user_id)
        if action == "logout":
            account = await store.get_account(conn, user_id)
            if not await accounts.logout(conn, user_id):
                print("not signed in to GitHub")
                return 0
            print(f"signed out of GitHub ({account['github_username'] if account else ''}):"
                  " tokens deleted")  # fmt: skip
            return 0
        if action == "status":
            info = await accounts.status(settings, conn, user_id)
            if info is None:
                print("not signed in to GitHub (run `codecortex github login`)")
                return 1
            if args.json:
                json.dump(info, sys.stdout, indent=2, default=str)
                sys.stdout.write("\n")
                return 0
            print(f"signed in to {info['api_url']} as {info['account']}")
            print(f"scopes: {', '.join(info['scopes']) or '(none reported)'}")
            expiry = _stamp(info["token_expires_at"])
            refresh = "refreshable" if info["refreshable"] else "not refreshable"
            print(f"token expires: {expiry} ({refresh})")
            print(f"tokens encrypted with the key in {info['key']}"
                  + ("" if info["key_matches"] else " (NOT the key they were encrypted with)"))  # fmt: skip
            print(f"repositories: {info['repositories']} known, {info['selected']} selected")
            return 0
        account = await accounts.require_account(conn, user_id)
        if action == "repos":
            return await repos(conn, settings, account, args)
        names = list(args.names)
        known = {r["full_name"].lower() for r in await store.list_repos(conn, account["id"])}
        unknown = [n for n in names if n.lower() not in known]
        if unknown:
            _err(f"not among your repositories: {', '.join(unknown)}"
                 " (run `codecortex github repos` to fetch the list)")  # fmt: skip
            return 2
        changed = await store.set_selected(conn, account["id"], names, action == "select")
        print(f"{action}ed: {', '.join(changed)}")
        return 0


async def login(conn: Any, settings: Settings, user_id: Any) -> int:
    def show(code: DeviceCode) -> None:
        print(f"To sign in to GitHub, open {code.verification_uri} and enter the code "
              f"{code.user_code}", flush=True)  # fmt: skip
        print(f"waiting for you to authorize (the code is valid for {code.expires_in // 60} min)...",
              file=sys.stderr, flush=True)  # fmt: skip

    def waiting(message: str) -> None:
        print(f"codecortex: {message}", file=sys.stderr, flush=True)

    info = await accounts.login(settings, conn, user_id, show, on_wait=waiting)
    print(f"signed in to GitHub as {info['account']}"
          f" (scopes: {', '.join(info['scopes']) or 'none reported'});"
          f" tokens encrypted with the key in {info['key']}")  # fmt: skip
    return 0


async def repos(conn: Any, settings: Settings, account: dict[str, Any], args: Any) -> int:
    if not args.offline:

        @asynccontextmanager
        async def shared() -> AsyncIterator[Any]:
            yield conn

        client = accounts.make_client(settings, shared, account)
        listing = await refresh_repos(conn, client, account)
        note = f"{listing.repos} repositories"
        if listing.not_modified:
            note += f" ({listing.not_modified} of {listing.pages} page(s) unchanged)"
        if listing.gone:
            note += f"; no longer listed: {', '.join(listing.gone)}"
        print(note, file=sys.stderr)
    rows = await store.list_repos(conn, account["id"])
    if args.json:
        json.dump(rows, sys.stdout, indent=2, default=str)
        sys.stdout.write("\n")
        return 0
    for r in rows:
        meta = r["metadata"] or {}
        mark = "[x]" if r["selected"] else "[ ]"
        parts = [f"{mark} {r['full_name']}", meta.get("language") or "-",
                 f"★{meta.get('stars', 0)}"]  # fmt: skip
        if meta.get("topics"):
            parts.append("#" + " #".join(meta["topics"]))
        if meta.get("gone"):
            parts.append("(no longer listed)")
        if r["last_synced_sha"]:
            parts.append(f"synced {_stamp(r['last_fetched_at'])}")
        line = "  ".join(parts)
        if meta.get("description"):
            line += f"  {str(meta['description'])[:80]}"
        print(line)
    return 0


class SyncProgress(ProgressBar):
    """learn-history's progress display (a bar on a terminal, nothing on a pipe); waits for a
    rate limit are always shown as a line."""

    def __init__(self, out: TextIO, enabled: bool = True) -> None:
        super().__init__("github sync", out, enabled=enabled)
        self.out = out

    def __call__(self, job: Job, fraction: float, message: str | None) -> None:
        if message and "waiting" in message:
            if self.progress is not None:
                self.progress.console.print(f"github sync: {message}")
            else:
                print(f"github sync: {message}", file=self.out, flush=True)
            return
        super().__call__(job, fraction, message)


def summary(result: dict[str, Any]) -> list[str]:
    lines = []
    for r in result.get("repositories") or []:
        if r.get("error"):
            continue
        name = r["repository"] + (f" (renamed to {r['renamed_to']})" if r.get("renamed_to") else "")
        if r.get("up_to_date"):
            lines.append(f"{name}: up to date")
            continue
        line = (f"{name}: learned {r['solutions_learned']} fix(es) from {r['commits_done']}"
                f" pull request(s)")  # fmt: skip
        if r.get("solutions_known"):
            line += f", {r['solutions_known']} already known"
        left = int(r.get("commits_pending") or 0) - int(r.get("commits_done") or 0)
        if left > 0:
            line += f"; {left} left: run again to continue"
        lines.append(line)
    lines.append(f"{result.get('requests', 0)} request(s) to GitHub,"
                 f" {result.get('not_modified', 0)} answered 304 (not modified)")  # fmt: skip
    return lines


async def sync(args: argparse.Namespace, settings: Settings) -> int:
    if args.max_prs is not None and args.max_prs < 1:
        _err("--max-prs must be at least 1")
        return 2
    try:
        parse_since(args.since)
    except ValueError:
        _err(f"--since: not an ISO date: {args.since}")
        return 2
    tools = [t.strip() for t in args.tools.split(",") if t.strip()] if args.tools else None
    options = HistoryOptions.from_settings(
        settings, since=args.since, max_commits=args.max_prs, tools=tools
    )
    printer = SyncProgress(sys.stderr, enabled=not getattr(args, "quiet", False))
    async with connect(settings) as conn:
        user_id, name = await _user(conn, settings)
        account = await accounts.require_account(conn, user_id)
        names = list(args.names) or None
        if names:
            known = {r["full_name"].lower() for r in await store.list_repos(conn, account["id"])}
            unknown = [n for n in names if n.lower() not in known]
            if unknown:
                _err(f"not among your repositories: {', '.join(unknown)}")
                return 2
        ident = Identity(user_id, name, None, settings.default_visibility)
        job_id = await enqueue_github_sync(conn, ident, options, names)
        job = await run_here(
            conn, JOB_TYPE, make_job_handler(settings), job_id, lease_seconds=LEASE_SECONDS,
            printer=printer,
        )  # fmt: skip
        await record_progress(conn, user_id)
    if not ran_here(
        job,
        "github sync",
        "a GitHub sync is running in another process ({locked_by}); try again later",
    ):
        return 2
    if job.status != "completed":
        error = str(job.last_error or job.status)
        _err("GitHub sync failed: " + error.split(": ", 1)[-1] if "Error: " in error else error)
        return 1
    result = job.result or {}
    if args.json:
        json.dump(result, sys.stdout, indent=2, default=str)
        sys.stdout.write("\n")
    else:
        for line in summary(result):
            print(line)
    for error in result.get("errors") or []:
        _err(error)
    return 1 if result.get("errors") else 0
