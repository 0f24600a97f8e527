"""The session's part in code insights: the stored insights of a workspace repository, their
status, analysis jobs run for the editor, and re-analysis after a file changed."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from codecortex.analysis import pipeline as ap
from codecortex.store import analysis as store
from codecortex.store.jobs import Job

if TYPE_CHECKING:
    from codecortex.session.service import Service

READY_SECONDS = 60.0  # an analysis asked for at start-up waits this long for the database


class Insights:
    def __init__(self, service: Service) -> None:
        self.service = service

    def on_changed(self, listener: Callable[[str, set[str] | None], Awaitable[None]]) -> None:
        """`listener(root, files or None for all)` after the stored insights changed."""
        self.service.analysis.listeners.append(listener)

    async def open_insights(self, repo_id: Any, files: set[str] | None) -> list[dict[str, Any]]:
        """The open insights of `files` (None: all) of a repository."""
        async with self.service.db.connection() as conn:
            return await store.list_insights(
                conn, repo_id, files=sorted(files) if files is not None else None
            )

    async def set_status(self, insight_id: str, status: str) -> dict[str, Any] | None:
        """Set the status of the insight `insight_id` (an id or its unambiguous prefix);
        returns its row, None when there is no such insight."""
        async with self.service.db.connection() as conn:
            found = await store.find_insight(conn, insight_id) if insight_id else []
            if len(found) != 1:
                return None
            row = found[0]
            await store.set_insight_status(conn, row["id"], status)
        return row

    async def ready(self) -> None:
        """Wait for the database (an analysis asked for while the server starts)."""
        await asyncio.wait_for(self.service.db.ready.wait(), READY_SECONDS)

    async def analyze(self, root: Path, repo_id: Any, phase: str) -> tuple[Job | None, int]:
        """Analyse a repository now (as a queue job; an analysis already queued or running is
        waited for); returns the job as it ended and the number of open insights."""
        service = self.service
        async with service.db.connection() as conn:
            job_id = await ap.enqueue(conn, root, repo_id, service.user_id, phase)
        # in a task of the session's: a request cancelled does not stop the analysis
        job = await asyncio.shield(
            service.spawn(service.runner.run(job_id, wait=True), "analysis job")
        )
        async with service.db.connection() as conn:
            total = (await store.insights_summary(conn, repo_id))["total"]
        return job, total

    async def reanalyze(
        self, repo_id: Any, root: Path, path: Path, text: str | None
    ) -> ap.Reanalysis | None:
        """Bring the stored analysis up to date after `path` changed (`text` None: deleted)."""
        service = self.service
        return await ap.reanalyze(
            service.db.connection,
            service.settings,
            service.analysis,
            repo_id=repo_id,
            root=root,
            path=path.relative_to(root).as_posix(),
            text=text,
        )
