"""The open documents of one editor connection: what is known about each (`DocumentState`: its
text, the views of its problems, what was resolved), the queue of observations (diagnostics
processed in the background, in order, per document) and the cached reads the editor's requests
use (they never touch the database). Observations made while the database is down stay queued
and are written when it is back.

(Over 400 lines: the queue and the recall it drives are one piece of logic.)
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from codecortex.config import Settings
from codecortex.diagnostics import Diagnostic, Range
from codecortex.files.roots import uri_to_path
from codecortex.memory.identity import Identity
from codecortex.memory.problem_memory import Memory
from codecortex.memory.views import ProblemView, Resolved
from codecortex.session.database import Database, DatabaseDown
from codecortex.session.folders import Workspace

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


class Host(Protocol):
    """What the documents need from the session that holds them."""

    settings: Settings
    client: Client
    db: Database
    memory: Memory
    workspace: Workspace

    def spawn(self, coro: Any, name: str = "") -> asyncio.Task[Any]: ...
    def identity(self, path: Path | None = None) -> Identity: ...
    def publish_status(self) -> None: ...
    async def refresh_counts(self, conn: Any) -> None: ...


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


class Documents(dict[str, DocumentState]):
    """The open documents by URI, and their observation queue."""

    def __init__(self, host: Host) -> None:
        super().__init__()
        self.host = host

    def document(self, uri: str, language: str | None) -> DocumentState:
        doc = self.get(uri)
        if doc is None:
            path = uri_to_path(uri)
            doc = self[uri] = DocumentState(uri, str(path) if path else uri, language)
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
        if not self.host.workspace.records(uri_to_path(uri)):
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
            doc.worker = self.host.spawn(self._drain(doc), f"observe {doc.uri}")

    async def _drain(self, doc: DocumentState) -> None:
        path = uri_to_path(doc.uri)
        while doc.pending:
            if self.host.db.state != "connected" or self.host.workspace.user_id is None:
                return  # resumed by _after_connect
            obs = doc.pending[0]
            if not self.host.workspace.records(
                path
            ):  # queued before the project settings were read
                doc.pending.clear()
                return
            ident = self.host.identity(path)
            try:
                async with self.host.db.connection() as conn:
                    async with conn.transaction():
                        result = await self.host.memory.observe(
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
                            await self.host.memory.recall(
                                conn,
                                ident,
                                obs.text,
                                obs.language,
                                recalled,
                                related=False,
                                on_ready=lambda _step: self.host.client.views_changed(doc.uri),
                                **self.host.workspace.where(doc.uri),
                            )
                        finally:
                            doc.recalling = False
                    if result.new or result.resolved:
                        await self.host.refresh_counts(conn)
            except DatabaseDown:
                return
            except Exception as exc:
                log.debug("processing diagnostics for %s failed", doc.uri, exc_info=True)
                self.host.client.log(f"could not process diagnostics for {doc.uri}: {exc}", "error")
                if doc.pending and doc.pending[0] is obs:  # not popped before it failed
                    doc.pending.pop(0)
                continue
            if result.resolved:
                doc.resolved = (result.resolved + doc.resolved)[:20]
                learned = [r for r in result.resolved if r.solution_id]
                if learned:
                    self.host.client.log(f"learned {len(learned)} fix(es) in {doc.path}")
            if superseded:
                self.host.publish_status()
                continue
            doc.mark_recalled(recalled, time.monotonic())
            self.host.publish_status()
            self.host.client.views_changed(doc.uri)
            if recalled:
                self.host.spawn(self._fill_related(doc, recalled, ident), f"related {doc.uri}")

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
        self.host.client.views_changed(doc.uri)

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
                    view.fixes = self.host.memory.replay_again(view, old_text, text, language)

        await asyncio.to_thread(replay)

    async def flush(self, timeout: float = 30) -> None:
        """Wait until every queued observation is processed (tests, shutdown)."""
        workers = [d.worker for d in self.values() if d.worker and not d.worker.done()]
        if workers:
            await asyncio.wait(workers, timeout=timeout)

    def checking(self, uri: str) -> bool:
        """Whether the document's diagnostics are being processed or its fixes checked."""
        doc = self.get(uri)
        if doc is None:
            return False
        return doc.recalling or (bool(doc.pending) and self.host.db.state == "connected")

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
        doc = self.get(uri)
        if doc is None:
            return []
        return [v for v in doc.views if _overlaps(v.diagnostic.range, rng)]

    def fixes_for(self, uri: str, view: ProblemView, text: str, version: int | None) -> list[Any]:
        """The view's fixes, replayed again (CPU only) if the document changed since: only those
        that still make the change that was verified."""
        doc = self.get(uri)
        if doc is None or version is None or version == doc.version or not view.fixes:
            return view.fixes
        return self.host.memory.replay_again(view, doc.text, text, doc.language)

    def refresh_if_stale(self, uri: str, max_age: float = STALE_AFTER_SECONDS) -> None:
        """Recall again in the background when a document's cache is old: a teammate or another
        window may have learned a fix since. Callers never wait for it."""
        doc = self.get(uri)
        if doc is None or not doc.views or doc.pending or doc.recalling:
            return
        if self.host.db.state != "connected":
            return
        if time.monotonic() - doc.recalled_at < max_age:
            return
        doc.recalled_at = time.monotonic()  # one refresh at a time
        self.host.spawn(self._refresh(doc), f"refresh {uri}")

    async def _refresh(self, doc: DocumentState) -> None:
        ident = self.host.identity(uri_to_path(doc.uri))
        views = doc.views
        related = time.monotonic() - doc.related_at >= RELATED_STALE_SECONDS
        try:
            async with self.host.db.connection() as conn:
                await self.host.memory.recall(
                    conn,
                    ident,
                    doc.text,
                    doc.language,
                    views,
                    related=related,
                    **self.host.workspace.where(doc.uri),
                )
        except DatabaseDown:
            return
        if related:
            doc.related_at = time.monotonic()
        if doc.views is views:
            doc.mark_recalled(views, time.monotonic())
            self.host.client.views_changed(doc.uri)

    async def _fill_related(
        self, doc: DocumentState, views: list[ProblemView], ident: Identity
    ) -> None:
        try:
            async with self.host.db.connection() as conn:
                await self.host.memory.fill_related(conn, ident, views, log_results=False)
                if any(v in doc.views for v in views):
                    self.host.client.views_changed(doc.uri)
                await self.host.memory.log_related(conn, views)  # after the views are shown
        except DatabaseDown:
            return

    def resume(self) -> None:
        """Write what was seen while the database was down."""
        for doc in self.values():
            if doc.pending:
                self._kick(doc)

    def stop(self) -> None:
        for doc in self.values():
            if doc.worker is not None:
                doc.worker.cancel()


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
