"""The language server's engine: editor-agnostic state behind the thin `lsp/` layer.

It owns the database connection (kept alive across outages), the developer's identity, the
workspace repositories and a per-document cache of what is known about each open problem.
Diagnostics are processed in the background, in order, per document; `code_actions` and `hover`
read only the cache. Observations made while the database is down are queued and written when
it is back, so nothing is lost.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from codecortex.analysis import pipeline as analysis_pipeline
from codecortex.config import ProjectConfig, Settings, load_project_config
from codecortex.diagnostics import Diagnostic, Range
from codecortex.files.roots import RepoInfo, repo_info, uri_to_path, user_name
from codecortex.jobs import JobRunner
from codecortex.knowledge import backfill
from codecortex.knowledge.docs import add_note, ingest_file, ingest_workspace
from codecortex.knowledge.embeddings import make_embedder
from codecortex.llm.redaction import scrub
from codecortex.memory.identity import Identity, register_repo
from codecortex.memory.observe import range_of
from codecortex.memory.problem_memory import Memory
from codecortex.memory.views import ProblemView, Resolved
from codecortex.session.database import Database, DatabaseDown
from codecortex.store import identity as identity_store
from codecortex.store import jobs as jobs_store
from codecortex.store import problems as problem_store
from codecortex.store import solutions as solution_store

log = logging.getLogger(__name__)
MAX_PENDING_PER_DOCUMENT = 200
STALE_AFTER_SECONDS = 15.0
# The background refresh looks again for fixes and history every STALE_AFTER_SECONDS (a
# teammate's new fix of the same problem shows up), but searches related knowledge again only
# this often: 30 hybrid searches per open document every 15 s were most of what a team's
# editors asked of a shared server (bench/team_load.py).
RELATED_STALE_SECONDS = 300.0


class Client(Protocol):
    """What the engine needs from the editor connection (implemented by the lsp layer)."""

    def log(self, message: str, level: str = "info") -> None: ...
    def show_once(self, key: str, message: str, level: str = "warning") -> None: ...
    def status(self, payload: dict[str, Any]) -> None: ...
    def views_changed(self, uri: str) -> None: ...
    def job_progress(self, job: Any, fraction: float | None, message: str | None) -> None: ...


@dataclass
class PendingObservation:
    version: int | None
    text: str
    language: str | None
    diagnostics: list[Diagnostic]
    tools: set[str] | None
    method: str
    not_tools: frozenset[str] = frozenset()
    at: float = field(default_factory=time.time)


@dataclass
class DocumentState:
    uri: str
    path: str
    language: str | None
    version: int | None = None
    text: str = ""
    views: list[ProblemView] = field(default_factory=list)
    resolved: list[Resolved] = field(default_factory=list)
    pending: list[PendingObservation] = field(default_factory=list)
    worker: asyncio.Task[None] | None = None
    recalled_at: float = 0.0  # the oldest full recall among the views (monotonic)
    recalled: dict[str, float] = field(default_factory=dict)  # problem id -> its last recall
    recalling: bool = False  # the views shown are being recalled (their fixes come in steps)
    related_at: float = 0.0  # the last background search of related knowledge (monotonic)

    def mark_recalled(self, views: list[ProblemView], at: float) -> None:
        self.recalled.update((str(v.problem_id), at) for v in views)
        current = {str(v.problem_id) for v in self.views}
        self.recalled = {k: t for k, t in self.recalled.items() if k in current}
        self.recalled_at = min((self.recalled.get(k, 0.0) for k in current), default=at)


class Service:
    def __init__(self, settings: Settings, client: Client) -> None:
        self.settings = settings
        self.client = client
        self.db = Database(settings, on_state=self._db_state)
        self.memory = Memory(settings, self._make_embedder(settings))
        self.user_id: Any = None
        self.user_name = ""
        self.user_email: str | None = None
        self.folders: list[Path] = []
        self.repos: dict[Path, Any] = {}
        self.repo_infos: dict[Path, RepoInfo] = {}
        self.projects: dict[Path, ProjectConfig] = {}  # [tool.codecortex] per repository root
        self.documents: dict[str, DocumentState] = {}
        self.counts = {"problems": 0, "solutions": 0}
        self._tasks: set[asyncio.Task[Any]] = set()
        self.db.on_connected.append(self._after_connect)
        self.job_handlers: dict[str, Any] = {
            backfill.JOB_TYPE: lambda ctx: backfill.run_backfill(ctx, self.memory.embedder),
            analysis_pipeline.JOB_TYPE: lambda ctx: analysis_pipeline.run_job(
                ctx, self.settings, analysis_pipeline.state_of(self)
            ),
        }
        self.runner = JobRunner(
            lambda: self.db.connection(),
            self.job_handlers,
            on_progress=lambda job, f, m: self.client.job_progress(job, f, m),
            on_finish=lambda job: self.client.job_progress(job, None, job.status),
        )
        self._runner_stop = asyncio.Event()
        self._runner_task: asyncio.Task[Any] | None = None

    @staticmethod
    def _make_embedder(settings: Settings) -> Any:
        import os

        if settings.embedder == "openai":
            return make_embedder(
                "openai",
                model=settings.embedding_model,
                base_url=settings.embedding_base_url or settings.llm_base_url or None,
                api_key=settings.llm_api_key
                or os.environ.get("CODECORTEX_OPENAI_API_KEY")
                or os.environ.get("OPENAI_API_KEY"),
            )
        return make_embedder("hash")

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
        self.folders = [f.resolve() for f in folders]
        name, email = await user_name(self.settings.user, self.folders[0] if folders else None)
        self.user_name, self.user_email = name, email
        for folder in self.folders:
            self.repo_infos[folder] = await repo_info(folder)
        self.reload_project_configs()
        await self.db.start()

    async def add_folder(self, folder: Path) -> None:
        """A workspace folder added while running: a repository row and its docs indexed."""
        folder = folder.resolve()
        if folder in self.folders:
            return
        self.folders.append(folder)
        info = self.repo_infos[folder] = await repo_info(folder)
        self.reload_project_configs()
        if self.db.state == "connected":
            async with self.db.connection() as conn:
                self.repos[folder] = await register_repo(conn, info)

    def remove_folder(self, folder: Path) -> None:
        folder = folder.resolve()
        if folder in self.folders:
            self.folders.remove(folder)
        self.repos.pop(folder, None)
        self.repo_infos.pop(folder, None)

    def reload_project_configs(self) -> None:
        """Read `[tool.codecortex]` of every workspace repository again (at start, when a
        folder is added, when a pyproject.toml is saved)."""
        self.projects = {}
        for info in self.repo_infos.values():
            config = load_project_config(info.root, info.root)
            self.projects[info.root] = config
            for error in config.errors:
                self.client.log(f"invalid project setting: {error}", "warning")

    def project_for(self, path: Path | None) -> ProjectConfig:
        """The `[tool.codecortex]` settings of the workspace repository containing `path`."""
        if path is not None:
            best: Path | None = None
            for root in self.projects:
                if (path == root or root in path.parents) and (
                    best is None or len(root.parts) > len(best.parts)
                ):
                    best = root
            if best is not None:
                return self.projects[best]
        return ProjectConfig()

    def records(self, path: Path | None) -> bool:
        """Whether problems of `path` are recorded: not when its project disables CodeCortex
        or ignores the path (`[tool.codecortex]`)."""
        project = self.project_for(path.resolve() if path is not None else None)
        return project.enable and not (path is not None and project.ignores(path))

    def refresh_if_stale(self, uri: str, max_age: float = STALE_AFTER_SECONDS) -> None:
        """Recall again in the background when a document's cache is old: a teammate or another
        window may have learned a fix since. Callers never wait for it."""
        doc = self.documents.get(uri)
        if doc is None or not doc.views or doc.pending or doc.recalling:
            return
        if self.db.state != "connected":
            return
        if time.monotonic() - doc.recalled_at < max_age:
            return
        doc.recalled_at = time.monotonic()  # one refresh at a time
        self.spawn(self._refresh(doc), f"refresh {uri}")

    async def _refresh(self, doc: DocumentState) -> None:
        ident = self.identity(uri_to_path(doc.uri))
        views = doc.views
        related = time.monotonic() - doc.related_at >= RELATED_STALE_SECONDS
        try:
            async with self.db.connection() as conn:
                await self.memory.recall(
                    conn, ident, doc.text, doc.language, views, related=related, **self._where(doc)
                )
        except DatabaseDown:
            return
        if related:
            doc.related_at = time.monotonic()
        if doc.views is views:
            doc.mark_recalled(views, time.monotonic())
            self.client.views_changed(doc.uri)

    async def _fill_related(
        self, doc: DocumentState, views: list[ProblemView], ident: Identity
    ) -> None:
        try:
            async with self.db.connection() as conn:
                await self.memory.fill_related(conn, ident, views, log_results=False)
                if any(v in doc.views for v in views):
                    self.client.views_changed(doc.uri)
                await self.memory.log_related(conn, views)  # after the views are shown
        except DatabaseDown:
            return

    async def stop(self) -> None:
        self._runner_stop.set()
        for doc in self.documents.values():
            if doc.worker is not None:
                doc.worker.cancel()
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
        async with self.db.connection() as conn:
            self.user_id = await identity_store.ensure_user(conn, self.user_name, self.user_email)
            for folder, info in self.repo_infos.items():
                self.repos[folder] = await register_repo(conn, info)
            await self._refresh_counts(conn)
            await backfill.schedule(conn, self.memory.embedder)
        if self._runner_task is None or self._runner_task.done():
            self._runner_task = self.spawn(self.runner.run_forever(self._runner_stop), "jobs")
        self.publish_status()
        for doc in self.documents.values():  # write what was seen while we were down
            if doc.pending:
                self._kick(doc)

    async def _refresh_counts(self, conn: Any) -> None:
        cur = await conn.execute(
            "SELECT (SELECT COUNT(*) FROM detected_problems WHERE user_id = %(u)s) AS problems,"
            " (SELECT COUNT(*) FROM past_solutions WHERE user_id = %(u)s"
            "  OR visibility = 'team') AS solutions",
            {"u": self.user_id},
        )
        row = await cur.fetchone()
        if row:
            self.counts = {"problems": int(row["problems"]), "solutions": int(row["solutions"])}

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
            if self.db.state == "connected":
                self.spawn(self._schedule_backfill(), "schedule backfill")

    def _move_database(self, settings: Settings) -> None:
        """databaseUrl or dataDir changed: use the new database from now on. Before `start`
        (initializationOptions) that is only a different target; later the old connection is
        closed and the new one opened, and what was not yet written goes to the new one."""
        old = self.db
        self.db = Database(settings, on_state=self._db_state)
        self.db.on_connected.append(self._after_connect)
        if old.state == "starting" and old.target is None:
            return
        self.client.log(f"database setting changed: now {self.where()}")
        self.user_id = None
        self.repos = {}
        self.counts = {"problems": 0, "solutions": 0}

        async def switch() -> None:
            await old.close()
            await self.db.start()

        self.spawn(switch(), "switch database")

    async def _schedule_backfill(self) -> None:
        async with self.db.connection() as conn:
            await backfill.schedule(conn, self.memory.embedder)

    async def cancel_job(self, job_id: str) -> None:
        async with self.db.connection() as conn:
            await jobs_store.request_cancel(conn, job_id)

    # --- identity helpers ------------------------------------------------------------------

    def repo_for(self, path: Path | None) -> Any:
        if path is None:
            return None
        for folder, repo_id in self.repos.items():
            if path == folder or folder in path.parents:
                return repo_id
        return None

    def _where(self, doc: DocumentState) -> dict[str, Any]:
        """Where a document lives, for re-running detectors on its text: its path and the
        workspace folder that holds it (the project root whose configuration applies)."""
        path = uri_to_path(doc.uri)
        if path is None:
            return {"path": None, "root": self.folders[0] if self.folders else None}
        root = next((f for f in self.folders if f == path or f in path.parents), path.parent)
        return {"path": path, "root": root}

    def identity(self, path: Path | None = None) -> Identity:
        return Identity(
            self.user_id, self.user_name, self.repo_for(path), self.settings.default_visibility
        )

    # --- diagnostics in --------------------------------------------------------------------

    def document(self, uri: str, language: str | None) -> DocumentState:
        doc = self.documents.get(uri)
        if doc is None:
            path = uri_to_path(uri)
            doc = self.documents[uri] = DocumentState(uri, str(path) if path else uri, language)
        if language:
            doc.language = language
        return doc

    def on_diagnostics(
        self,
        uri: str,
        version: int | None,
        text: str,
        language: str | None,
        diagnostics: list[Diagnostic],
        *,
        tools: set[str] | None = None,
        not_tools: frozenset[str] = frozenset(),
        method: str = "editor",
    ) -> None:
        """Queue an observation of a document; processed in order in the background.

        `tools`: whose full result this is (None: every tool's, set(): a partial set that only
        adds). `not_tools`: tools this observation says nothing about although it is "every
        tool's": the editor's diagnostics forwarded while the server runs those detectors itself
        (detectOnSave) do not include them, so they must neither resolve nor hide their problems.

        Nothing is recorded for a project that disables CodeCortex or a path it ignores
        (`[tool.codecortex]` in its pyproject.toml)."""
        if not self.records(uri_to_path(uri)):
            return
        doc = self.document(uri, language)
        doc.pending.append(
            PendingObservation(
                version, text, doc.language, diagnostics, tools, method, frozenset(not_tools)
            )
        )
        if len(doc.pending) > MAX_PENDING_PER_DOCUMENT:
            # Keep the first (the problems' "before") and the latest ones.
            del doc.pending[1 : len(doc.pending) - MAX_PENDING_PER_DOCUMENT // 2]
        self._kick(doc)

    def _kick(self, doc: DocumentState) -> None:
        if doc.worker is None or doc.worker.done():
            doc.worker = self.spawn(self._drain(doc), f"observe {doc.uri}")

    async def _drain(self, doc: DocumentState) -> None:
        path = uri_to_path(doc.uri)
        while doc.pending:
            if self.db.state != "connected" or self.user_id is None:
                return  # resumed by _after_connect
            obs = doc.pending[0]
            if not self.records(path):  # queued before the project settings were read
                doc.pending.clear()
                return
            ident = self.identity(path)
            try:
                async with self.db.connection() as conn:
                    async with conn.transaction():
                        result = await self.memory.observe(
                            conn,
                            ident,
                            doc.path,
                            obs.text,
                            obs.language,
                            obs.diagnostics,
                            tools=obs.tools,
                            not_tools=obs.not_tools,
                            detection_method=obs.method,
                            version=obs.version,
                        )
                    doc.pending.pop(0)
                    # Only the latest state is worth recalling, when it shows all this one does.
                    superseded = bool(doc.pending) and _covers(doc.pending[0], obs)
                    recalled: list[ProblemView] = []
                    if not superseded:
                        # Problems recalled less than STALE_AFTER_SECONDS ago keep what was
                        # found for them (fixes replayed on the new text); only the others are
                        # recalled. Fixes and history first; related knowledge is filled in
                        # afterwards so that the first code action does not wait for it.
                        # Shown at once (the carried-over fixes with them); the fixes of the
                        # others appear step by step, as soon as they are checked.
                        doc.recalling = True
                        try:
                            recalled = await self._carry_over(doc, obs, result.views)
                            await self._show(doc, obs, result.views)
                            await self.memory.recall(
                                conn,
                                ident,
                                obs.text,
                                obs.language,
                                recalled,
                                related=False,
                                on_ready=lambda _step: self.client.views_changed(doc.uri),
                                **self._where(doc),
                            )
                        finally:
                            doc.recalling = False
                    if result.new or result.resolved:
                        await self._refresh_counts(conn)
            except DatabaseDown:
                return
            except Exception as exc:
                log.debug("processing diagnostics for %s failed", doc.uri, exc_info=True)
                self.client.log(f"could not process diagnostics for {doc.uri}: {exc}", "error")
                if doc.pending and doc.pending[0] is obs:  # not popped before it failed
                    doc.pending.pop(0)
                continue
            if result.resolved:
                doc.resolved = (result.resolved + doc.resolved)[:20]
                learned = [r for r in result.resolved if r.solution_id]
                if learned:
                    self.client.log(f"learned {len(learned)} fix(es) in {doc.path}")
            if superseded:
                self.publish_status()
                continue
            doc.mark_recalled(recalled, time.monotonic())
            self.publish_status()
            self.client.views_changed(doc.uri)
            if recalled:
                self.spawn(self._fill_related(doc, recalled, ident), f"related {doc.uri}")

    async def _show(
        self, doc: DocumentState, obs: PendingObservation, views: list[ProblemView]
    ) -> None:
        """Make `views` the document's views as of `obs` and publish them. The views this
        observation speaks for are replaced; the others (another tool's, or every view for a
        partial set) are kept, their fixes replayed on the new text."""
        known = {str(v.problem_id) for v in views}
        kept = [
            v
            for v in doc.views
            if not _speaks_for(obs, v.signature.tool) and str(v.problem_id) not in known
        ]
        await self._replay_fixes(kept, doc.text, obs.text, obs.language)
        doc.views = kept + views
        doc.version = obs.version
        doc.text = obs.text
        self.client.views_changed(doc.uri)

    async def _carry_over(
        self, doc: DocumentState, obs: PendingObservation, views: list[ProblemView]
    ) -> list[ProblemView]:
        """Give each view of a problem recalled recently (its previous view in `doc`) that
        view's history, related results and fixes, the fixes replayed on the new text and kept
        only when they make the same change (`Memory.replay_again`). Returns the views that
        still need a recall."""
        now = time.monotonic()
        previous = {str(v.problem_id): v for v in doc.views}
        carried: list[tuple[ProblemView, ProblemView]] = []
        rest: list[ProblemView] = []
        for view in views:
            old = previous.get(str(view.problem_id))
            at = doc.recalled.get(str(view.problem_id))
            if old is not None and at is not None and now - at < STALE_AFTER_SECONDS:
                carried.append((view, old))
            else:
                rest.append(view)
        if not carried:
            return rest
        for view, old in carried:
            view.history, view.related, view.fixes = old.history, old.related, old.fixes
        await self._replay_fixes([view for view, _ in carried], doc.text, obs.text, obs.language)
        return rest

    async def _replay_fixes(
        self, views: list[ProblemView], old_text: str, text: str, language: str | None
    ) -> None:
        """The views' fixes replayed from `old_text` on `text` (`Memory.replay_again`: kept
        only when they make the same change), on a worker thread: CPU work off the loop."""
        if old_text == text or not any(v.fixes for v in views):
            return

        def replay() -> None:
            for view in views:
                if view.fixes:
                    view.fixes = self.memory.replay_again(view, old_text, text, language)

        await asyncio.to_thread(replay)

    async def flush(self, timeout: float = 30) -> None:
        """Wait until every queued observation is processed (tests, shutdown)."""
        workers = [d.worker for d in self.documents.values() if d.worker and not d.worker.done()]
        if workers:
            await asyncio.wait(workers, timeout=timeout)

    def checking(self, uri: str) -> bool:
        """Whether the document's diagnostics are being processed or its fixes checked."""
        doc = self.documents.get(uri)
        if doc is None:
            return False
        return doc.recalling or (bool(doc.pending) and self.db.state == "connected")

    async def settled(self, uri: str, timeout: float) -> bool:
        """Wait (up to `timeout` s) until the document's fixes are all checked; False if not."""
        deadline = time.monotonic() + timeout
        while self.checking(uri):
            if time.monotonic() >= deadline:
                return False
            await asyncio.sleep(0.05)
        return True

    # --- cache reads (never touch the database) ----------------------------------------------

    def views_at(self, uri: str, rng: Range) -> list[ProblemView]:
        doc = self.documents.get(uri)
        if doc is None:
            return []
        return [v for v in doc.views if _overlaps(v.diagnostic.range, rng)]

    def fixes_for(self, uri: str, view: ProblemView, text: str, version: int | None) -> list[Any]:
        """The view's fixes, replayed again (CPU only) if the document changed since: only those
        that still make the change that was verified."""
        doc = self.documents.get(uri)
        if doc is None or version is None or version == doc.version or not view.fixes:
            return view.fixes
        return self.memory.replay_again(view, doc.text, text, doc.language)

    # --- user actions (background writes) ------------------------------------------------------

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

    async def add_note(self, text: str, title: str = "", tags: list[str] | None = None) -> Any:
        async with self.db.connection() as conn:
            return await add_note(
                conn,
                self.memory.embedder,
                user_id=self.user_id,
                repo_id=next(iter(self.repos.values()), None),
                text=text,
                title=title,
                tags=tags,
                visibility=self.settings.default_visibility,
            )

    async def search(self, query: str, limit: int = 10) -> list[dict[str, Any]]:
        async with self.db.connection() as conn:
            return await self.memory.search(conn, self.identity(), query, limit)

    async def index_docs(
        self, progress: Callable[[float, str], Awaitable[None]] | None = None
    ) -> dict[str, int]:
        totals = {"files": 0, "added": 0, "removed": 0}
        for n, (folder, repo_id) in enumerate(self.repos.items()):

            async def report(fraction: float, message: str, n: int = n) -> None:
                if progress is not None:
                    await progress((n + fraction) / max(len(self.repos), 1), message)

            async with self.db.connection() as conn:
                result = await ingest_workspace(
                    conn,
                    self.memory.embedder,
                    repo_id,
                    self.repo_infos[folder].root,
                    max_file_size=self.settings.max_file_size,
                    progress=report,
                    user_id=self.user_id,
                    visibility=self.doc_visibility(),
                )
            for key in totals:
                totals[key] += result[key]
        return totals

    def doc_visibility(self) -> str:
        """Indexed docs are the indexing developer's own unless shareDocs is on."""
        return "team" if self.settings.share_docs else "private"

    async def reingest(self, paths: list[Path]) -> int:
        """Re-ingest doc files changed outside the editor (watchfiles)."""
        changed = 0
        async with self.db.connection() as conn:
            for path in paths:
                for folder, repo_id in self.repos.items():
                    root = self.repo_infos[folder].root
                    if root in path.parents:
                        added, removed = await ingest_file(
                            conn,
                            self.memory.embedder,
                            repo_id,
                            root,
                            path,
                            self.settings.max_file_size,
                            user_id=self.user_id,
                            visibility=self.doc_visibility(),
                        )
                        changed += added + removed
        return changed


