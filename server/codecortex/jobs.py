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
from codecortex.store.jobs import Job

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


class JobRunner:
    def __init__(
        self,
        connection: ConnectionFactory,
        handlers: dict[str, Handler],
        *,
        lease_seconds: float = 60,
        on_progress: ProgressCallback | None = None,
        on_finish: Callable[[Job], Awaitable[None] | None] | None = None,
    ) -> None:
        self.connection = connection
        self.handlers = handlers
        self.lease_seconds = lease_seconds
        self.on_progress = on_progress
        self.on_finish = on_finish
        self.worker_id = worker_name()

    async def run_one(self, job_types: list[str] | None = None) -> Job | None:
        """Claim and run one job; returns it (with its final state) or None when idle."""
        job = await self._run_one(job_types)
        if job is not None and self.on_finish is not None:
            maybe = self.on_finish(job)
            if maybe is not None:
                await maybe
        return job

    async def _run_one(self, job_types: list[str] | None) -> Job | None:
        async with self.connection() as conn:
            job = await q.claim(
                conn,
                self.worker_id,
                job_types or list(self.handlers),
                lease_seconds=self.lease_seconds,
            )
        if job is None:
            return None
        handler = self.handlers.get(job.job_type)
        ctx = JobContext(job, self.connection, self.worker_id, self.lease_seconds, self.on_progress)
        try:
            if handler is None:
                raise PermanentJobError(f"no handler for job type {job.job_type}")
            result = await handler(ctx)
        except JobCancelled:
            async with self.connection() as conn:
                await q.mark_cancelled(conn, job.job_id, self.worker_id)
            job.status = "cancelled"
            return job
        except Exception as exc:
            permanent = isinstance(exc, PermanentJobError)
            message = f"{type(exc).__name__}: {exc}"
            log.warning("job %s (%s) failed: %s", job.job_id, job.job_type, message)
            log.debug("%s", traceback.format_exc())
            async with self.connection() as conn:
                job.status = await q.fail(
                    conn, job.job_id, self.worker_id, message, retry=not permanent
                )
            job.last_error = message
            return job
        async with self.connection() as conn:
            await q.complete(conn, job.job_id, self.worker_id, result or {})
        job.status = "completed"
        job.result = result or {}
        return job

    async def run_forever(self, stop: asyncio.Event, poll_seconds: float = 2.0) -> None:
        while not stop.is_set():
            try:
                job = await self.run_one()
            except Exception as exc:  # database down: keep the loop alive
                log.debug("job runner: %s", exc)
                job = None
            if job is None:
                try:
                    await asyncio.wait_for(stop.wait(), poll_seconds)
                except TimeoutError:
                    pass
