"""GitHub in the editor.

`codecortex.repositories` [] -> {repositories: [...]}: the server's repositories registry, the
workspace's local repositories next to the signed-in account's GitHub repositories (selected or
not, with their metadata and sync state).

`codecortex.githubSync` [{names?, since?, maxPrs?, tools?}] -> {queued, jobId}: learn fixes from
merged pull requests of the selected repositories on the job queue, with work-done progress the
user can cancel (including waits for GitHub's rate limits)."""

from __future__ import annotations

import logging
from typing import Any

from codecortex.github.sync import (
    JOB_TYPE,
    LEASE_SECONDS,
    enqueue_github_sync,
    make_job_handler,
    parse_since,
)
from codecortex.history.options import HistoryOptions
from codecortex.jobs import JobCancelled, JobRunner
from codecortex.lsp.progress import WorkDone
from codecortex.lsp.server import CodeCortexServer
from codecortex.store import github as github_store
from codecortex.store import jobs as job_queue
from codecortex.store.jobs import Job

log = logging.getLogger(__name__)

CMD_REPOSITORIES = "codecortex.repositories"
CMD_GITHUB_SYNC = "codecortex.githubSync"


def _row(r: dict[str, Any]) -> dict[str, Any]:
    meta = r.get("metadata") or {}
    return {
        "kind": r["kind"],
        "fullName": r["full_name"],
        "rootPath": r.get("root_path"),
        "selected": bool(r.get("selected")),
        "defaultBranch": r.get("default_branch"),
        "lastSyncedSha": r.get("last_synced_sha"),
        "lastFetchedAt": r["last_fetched_at"].isoformat() if r.get("last_fetched_at") else None,
        "language": meta.get("language"),
        "stars": meta.get("stars"),
        "description": meta.get("description"),
        "topics": meta.get("topics") or [],
    }


def setup(server: CodeCortexServer) -> None:
    @server.command(CMD_REPOSITORIES)
    async def repositories(ls: CodeCortexServer, *args: Any) -> dict[str, Any]:
        service = ls.service
        if service.db.state != "connected":
            return {"repositories": [], "error": "database unavailable"}
        async with service.db.connection() as conn:
            found = await github_store.registry(conn, service.user_id)
        open_ids = {str(i) for i in service.repos.values()}
        out = []
        for r in found:
            if r["kind"] == "local" and str(r["id"]) not in open_ids:
                continue  # local repositories: those of this workspace
            out.append(_row(r))
        return {"repositories": out}

    @server.command(CMD_GITHUB_SYNC)
    async def github_sync(ls: CodeCortexServer, *args: Any) -> dict[str, Any]:
        arg = args[0] if args and isinstance(args[0], dict) else {}
        service = ls.service
        if service.db.state != "connected":
            return {"queued": False, "error": "database unavailable"}
        try:
            parse_since(str(arg["since"]) if arg.get("since") else None)
            max_prs = arg.get("maxPrs")
            tools = arg.get("tools")
            options = HistoryOptions.from_settings(
                ls.settings,
                since=str(arg["since"]) if arg.get("since") else None,
                max_commits=int(max_prs) if max_prs is not None else None,
                tools=[str(t) for t in tools] if isinstance(tools, list) and tools else None,
            )
        except (TypeError, ValueError) as exc:
            return {"queued": False, "error": f"invalid arguments: {exc}"}
        names = arg.get("names")
        async with service.db.connection() as conn:
            if await github_store.get_account(conn, service.user_id) is None:
                return {"queued": False, "error": "not signed in to GitHub: run `codecortex github login`"}  # fmt: skip
            job_id = await enqueue_github_sync(
                conn, service.identity(None), options,
                [str(n) for n in names] if isinstance(names, list) and names else None,
            )  # fmt: skip
        service.spawn(run_with_progress(ls, job_id), "github sync")
        return {"queued": True, "jobId": job_id}


async def run_with_progress(ls: CodeCortexServer, job_id: str) -> None:
    work = await WorkDone(ls, "CodeCortex: learning from GitHub pull requests").begin(
        f"codecortex-github-{job_id}"
    )

    def report(job: Job, fraction: float, message: str | None) -> None:
        if job.job_id != job_id:
            return
        work.report(message, fraction)
        if work.cancelled:
            raise JobCancelled(job_id)

    service = ls.service
    runner = JobRunner(
        service.db.connection,
        {JOB_TYPE: make_job_handler(ls.settings, service.memory)},
        lease_seconds=LEASE_SECONDS,
        on_progress=report,
    )
    message = "done"
    try:
        job: Job | None = None
        while True:
            ran = await runner.run_one([JOB_TYPE])
            if ran is not None and ran.job_id == job_id:
                job = ran
                break
            if ran is None:
                async with service.db.connection() as conn:
                    job = await job_queue.get_job(conn, job_id)
                break
        if job is None:
            message = "the job disappeared"
        elif job.status == "completed":
            result = job.result or {}
            repos = result.get("repositories") or []
            learned = sum(int(r.get("solutions_learned") or 0) for r in repos)
            prs = sum(int(r.get("commits_done") or 0) for r in repos)
            message = f"{learned} fixes learned from {prs} pull requests"
            errors = result.get("errors") or []
            if errors:
                message += f"; {len(errors)} failed: {errors[0]}"
                ls.log("GitHub sync: " + "; ".join(errors), "warning")
        elif job.status == "running":
            message = f"already running in {job.locked_by}"
        elif job.status == "cancelled":
            message = "cancelled; the next sync continues where this one stopped"
        else:
            error = str(job.last_error or "").split(": ", 1)[-1]
            message = f"failed: {error}"
            ls.log(f"GitHub sync failed: {error}", "error")
        ls.log(f"github sync: {message}")
    except Exception as exc:
        message = f"failed: {exc}"
        ls.log(f"GitHub sync failed: {exc}", "error")
    finally:
        work.end(message)
    try:
        async with service.db.connection() as conn:
            await service._refresh_counts(conn)
        service.publish_status()
    except Exception as exc:  # the status is refreshed on the next change anyway
        log.debug("status refresh failed: %s", exc)
