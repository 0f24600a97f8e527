"""The session: what the language server holds per editor connection, behind the thin `lsp/`
layer, which calls this façade and never the store.

It owns the database connection (kept alive across outages, `session/database.py`), the
workspace and the developer's identity (`session/folders.py`), the open documents with their
observation queue and cached views (`session/documents.py`), the one job runner, and the
engine calls behind the editor's requests and commands: what the editor and the detectors report
(`session/observing.py`), knowledge (`session/knowledge.py`), synthesis, learning paths and the
team (`session/learning.py`), insights (`session/insights.py`), git history and GitHub
(`session/sources.py`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from codecortex.analysis import pipeline as analysis_pipeline
from codecortex.config import ProjectConfig, Settings, read_api_key
from codecortex.diagnostics import Range
from codecortex.files.roots import RepoInfo, uri_to_path
from codecortex.github import sync as github_sync
from codecortex.history import job as history_job
from codecortex.jobs import Handler, JobRunner
from codecortex.knowledge import backfill
from codecortex.knowledge.embeddings import make_embedder
from codecortex.llm.redaction import scrub
from codecortex.memory.identity import Identity, register_repo
from codecortex.memory.observe import range_of
from codecortex.memory.problem_memory import Memory
from codecortex.memory.views import ProblemView
from codecortex.session.database import Database
from codecortex.session.documents import (
    STALE_AFTER_SECONDS,
    Client,
    Documents,
)
from codecortex.session.folders import Workspace
from codecortex.session.insights import Insights
from codecortex.session.knowledge import Knowledge
from codecortex.session.learning import Learning
from codecortex.session.observing import Observing
from codecortex.session.sources import Sources
from codecortex.store import identity as identity_store
from codecortex.store import jobs as jobs_store
from codecortex.store import problems as problem_store
from codecortex.store import solutions as solution_store

log = logging.getLogger(__name__)

# The jobs the background worker takes from the queue; the others (learning from history or
# GitHub) run when asked for, with their own progress (`JobRunner.run`).
BACKGROUND_JOBS = [backfill.JOB_TYPE, analysis_pipeline.JOB_TYPE]

__all__ = ["Client", "Service"]


class Service:
    def __init__(self, settings: Settings, client: Client) -> None:
        self.settings = settings
        self.client = client
        self.on_connected: list[Callable[[], Awaitable[None]]] = []  # after every (re)connect
        self.db = self._database(settings)
        self.memory = Memory(settings, self._make_embedder(settings))
        self.workspace = Workspace(client.log)
        self.documents = Documents(self)
        self.counts = {"problems": 0, "solutions": 0}
        self.analysis = analysis_pipeline.AnalysisState()
        self._tasks: set[asyncio.Task[Any]] = set()
        self.job_handlers: dict[str, Handler] = {
            backfill.JOB_TYPE: lambda ctx: backfill.run_backfill(ctx, self.memory.embedder),
            analysis_pipeline.JOB_TYPE: lambda ctx: analysis_pipeline.run_job(
                ctx, self.settings, self.analysis
            ),
            history_job.JOB_TYPE: lambda ctx: history_job.make_job_handler(
                self.settings, self.memory
            )(ctx),
            github_sync.JOB_TYPE: lambda ctx: github_sync.make_job_handler(
                self.settings, self.memory
            )(ctx),
        }
        self.runner = JobRunner(
            lambda: self.db.connection(),
            self.job_handlers,
            leases={
                history_job.JOB_TYPE: history_job.LEASE_SECONDS,
                github_sync.JOB_TYPE: github_sync.LEASE_SECONDS,
            },
            on_progress=lambda job, f, m: self.client.job_progress(job, f, m),
            on_finish=lambda job: self.client.job_progress(job, None, job.status),
        )
        self._runner_stop = asyncio.Event()
        self._runner_task: asyncio.Task[Any] | None = None
        self.insights = Insights(self)
        self.knowledge = Knowledge(self)
        self.observing = Observing(self)
        self.learning = Learning(self)
        self.sources = Sources(self)

    def _database(self, settings: Settings) -> Database:
        db = Database(settings, on_state=self._db_state)
        db.on_connected.append(self._after_connect)
        return db

    @staticmethod
    def _make_embedder(settings: Settings) -> Any:
        if settings.embedder == "openai":
            return make_embedder(
                "openai",
                model=settings.embedding_model,
                base_url=settings.embedding_base_url or settings.llm_base_url or None,
                api_key=read_api_key("openai", settings.llm_api_key) or None,
            )
        return make_embedder("hash")

    # --- the workspace ---------------------------------------------------------------------

    @property
    def folders(self) -> list[Path]:
        return self.workspace.folders

    @property
    def repos(self) -> dict[Path, Any]:
        return self.workspace.repos

    @property
    def repo_infos(self) -> dict[Path, RepoInfo]:
        return self.workspace.repo_infos

    @property
    def user_id(self) -> Any:
        return self.workspace.user_id

    @property
    def connected(self) -> bool:
        return self.db.state == "connected"

    def project_for(self, path: Path | None) -> ProjectConfig:
        return self.workspace.project_for(path)

    def repo_for(self, path: Path | None) -> Any:
        return self.workspace.repo_for(path)

    def identity(self, path: Path | None = None) -> Identity:
        return self.workspace.identity(path, self.settings.default_visibility)

    def reload_project_configs(self) -> None:
        self.workspace.reload_project_configs()

    # --- lifecycle -----------------------------------------------------------------------

    def spawn(self, coro: Awaitable[Any], name: str = "") -> asyncio.Task[Any]:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)

        def done(t: asyncio.Task[Any]) -> None:
            self._tasks.discard(t)
            if not t.cancelled() and t.exception() is not None:
                log.error("background task %s failed: %r", name, t.exception())

        task.add_done_callback(done)
        return task

    async def start(self, folders: list[Path]) -> None:
        await self.workspace.open(folders, self.settings)
        await self.db.start()

    async def add_folder(self, folder: Path) -> None:
        """A workspace folder added while running: a repository row and its docs indexed."""
        info = await self.workspace.add(folder)
        if info is not None and self.connected:
            async with self.db.connection() as conn:
                self.workspace.repos[folder.resolve()] = await register_repo(conn, info)

    def remove_folder(self, folder: Path) -> None:
        self.workspace.remove(folder)

    async def stop(self) -> None:
        self._runner_stop.set()
        self.documents.stop()
        for task in list(self._tasks):
            task.cancel()
        await self.db.close()

    async def _db_state(self, state: str, error: str | None) -> None:
        if state == "down":
            self.client.log(f"database unavailable: {error}; will retry", "error")
            self.client.show_once(
                "db-down",
                f"CodeCortex: database unavailable ({error}). Problems are kept in memory "
                "and saved when it is back.",
            )
        elif state == "connected":
            self.client.log(f"database connected: {self.db.target and self.db.target.describe()}")
        self.publish_status()

    async def _after_connect(self) -> None:
        ws = self.workspace
        async with self.db.connection() as conn:
            ws.user_id = await identity_store.ensure_user(conn, ws.user_name, ws.user_email)
            for folder, info in ws.repo_infos.items():
                ws.repos[folder] = await register_repo(conn, info)
            await self.refresh_counts(conn)
            await backfill.schedule(conn, self.memory.embedder)
        if self._runner_task is None or self._runner_task.done():
            self._runner_task = self.spawn(
                self.runner.run_forever(self._runner_stop, job_types=BACKGROUND_JOBS), "jobs"
            )
        self.publish_status()
        self.documents.resume()
        for listener in list(self.on_connected):
            try:
                await listener()
            except Exception as exc:
                log.warning("after connecting: %s failed: %s", listener, exc)

    async def refresh_counts(self, conn: Any) -> None:
        counts = await problem_store.counts(conn, self.user_id)
        if counts:
            self.counts = counts

    async def refresh_status(self) -> None:
        """Count again and publish the status (after a job learned fixes)."""
        async with self.db.connection() as conn:
            await self.refresh_counts(conn)
        self.publish_status()

    def publish_status(self) -> None:
        self.client.status({"database": self.db.state, "where": self.where(), **self.counts})

    def where(self) -> str:
        """Which database is in use (or will be), in words: the embedded one's folder or the
        URL without its password."""
        from codecortex.store.embedded import StoreError, resolve_target

        if self.db.target is not None:
            return self.db.target.describe()
        try:
            return resolve_target(self.db.settings).describe()
        except StoreError as exc:
            return str(exc)

    def shared_database(self) -> bool:
        """Whether teammates may use this database (not the embedded one, this machine's)."""
        target = self.db.target
        return self.user_id is not None and target is not None and not target.embedded

    def update_settings(self, settings: Settings) -> None:
        embedder_changed = (settings.embedder, settings.embedding_model) != (
            self.settings.embedder,
            self.settings.embedding_model,
        )
        moved = (settings.database_url, settings.data_path()) != (
            self.db.settings.database_url,
            self.db.settings.data_path(),
        )
        self.settings = settings
        self.memory.settings = settings
        if moved:
            self._move_database(settings)
        if embedder_changed:
            self.memory.embedder = self._make_embedder(settings)
            if self.connected:
                self.spawn(self._schedule_backfill(), "schedule backfill")

    def _move_database(self, settings: Settings) -> None:
        """databaseUrl or dataDir changed: use the new database from now on. Before `start`
        (initializationOptions) that is only a different target; later the old connection is
        closed and the new one opened, and what was not yet written goes to the new one."""
        old = self.db
        self.db = self._database(settings)
        if old.state == "starting" and old.target is None:
            return
        self.client.log(f"database setting changed: now {self.where()}")
        self.workspace.forget_database()
        self.counts = {"problems": 0, "solutions": 0}

        async def switch() -> None:
            await old.close()
            await self.db.start()

        self.spawn(switch(), "switch database")

    async def _schedule_backfill(self) -> None:
        async with self.db.connection() as conn:
            await backfill.schedule(conn, self.memory.embedder)

    async def cancel_job(self, job_id: str) -> None:
        if not self.connected:
            return
        async with self.db.connection() as conn:
            await jobs_store.request_cancel(conn, job_id)

    # --- documents ---------------------------------------------------------------------------

    def close_document(self, uri: str) -> None:
        state = self.documents.get(uri)
        if state is not None and not state.pending:
            self.documents.pop(uri, None)

    def refresh_if_stale(self, uri: str, max_age: float = STALE_AFTER_SECONDS) -> None:
        self.documents.refresh_if_stale(uri, max_age)

    async def flush(self, timeout: float = 30) -> None:
        await self.documents.flush(timeout)

    async def settled(self, uri: str, timeout: float) -> bool:
        return await self.documents.settled(uri, timeout)

    def views_at(self, uri: str, rng: Range) -> list[ProblemView]:
        return self.documents.views_at(uri, rng)

    def fixes_for(self, uri: str, view: ProblemView, text: str, version: int | None) -> list[Any]:
        return self.documents.fixes_for(uri, view, text, version)

    # --- user actions ------------------------------------------------------------------------

    async def record_fix_applied(self, solution_id: str, problem_id: str | None) -> None:
        async with self.db.connection() as conn:
            sol = await solution_store.get_solution(conn, solution_id)
            if sol is None:
                return
            await self.memory.record_applied(conn, sol)

    async def record_fix_rejected(self, solution_id: str) -> None:
        async with self.db.connection() as conn:
            await solution_store.record_reject(conn, solution_id)
        for doc in self.documents.values():
            for view in doc.views:
                view.fixes = [f for f in view.fixes if str(f.solution["id"]) != solution_id]
            self.client.views_changed(doc.uri)

    async def ignore_signature(self, signature: str) -> None:
        async with self.db.connection() as conn:
            await problem_store.ignore_signature(conn, self.user_id, signature)
        for doc in self.documents.values():
            before = len(doc.views)
            doc.views = [v for v in doc.views if v.signature.key != signature]
            if len(doc.views) != before:
                self.client.views_changed(doc.uri)

    async def save_resolved_as_solution(self, uri: str, problem_id: str) -> Any:
        """'Save this change as a solution' for a problem resolved without a learned fix."""
        from codecortex.memory.learning import LearnedChange, learn_change

        doc = self.documents.get(uri)
        if doc is None:
            return None
        entry = next((r for r in doc.resolved if str(r.problem["id"]) == problem_id), None)
        if entry is None:
            return None
        if entry.before_text is None:
            return None
        async with self.db.connection() as conn:
            learned = learn_change(
                entry.before_text,  # from the stored (redacted) snapshot: compare like with like
                scrub(doc.text),
                range_of(entry.problem),
                doc.language,
                max_diff_lines=self.settings.max_diff_lines * 4,
            )
            if not isinstance(learned, LearnedChange):
                return None
            return await self.memory.save_solution(
                conn,
                self.identity(uri_to_path(uri)),
                entry.problem,
                learned,
                entry.seconds,
                source="manual",
            )

    async def stats(self) -> dict[str, Any]:
        from codecortex.reports.stats import collect_stats

        async with self.db.connection() as conn:
            return await collect_stats(conn, self.user_id)