def _partial(obs: PendingObservation) -> bool:
    """A partial observation (code action context) adds to the views instead of replacing
    them, so the views of the observation before it must be recalled and kept."""
    return obs.tools is not None and not obs.tools


def _speaks_for(obs: PendingObservation, tool: str) -> bool:
    """Whether the observation is the full current result of `tool` (its views replace that
    tool's views, and its problems that are not reported any more are resolved)."""
    if _partial(obs) or tool in obs.not_tools:
        return False
    return obs.tools is None or tool in obs.tools


def _covers(later: PendingObservation, earlier: PendingObservation) -> bool:
    """Whether `later` speaks for every tool `earlier` does, so that recalling `earlier`'s
    views would be wasted work (they are all replaced)."""
    if _partial(later):
        return False
    if not earlier.tools:  # every tool (None), or a partial set of any tools
        return later.tools is None and later.not_tools <= earlier.not_tools
    if later.tools is None:
        return not (earlier.tools & later.not_tools)
    return earlier.tools <= later.tools


def _overlaps(a: Range, b: Range) -> bool:
    a_start = (a.start.line, a.start.character)
    a_end = (a.end.line, a.end.character)
    b_start = (b.start.line, b.start.character)
    b_end = (b.end.line, b.end.character)
    return a_start <= b_end and b_start <= a_end
