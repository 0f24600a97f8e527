"""Work-done progress in the editor, the one bridge for it: `WorkDone` (server-initiated
progress: create/begin/report/end and the client's cancel button), `JobProgress` (the queue jobs
the server runs in the background, token `job-<id>`) and `follow_job` (a job run on request,
with its own progress). A no-op for clients that do not support progress."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from lsprotocol import types
from pygls.lsp.server import LanguageServer

from codecortex.jobs import Job, JobCancelled, ProgressCallback

log = logging.getLogger(__name__)


def _supported(ls: LanguageServer) -> bool:
    window = ls.client_capabilities.window if ls.client_capabilities else None
    return window is not None and bool(window.work_done_progress)


class WorkDone:
    def __init__(self, ls: LanguageServer, title: str, *, cancellable: bool = True) -> None:
        self.ls = ls
        self.title = title
        self.cancellable = cancellable
        self.token = ""

    async def begin(self, token: str | None = None) -> WorkDone:
        if not _supported(self.ls):
            return self
        token = token or str(uuid.uuid4())
        try:
            await self.ls.work_done_progress.create_async(token)
        except Exception:  # the client refused or went away: carry on without progress
            return self
        self.token = token
        self.ls.work_done_progress.begin(
            token,
            types.WorkDoneProgressBegin(
                title=self.title, cancellable=self.cancellable, percentage=0
            ),
        )
        return self

    @property
    def cancelled(self) -> bool:
        """True once the user pressed cancel on this progress."""
        future = self.ls.work_done_progress.tokens.get(self.token) if self.token else None
        return future is not None and future.cancelled()

    def report(self, message: str | None = None, fraction: float | None = None) -> None:
        if self.token:
            self.ls.work_done_progress.report(
                self.token,
                types.WorkDoneProgressReport(
                    message=message,
                    percentage=None if fraction is None else int(fraction * 100),
                ),
            )

    def end(self, message: str | None = None) -> None:
        if self.token:
            self.ls.work_done_progress.end(self.token, types.WorkDoneProgressEnd(message=message))
            self.ls.work_done_progress.tokens.pop(self.token, None)
            self.token = ""


class JobProgress:
    """Background queue-job progress as work-done progress (token `job-<id>`, cancellable:
    `$/progress` cancel asks the queue to cancel the job). Steps of one job run in order."""

    def __init__(self, ls: LanguageServer) -> None:
        self.ls = ls
        self._chains: dict[str, asyncio.Future[None]] = {}

    def __call__(self, job: Any, fraction: float | None, message: str | None) -> None:
        """fraction None means the job finished (message is its final status)."""
        token = f"job-{job.job_id}"
        previous = self._chains.get(token)
        if previous is None and fraction is None:
            return  # finished before reporting anything: nothing to show
        self._chains[token] = asyncio.ensure_future(
            self._step(previous, token, job, fraction, message)
        )

    async def _step(
        self,
        previous: asyncio.Future[None] | None,
        token: str,
        job: Any,
        fraction: float | None,
        message: str | None,
    ) -> None:
        if not _supported(self.ls):
            return
        progress = self.ls.work_done_progress
        try:
            if previous is None:
                await progress.create_async(token)
                progress.begin(
                    token,
                    types.WorkDoneProgressBegin(
                        title=f"CodeCortex: {job.job_type.replace('_', ' ')}",
                        cancellable=True,
                        percentage=0,
                    ),
                )
            else:
                await previous
            if fraction is None:
                progress.end(token, types.WorkDoneProgressEnd(message=message))
                self._chains.pop(token, None)
                progress.tokens.pop(token, None)
            else:
                progress.report(
                    token,
                    types.WorkDoneProgressReport(message=message, percentage=int(fraction * 100)),
                )
        except Exception as exc:  # the client went away or refused progress
            log.debug("job progress %s: %s", token, exc)


async def follow_job(
    ls: LanguageServer,
    job_id: str,
    *,
    title: str,
    token: str,
    run: Callable[[ProgressCallback], Awaitable[Job | None]],
    outcome: Callable[[Job | None], str],
    failed: Callable[[str], None],
) -> str:
    """Run a job with work-done progress the user can cancel; returns the message it ended
    with: `outcome(job)` for its final state (None: it disappeared), `failed(error)` is told
    when it could not run."""
    work = await WorkDone(ls, title).begin(token)

    def report(job: Job, fraction: float, message: str | None) -> None:
        if job.job_id != job_id:
            return
        work.report(message, fraction)
        if work.cancelled:
            raise JobCancelled(job_id)

    message = "done"
    try:
        job = await run(report)
        message = outcome(job)
    except Exception as exc:
        message = f"failed: {exc}"
        failed(str(exc))
    finally:
        work.end(message)
    return message
