"""`codecortex.learnHistory` [{folder?, since?, maxCommits?, branch?, tools?}] -> {queued, jobId}:
learn fixes from a workspace folder's git history on the job queue, with work-done progress the
user can cancel (the commits done so far stay learned; the next run continues after them)."""

from __future__ import annotations

import logging
from typing import Any

from codecortex.files.roots import uri_to_path
from codecortex.history.job import JOB_TYPE, LEASE_SECONDS, enqueue_learn_history, make_job_handler
from codecortex.history.options import HistoryOptions
from codecortex.jobs import JobCancelled, JobRunner
from codecortex.lsp.progress import WorkDone
from codecortex.lsp.server import CodeCortexServer
from codecortex.store import jobs as job_queue
from codecortex.store.jobs import Job

log = logging.getLogger(__name__)

CMD_LEARN_HISTORY = "codecortex.learnHistory"


def _options(ls: CodeCortexServer, arg: dict[str, Any]) -> HistoryOptions:
    max_commits = arg.get("maxCommits")
    tools = arg.get("tools")
    return HistoryOptions.from_settings(
        ls.settings,
        branch=str(arg["branch"]) if arg.get("branch") else None,
        since=str(arg["since"]) if arg.get("since") else None,
        max_commits=int(max_commits) if max_commits is not None else None,
        tools=[str(t) for t in tools] if isinstance(tools, list) and tools else None,
    )


def setup(server: CodeCortexServer) -> None:
    @server.command(CMD_LEARN_HISTORY)
    async def learn_history(ls: CodeCortexServer, *args: Any) -> dict[str, Any]:
        arg = args[0] if args and isinstance(args[0], dict) else {}
        service = ls.service
        folder = uri_to_path(str(arg["folder"])) if arg.get("folder") else None
        if folder is None and service.folders:
            folder = service.folders[0]
        if folder is None:
            return {"queued": False, "error": "no workspace folder"}
        folder = folder.resolve()
        info = service.repo_infos.get(folder)
        if info is None or service.repo_for(folder) is None:
            return {"queued": False, "error": f"{folder} is not a workspace folder"}
        if service.db.state != "connected":
            return {"queued": False, "error": "database unavailable"}
        try:
            options = _options(ls, arg)
        except (TypeError, ValueError) as exc:
            return {"queued": False, "error": f"invalid arguments: {exc}"}
        async with service.db.connection() as conn:
            job_id = await enqueue_learn_history(conn, service.identity(folder), info.root, options)
        service.spawn(run_with_progress(ls, job_id), "learn history")
        return {"queued": True, "jobId": job_id}


async def run_with_progress(ls: CodeCortexServer, job_id: str) -> None:
    work = await WorkDone(ls, "CodeCortex: learning from git history").begin(
        f"codecortex-history-{job_id}"
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
            if result.get("up_to_date"):
                message = "up to date"
            else:
                message = (
                    f"{result.get('solutions_learned', 0)} fixes learned from "
                    f"{result.get('commits_done', 0)} commits"
                )
        elif job.status == "running":
            message = f"already running in {job.locked_by}"
        elif job.status == "cancelled":
            message = "cancelled; the next run continues where this one stopped"
        else:
            message = f"failed: {job.last_error}"
            ls.log(f"learning from git history failed: {job.last_error}", "error")
        ls.log(f"learn history: {message}")
    except Exception as exc:
        message = f"failed: {exc}"
        ls.log(f"learning from git history failed: {exc}", "error")
    finally:
        work.end(message)
    try:
        async with service.db.connection() as conn:
            await service._refresh_counts(conn)
        service.publish_status()
    except Exception as exc:  # the status is refreshed on the next change anyway
        log.debug("status refresh failed: %s", exc)
