"""Running jobs from the queue: handlers by job type, progress, cancellation, retries.

Handlers are `async def handler(ctx: JobContext) -> dict`. They call `await ctx.progress(f, msg)`
regularly; that extends the lease and raises `JobCancelled` when someone asked to cancel.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import traceback
import uuid
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Any

from codecortex.store import jobs as q
from codecortex.store.jobs import Job as Job  # re-exported: the type of what runs

log = logging.getLogger(__name__)

ConnectionFactory = Callable[[], AbstractAsyncContextManager[Any]]
ProgressCallback = Callable[[Job, float, str | None], Awaitable[None] | None]


class JobCancelled(Exception):
    pass


class PermanentJobError(Exception):
    """Raise from a handler when retrying cannot help (bad payload, missing repository)."""


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


@dataclass
class JobContext:
    job: Job
    connection: ConnectionFactory
    worker_id: str
    lease_seconds: float
    on_progress: ProgressCallback | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def payload(self) -> dict[str, Any]:
        return self.job.payload

    async def progress(self, fraction: float, message: str | None = None) -> None:
        async with self.connection() as conn:
            cancelled = await q.report_progress(
                conn,
                self.job.job_id,
                self.worker_id,
                fraction,
                message,
                lease_seconds=self.lease_seconds,
            )
        if self.on_progress is not None:
            maybe = self.on_progress(self.job, fraction, message)
            if maybe is not None:
                await maybe
        if cancelled:
            raise JobCancelled(self.job.job_id)


Handler = Callable[[JobContext], Awaitable[dict[str, Any] | None]]


ConnectionAction = Callable[[Any], Awaitable[None]]


class JobRunner:
    """The one way jobs run: `run_forever` (the server's background worker), `run_one` (the
    next queued job) and `run(job_id)` (a given job now, with its own progress callback)."""

    def __init__(
        self,
        connection: ConnectionFactory,
        handlers: dict[str, Handler],
        *,
        lease_seconds: float = 60,
        leases: dict[str, float] | None = None,
        on_progress: ProgressCallback | None = None,
        on_finish: Callable[[Job], Awaitable[None] | None] | None = None,
    ) -> None:
        self.connection = connection
        self.handlers = handlers
        self.lease_seconds = lease_seconds
        self.leases = leases or {}  # job type -> its lease, when not lease_seconds
        self.on_progress = on_progress
        self.on_finish = on_finish
        self.worker_id = worker_name()

    async def run_one(self, job_types: list[str] | None = None) -> Job | None:
        """Claim and run one job; returns it (with its final state) or None when idle."""
        async with self.connection() as conn:
            job = await q.claim(
                conn,
                self.worker_id,
                job_types or list(self.handlers),
                lease_seconds=self.lease_seconds,
            )
        if job is None:
            return None
        await self._execute(job, self.on_progress, retry=True)
        await self._finished(job)
        return job

    async def run(
        self,
        job_id: str,
        *,
        on_progress: ProgressCallback | None = None,
        wait: bool = False,
        retry: bool = True,
        poll_seconds: float = 0.5,
        on_interrupt: ConnectionAction | None = None,
    ) -> Job | None:
        """Run the given queued job now and return its final state (None: no such job).

        Progress goes to `on_progress` (else the runner's). When another worker holds the job,
        it is returned as it is (running), or with `wait` its progress is reported to
        `on_progress` until it finishes, and it is taken over once that worker's lease expires.
        `retry`: a failed job may run again later. Interrupted here (`CancelledError`),
        `on_interrupt(conn)` runs before the error goes on."""
        while True:
            async with self.connection() as conn:
                job = await q.get_job(conn, job_id)
                if job is None:
                    return None
                lease = self.leases.get(job.job_type, self.lease_seconds)
                claimed = await q.claim_job(conn, job_id, self.worker_id, lease_seconds=lease)
                if claimed:
                    job = await q.get_job(conn, job_id)
            if job is None:
                return None
            if claimed:
                break
            if job.status in ("completed", "failed", "cancelled") or not wait:
                return job
            if on_progress is not None:
                maybe = on_progress(job, job.progress, job.progress_message or "waiting")
                if maybe is not None:
                    await maybe
            await asyncio.sleep(poll_seconds)
        try:
            await self._execute(job, on_progress or self.on_progress, retry=retry)
        except asyncio.CancelledError:
            if on_interrupt is not None:
                async with self.connection() as conn:
                    await on_interrupt(conn)
            raise
        await self._finished(job)
        return job

    async def _finished(self, job: Job) -> None:
        if self.on_finish is not None:
            maybe = self.on_finish(job)
            if maybe is not None:
                await maybe

    async def _execute(self, job: Job, on_progress: ProgressCallback | None, retry: bool) -> None:
        """Run a claimed job with its handler; the job's final state is set on `job`."""
        handler = self.handlers.get(job.job_type)
        lease = self.leases.get(job.job_type, self.lease_seconds)
        ctx = JobContext(job, self.connection, self.worker_id, lease, on_progress)
        try:
            if handler is None:
                raise PermanentJobError(f"no handler for job type {job.job_type}")
            result = await handler(ctx)
        except JobCancelled:
            async with self.connection() as conn:
                await q.mark_cancelled(conn, job.job_id, self.worker_id)
            job.status = "cancelled"
            return
        except Exception as exc:
            permanent = isinstance(exc, PermanentJobError)
            message = f"{type(exc).__name__}: {exc}"
            log.warning("job %s (%s) failed: %s", job.job_id, job.job_type, message)
            log.debug("%s", traceback.format_exc())
            async with self.connection() as conn:
                job.status = await q.fail(
                    conn, job.job_id, self.worker_id, message, retry=retry and not permanent
                )
            job.last_error = message
            return
        async with self.connection() as conn:
            await q.complete(conn, job.job_id, self.worker_id, result or {})
        job.status = "completed"
        job.result = result or {}

    async def run_forever(
        self, stop: asyncio.Event, poll_seconds: float = 2.0, job_types: list[str] | None = None
    ) -> None:
        """Run queued jobs (of `job_types`, else of every handler) until `stop` is set."""
        while not stop.is_set():
            try:
                job = await self.run_one(job_types)
            except Exception as exc:  # database down: keep the loop alive
                log.debug("job runner: %s", exc)
                job = None
            if job is None:
                try:
                    await asyncio.wait_for(stop.wait(), poll_seconds)
                except TimeoutError:
                    pass
