"""Running a queued job in the CLI's own process, on its one database connection, with a
progress display (`learn-history`, `github sync`)."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, TypeGuard

from codecortex.cancellation import finish
from codecortex.cli.progress import ProgressBar
from codecortex.jobs import Handler, JobRunner
from codecortex.store import history as history_store
from codecortex.store.jobs import Job


@asynccontextmanager
async def reuse(conn: Any) -> AsyncIterator[Any]:
    """`conn` as what a connection factory gives: the jobs run on the CLI's connection."""
    yield conn


async def run_here(
    conn: Any,
    job_type: str,
    handler: Handler,
    job_id: str,
    *,
    lease_seconds: float,
    printer: ProgressBar,
) -> Job | None:
    """Run `job_id` here now (the one runner's `run`); held by another process, its state as that
    process left it. A failed run is made runnable again at once; interrupted (Ctrl-C), the job
    is released for the next run, which continues where this one stopped."""

    def shared() -> Any:
        return reuse(conn)

    runner = JobRunner(
        shared, {job_type: handler}, lease_seconds=lease_seconds, on_progress=printer
    )
    try:
        job = await runner.run(job_id)
        if job is not None and job.status == "pending":  # failed; runnable again by the next run
            await history_store.release_job(conn, job_id)
        return job
    except asyncio.CancelledError:
        printer.close()
        await finish(history_store.release_job(conn, job_id, interrupted=True))
        raise
    finally:
        printer.close()


def ran_here(job: Job | None, name: str, running: str) -> TypeGuard[Job]:
    """Whether the job ran here; if not, why is printed: it disappeared, or another process runs
    it (`running`, with `{locked_by}` for that process)."""
    if job is None:
        print(f"codecortex: error: the {name} job disappeared", file=sys.stderr)
        return False
    if job.status == "running":
        message = running.format(locked_by=job.locked_by)
        print(f"codecortex: error: {message}", file=sys.stderr)
        return False
    return True
