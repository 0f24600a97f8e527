"""The `learn_history` job: its payload, queueing it (one job per repository, taking over one
left by a dead process), and its handler, which runs the miner."""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Any

from codecortex.config import Settings
from codecortex.history.git import GitError
from codecortex.history.miner import HistoryMiner
from codecortex.history.options import HistoryOptions
from codecortex.jobs import Handler, JobContext, PermanentJobError
from codecortex.memory.identity import Identity
from codecortex.memory.problem_memory import Memory
from codecortex.store import history as history_store
from codecortex.store import jobs as job_queue

JOB_TYPE = "learn_history"
LEASE_SECONDS = 300.0  # progress is reported after every commit; a batch's checks may be slow


def job_payload(root: Path, options: HistoryOptions, visibility: str) -> dict[str, Any]:
    return {"root": str(root), "options": options.to_payload(), "visibility": visibility}


def worker_alive(locked_by: str | None) -> bool:
    """Whether the worker that holds a job still runs (unknown for other hosts: assume yes)."""
    if not locked_by:
        return False
    host, _, rest = locked_by.partition(":")
    pid_text = rest.partition(":")[0]
    if host != socket.gethostname() or not pid_text.isdigit():
        return True
    try:
        os.kill(int(pid_text), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


async def enqueue_taking_over(
    conn: Any, job_type: str, payload: dict[str, Any], dedupe_key: str, user_id: Any, repo_id: Any
) -> str:
    """Queue a job of which one runs at a time (per `dedupe_key`). A job left unfinished by an
    interrupted or dead process is taken over, with this payload, and runnable at once. Returns
    the job id."""
    job_id = await job_queue.enqueue(
        conn, job_type, payload, dedupe_key=dedupe_key, user_id=user_id, repo_id=repo_id,
        max_attempts=10,
    )  # fmt: skip
    job = await job_queue.get_job(conn, job_id)
    if job is not None and (
        job.status == "pending" or (job.status == "running" and not worker_alive(job.locked_by))
    ):
        await history_store.release_job(conn, job_id, payload)
    return job_id


async def enqueue_learn_history(
    conn: Any, ident: Identity, root: Path, options: HistoryOptions
) -> str:
    """Queue mining of `root` (one job per repository at a time; see `enqueue_taking_over`).
    Returns the job id."""
    payload = job_payload(root, options, ident.visibility)
    return await enqueue_taking_over(
        conn, JOB_TYPE, payload, f"{JOB_TYPE}:{ident.repo_id}", ident.user_id, ident.repo_id
    )


def make_job_handler(settings: Settings, memory: Memory | None = None) -> Handler:
    """The `learn_history` job: payload {root, options, visibility}; the job's user and repo."""

    async def learn_history(ctx: JobContext) -> dict[str, Any]:
        payload = ctx.payload
        root = Path(str(payload.get("root") or ""))
        if not root.is_dir():
            raise PermanentJobError(f"no such repository: {root}")
        options = HistoryOptions.from_payload(dict(payload.get("options") or {}))
        ident = Identity(
            ctx.job.user_id,
            "",
            ctx.job.repo_id,
            str(payload.get("visibility") or settings.default_visibility),
        )
        miner = HistoryMiner(
            root, memory or Memory(settings), ident, ctx.connection, options, ctx.progress
        )
        try:
            report = await miner.run()
        except GitError as exc:
            raise PermanentJobError(str(exc)) from exc
        return report.to_json()

    return learn_history
