"""The session's part in code insights: the stored insights of a workspace repository, their
status, analysis jobs run for the editor, and re-analysis after a file changed."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from codecortex.analysis import analyze_source, incremental, run_file_rules
from codecortex.analysis import pipeline as ap
from codecortex.diagnostics import TextEdit
from codecortex.store import analysis as store
from codecortex.store.jobs import Job
from codecortex.syntax.grammars import language_for_path

if TYPE_CHECKING:
    from codecortex.session.service import Service

READY_SECONDS = 60.0  # an analysis asked for at start-up waits this long for the database


class Insights:
    def __init__(self, service: Service) -> None:
        self.service = service
        # fixes recomputed for the latest (uri, version, text) a code action asked about
        self._fixes_key: tuple[str, int | None, int] | None = None
        self._fixes: dict[str, list[TextEdit]] = {}

    def current_fixes(
        self, uri: str, path: Path, root: Path, text: str, version: int | None
    ) -> dict[str, list[TextEdit]]:
        """Insight fixes by fingerprint for a document's current text (the file rules run on
        it again, so that the edits always apply)."""
        key = (uri, version, hash(text))
        if self._fixes_key != key:
            rel = path.relative_to(root).as_posix()
            analysis = analyze_source(rel, text, language_for_path(rel), collect_calls=False)
            insights = run_file_rules(analysis, text, ap.thresholds_from(self.service.settings))
            analysis.drop_tree()
            self._fixes = {i.fingerprint: i.fix for i in insights if i.fix}
            self._fixes_key = key
        return self._fixes

    def forget_fixes(self) -> None:
        """The stored insights changed: recompute the fixes at the next code action."""
        self._fixes_key = None

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
    ) -> incremental.Reanalysis | None:
        """Bring the stored analysis up to date after `path` changed (`text` None: deleted)."""
        service = self.service
        return await incremental.reanalyze(
            service.db.connection,
            service.settings,
            service.analysis,
            repo_id=repo_id,
            root=root,
            path=path.relative_to(root).as_posix(),
            text=text,
        )
