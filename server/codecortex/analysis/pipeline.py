"""Progressive code analysis as queue jobs: sessions, storage, resumption, incremental updates.

A session (`codecortex_analysis_sessions`) belongs to one job of type `code_analysis` and runs the
phases up to the one asked for:

- quick: every source file is parsed and its per-file rules run; results are stored as they
  come (in batches, each in one transaction): `codecortex_items` (a file row holding the
  engine's FileAnalysis JSON and the file's sha256, plus one row per function / method / class /
  interface), the file's insights (+ priorities). A file whose stored sha256 (and rule
  thresholds) equal the current ones is not analysed again. So a session whose worker died is
  simply claimed again when its lease expires and continues where it stopped.
- medium: the workspace model is rebuilt from the stored analyses, imports / bases / calls are
  resolved to `code_relationships`, and the project rules (import cycles, README quality,
  dependency drift) run.
- deep: with a configured model, `codecortex.analysis.deep.run_deep_phase`; without one the
  phase is `skipped` with the reason "no model configured".

Insights are deduplicated by fingerprint (see `codecortex.store.analysis`): a finding keeps its
row, id and `ignored` status across runs; `open` findings a re-analysis no longer reports become
`expired`.

After a save, `codecortex.analysis.incremental.reanalyze` brings one file up to date.

Cancellation: `JobContext.progress` raises `JobCancelled` when someone asked to cancel; the
session is then `cancelled` and what was stored stays valid.

Over 400 lines: a session's phases share one runner's state (batches, resumption, progress,
cancellation), which is most of the module. Rows: `analysis.rows`; after a save:
`analysis.incremental`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import json
import logging
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from codecortex.analysis import (
    AnalysisThresholds,
    FileAnalysis,
    Relationship,
    WorkspaceAnalysis,
    iter_source_files,
    run_project_rules,
)
from codecortex.analysis.phases import _run_tasks
from codecortex.analysis.relations import ModuleIndex
from codecortex.analysis.rows import insight_row, item_rows, relationship_row
from codecortex.config import Settings
from codecortex.jobs import (
    ConnectionFactory,
    JobCancelled,
    JobContext,
    JobRunner,
    PermanentJobError,
    ProgressCallback,
)
from codecortex.store import analysis as store
from codecortex.store import jobs as jobs_store
from codecortex.store.jobs import Job

log = logging.getLogger(__name__)

JOB_TYPE = "code_analysis"
PHASES = ("quick", "medium", "deep")
CYCLE_RULE = "architecture.import_cycle"
PHASE_WEIGHTS = {"quick": 0.6, "medium": 0.3, "deep": 0.1}
BATCH_FILES = 64  # results stored per transaction (at most)
BATCH_SECONDS = 0.5  # ... or after this long
DEEP_BUDGET_TOKENS = 6000
NO_MODEL = "no model configured"

Progress = Callable[[float, str | None], Awaitable[None]]
Listener = Callable[[str, "set[str] | None"], Awaitable[None] | None]


def thresholds_from(settings: Settings) -> AnalysisThresholds:
    """Rule thresholds from the `analysis.*` settings (engine defaults where there is none)."""
    defaults = AnalysisThresholds()
    values = {}
    for f in dataclasses.fields(AnalysisThresholds):
        values[f.name] = getattr(settings, f"analysis_{f.name}", getattr(defaults, f.name))
    return AnalysisThresholds(**values)


def rules_key(thresholds: AnalysisThresholds) -> str:
    """Identifies the rule configuration a file was analysed with (changed -> analyse again)."""
    data = json.dumps(dataclasses.asdict(thresholds), sort_keys=True)
    return hashlib.sha256(data.encode()).hexdigest()[:16]


def default_phases(target: str) -> dict[str, dict[str, Any]]:
    wanted = PHASES[: PHASES.index(target) + 1]
    phases: dict[str, dict[str, Any]] = {}
    for name in PHASES:
        if name in wanted:
            phases[name] = {"status": "pending", "progress": 0, "insights_found": 0}
        else:
            phases[name] = {
                "status": "skipped",
                "progress": 0,
                "insights_found": 0,
                "reason": "not requested",
            }
    return phases


# --------------------------------------------------------------------------- per-process state


@dataclass
class AnalysisState:
    """What a process (the language server, a CLI run) keeps between analyses."""

    workspaces: dict[str, WorkspaceAnalysis] = field(default_factory=dict)
    locks: dict[str, asyncio.Lock] = field(default_factory=dict)
    # fn(root, files or None for "everything") after stored insights changed
    listeners: list[Listener] = field(default_factory=list)

    def lock(self, root: Path | str) -> asyncio.Lock:
        return self.locks.setdefault(str(root), asyncio.Lock())

    async def notify(self, root: Path | str, files: set[str] | None) -> None:
        for listener in list(self.listeners):
            try:
                maybe = listener(str(root), files)
                if maybe is not None:
                    await maybe
            except Exception:
                log.exception("analysis listener failed")


# --------------------------------------------------------------------------- a session


class _Stopped(Exception):
    pass


_DONE = object()


@dataclass
class SessionResult:
    session_id: str
    status: str
    phases: dict[str, Any]
    summary: dict[str, int]
    changed: int = 0
    unchanged: int = 0
    removed: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "session": self.session_id,
            "status": self.status,
            "phases": self.phases,
            "summary": self.summary,
            "insights": self.summary.get("total", 0),
            "changed": self.changed,
            "unchanged": self.unchanged,
            "removed": self.removed,
        }


class SessionRun:
    """Runs (or resumes) one session; `progress` is `JobContext.progress` (raises on cancel)."""

    def __init__(
        self,
        connection: ConnectionFactory,
        session: dict[str, Any],
        settings: Settings,
        state: AnalysisState,
        progress: Progress,
        *,
        job_id: str | None = None,
        processes: int | None = None,
    ) -> None:
        self.connection = connection
        self.session = session
        self.settings = settings
        self.state = state
        self.report = progress
        self.job_id = job_id
        self.processes = processes
        self.repo_id = session["repo_id"]
        self.user_id = session.get("user_id")
        self.root = Path(session["root_path"]).resolve()
        self.target = session["target_phase"]
        self.thresholds = AnalysisThresholds(**(session.get("thresholds") or {}))
        self.key = rules_key(self.thresholds)
        self.phases: dict[str, dict[str, Any]] = session["phases"]
        self.file_hashes: dict[str, str] = {}
        self.counts = {"changed": 0, "unchanged": 0, "removed": 0}
        wanted = [p for p in PHASES[: PHASES.index(self.target) + 1]]
        total = sum(PHASE_WEIGHTS[p] for p in wanted) or 1.0
        self._offsets: dict[str, tuple[float, float]] = {}
        acc = 0.0
        for p in wanted:
            w = PHASE_WEIGHTS[p] / total
            self._offsets[p] = (acc, w)
            acc += w

    async def progress(self, phase: str, fraction: float, message: str) -> None:
        start, width = self._offsets.get(phase, (0.0, 1.0))
        self.phases[phase]["progress"] = round(min(max(fraction, 0.0), 1.0), 3)
        await self.report(start + width * min(max(fraction, 0.0), 1.0), f"{phase}: {message}")

    async def _save_phases(self, **kw: Any) -> None:
        async with self.connection() as conn:
            await store.update_session(conn, self.session["id"], phases=self.phases, **kw)

    async def run(self) -> SessionResult:
        # the in-memory model is rebuilt by this session's medium phase (or from the database)
        self.state.workspaces.pop(str(self.root), None)
        for name in PHASES[: PHASES.index(self.target) + 1]:
            phase = self.phases.setdefault(name, {"status": "pending", "progress": 0})
            if phase.get("status") in ("completed", "skipped"):
                continue
            phase["status"] = "running"
            phase.setdefault("insights_found", 0)
            phase["started_at"] = phase.get("started_at") or time.time()
            await self._save_phases(status="running")
            await self.progress(name, 0.0, "starting")
            await getattr(self, f"_{name}")(phase)
            if phase["status"] == "running":
                phase["status"] = "completed"
                phase["progress"] = 1
            phase["seconds"] = round(time.time() - phase["started_at"], 3)
            async with self.connection() as conn:
                summary = await store.insights_summary(conn, self.repo_id)
                await store.update_session(
                    conn, self.session["id"], phases=self.phases, insights_summary=summary
                )
        async with self.connection() as conn:
            summary = await store.insights_summary(conn, self.repo_id)
            await store.purge_expired(conn, self.repo_id)
            await store.update_session(
                conn,
                self.session["id"],
                phases=self.phases,
                status="completed",
                insights_summary=summary,
                file_hashes=self.file_hashes or None,
                finished=True,
            )
        await self.report(1.0, f"{summary['total']} insights")
        await self.state.notify(self.root, None)
        return SessionResult(
            str(self.session["id"]), "completed", self.phases, summary, **self.counts
        )

    # ------------------------------------------------------------------ quick

    async def _quick(self, phase: dict[str, Any]) -> None:
        async with self.connection() as conn:
            stored_rows = await store.stored_files(conn, self.repo_id)
        stored = {p: h for p, (h, key) in stored_rows.items()}
        previous = {p: h for p, (h, key) in stored_rows.items() if key == self.key}
        listed: list[Any] = []

        def list_sources() -> list[Any]:
            return list(
                iter_source_files(
                    self.root,
                    self.settings.max_file_size,
                    skipped=listed,
                    check_content=False,
                )
            )

        sources = await asyncio.to_thread(list_sources)
        current = {sf.path for sf in sources}
        removed = sorted(p for p in stored if p not in current)
        if removed:
            async with self.connection() as conn, conn.transaction():
                await store.delete_files(conn, self.repo_id, removed)
        self.counts["removed"] = len(removed)
        phase["files"] = len(sources)
        phase["skipped_files"] = len(listed)
        phase.setdefault("analysed", 0)
        phase.setdefault("unchanged", 0)
        tasks = [
            (
                str(sf.abs_path),
                sf.path,
                sf.language,
                previous.get(sf.path),
                True,
                False,
                self.thresholds,
            )
            for sf in sources
        ]
        total = len(tasks)
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[Any] = asyncio.Queue()
        stop = threading.Event()

        def on_result(result: Any) -> None:
            if stop.is_set():
                raise _Stopped
            loop.call_soon_threadsafe(queue.put_nowait, result)

        def work() -> None:
            try:
                _run_tasks(tasks, self.processes, on_result)
            finally:
                loop.call_soon_threadsafe(queue.put_nowait, _DONE)

        worker = asyncio.ensure_future(asyncio.to_thread(work))
        batch: list[Any] = []
        done = 0
        last = time.monotonic()
        try:
            while True:
                try:
                    item = await asyncio.wait_for(queue.get(), BATCH_SECONDS)
                except TimeoutError:
                    item = None
                if item is _DONE:
                    break
                if item is not None:
                    batch.append(item)
                    done += 1
                if batch and (
                    len(batch) >= BATCH_FILES or time.monotonic() - last >= BATCH_SECONDS
                ):
                    await self._store_batch(phase, batch, stored)
                    batch = []
                    last = time.monotonic()
                    await self.progress("quick", done / max(total, 1), f"{done}/{total} files")
            if batch:
                await self._store_batch(phase, batch, stored)
            await worker
        except BaseException:
            stop.set()
            try:
                await asyncio.shield(worker)
            except BaseException:
                pass
            raise
        await self.progress("quick", 1.0, f"{total}/{total} files")

    async def _store_batch(
        self, phase: dict[str, Any], batch: list[Any], stored: dict[str, str]
    ) -> None:
        rows: list[dict[str, Any]] = []
        insights: list[dict[str, Any]] = []
        changed: list[str] = []
        gone: list[str] = []
        unchanged = 0
        for rel, status, a, b in batch:
            if status == "skipped":
                if rel in stored:
                    gone.append(rel)
            elif status == "unchanged":
                unchanged += 1
                self.file_hashes[rel] = a
            else:
                rows += item_rows(a, self.key)
                insights += [insight_row(i) for i in b]
                changed.append(rel)
                self.file_hashes[rel] = a.sha256
        async with self.connection() as conn, conn.transaction():
            if gone:
                await store.delete_files(conn, self.repo_id, gone)
            await store.replace_files(conn, self.repo_id, rows)
            await store.upsert_insights(
                conn, self.repo_id, insights, scope="file", job_id=self.job_id
            )
            if changed:
                await store.expire_missing(
                    conn,
                    self.repo_id,
                    scope="file",
                    files=changed,
                    keep=[r["fingerprint"] for r in insights],
                )
            phase["analysed"] = phase.get("analysed", 0) + len(changed)
            phase["unchanged"] = phase.get("unchanged", 0) + unchanged
            phase["insights_found"] = phase.get("insights_found", 0) + len(insights)
            await store.update_session(conn, self.session["id"], phases=self.phases)
        self.counts["changed"] += len(changed)
        self.counts["unchanged"] += unchanged

    # ------------------------------------------------------------------ medium

    async def _medium(self, phase: dict[str, Any]) -> None:
        async with self.connection() as conn:
            raw = await store.load_analyses(conn, self.repo_id)
        await self.progress("medium", 0.2, f"resolving imports of {len(raw)} files")
        ws = await asyncio.to_thread(build_medium, self.root, raw, self.thresholds)
        await self.progress("medium", 0.8, f"{len(ws.relationships)} relationships")
        rows = [insight_row(i) for i in ws.insights]
        async with self.connection() as conn, conn.transaction():
            await store.replace_relationships(
                conn, self.repo_id, [relationship_row(r) for r in ws.relationships]
            )
            await store.upsert_insights(
                conn, self.repo_id, rows, scope="project", job_id=self.job_id
            )
            await store.expire_missing(
                conn, self.repo_id, scope="project", keep=[r["fingerprint"] for r in rows]
            )
        phase["relationships"] = len(ws.relationships)
        phase["insights_found"] = len(rows)
        self.state.workspaces[str(self.root)] = ws

    # ------------------------------------------------------------------ deep

    async def _deep(self, phase: dict[str, Any]) -> None:
        from codecortex.synthesis.runner import Synthesizer

        llm = self.settings.llm_settings()
        if not llm.enabled:
            phase.update(status="skipped", reason=NO_MODEL)
            return
        try:
            from codecortex.analysis import deep as deep_analysis
        except ImportError:
            phase.update(status="skipped", reason="deep analysis is not available")
            return
        ws = self.state.workspaces.get(str(self.root))
        if ws is not None:
            files: list[Any] = list(ws.analyses.values())
        else:
            async with self.connection() as conn:
                raw = await store.load_analyses(conn, self.repo_id)
            files = [FileAnalysis.from_json(j) for j in raw.values()]
        synth = Synthesizer(llm)
        await self.progress("deep", 0.1, f"asking {llm.model}")
        try:
            async with self.connection() as conn:
                insights, sampling = await deep_analysis.run_deep_phase(
                    conn,
                    synth,
                    self.repo_id,
                    self.root,
                    files,
                    DEEP_BUDGET_TOKENS,
                    session_id=self.session["id"],
                    user_id=self.user_id,
                    job_id=self.job_id,
                )
                await store.mark_scope(conn, [i["id"] for i in insights], "deep")
        except deep_analysis.LLMError as exc:
            phase.update(status="failed", error=str(exc)[:500])
            return
        finally:
            await synth.aclose()
        phase["insights_found"] = len(insights)
        phase["sampled_files"] = len(sampling.get("files_sampled") or [])
        phase["model"] = llm.model


def build_medium(
    root: Path, raw: dict[str, dict[str, Any]], thresholds: AnalysisThresholds
) -> WorkspaceAnalysis:
    """The medium phase's computation on stored analyses (runs in a worker thread)."""
    analyses = {p: FileAnalysis.from_json(j) for p, j in sorted(raw.items())}
    index = ModuleIndex(analyses.keys(), root)
    rels: list[Relationship] = []
    for path in analyses:
        rels += index.resolve_file(path, analyses[path], analyses)
    project = run_project_rules(root, analyses, rels, thresholds)
    return WorkspaceAnalysis(
        root=root,
        phase="medium",
        analyses=analyses,
        hashes={p: a.sha256 for p, a in analyses.items()},
        insights=project,
        relationships=rels,
        thresholds=thresholds,
        index=index,
        cycle_insights=[i for i in project if i.rule == CYCLE_RULE],
    )


# --------------------------------------------------------------------------- jobs


def job_payload(root: Path | str, repo_id: Any, user_id: Any, phase: str) -> dict[str, Any]:
    if phase not in PHASES:
        raise ValueError(f"unknown phase {phase!r} (quick | medium | deep)")
    return {
        "root": str(Path(root).resolve()),
        "repo_id": str(repo_id),
        "user_id": str(user_id) if user_id else None,
        "phase": phase,
    }


async def enqueue(
    conn: Any, root: Path | str, repo_id: Any, user_id: Any, phase: str = "deep"
) -> str:
    """Queue an analysis of `root`; an analysis of the repository already queued or running is
    reused (one at a time per repository). Returns the job id."""
    return await jobs_store.enqueue(
        conn,
        JOB_TYPE,
        job_payload(root, repo_id, user_id, phase),
        dedupe_key=f"{JOB_TYPE}:{repo_id}",
        user_id=user_id,
        repo_id=repo_id,
        priority=5,
    )


async def run_job(
    ctx: JobContext,
    settings: Settings,
    state: AnalysisState | None = None,
    *,
    processes: int | None = None,
) -> dict[str, Any]:
    """The `code_analysis` job handler: create the session, or resume the job's session."""
    state = state or AnalysisState()
    payload = ctx.payload
    target = payload.get("phase") or "deep"
    async with ctx.connection() as conn:
        session = await store.session_for_job(conn, ctx.job.job_id)
        if session is None:
            thresholds = thresholds_from(settings)
            session = await store.create_session(
                conn,
                job_id=ctx.job.job_id,
                repo_id=payload["repo_id"],
                user_id=payload.get("user_id"),
                root_path=payload["root"],
                target_phase=target,
                thresholds=dataclasses.asdict(thresholds),
                phases=default_phases(target),
            )
        else:
            await store.update_session(conn, session["id"], status="running")
    run = SessionRun(
        ctx.connection,
        session,
        settings,
        state,
        ctx.progress,
        job_id=ctx.job.job_id,
        processes=processes,
    )
    try:
        async with state.lock(run.root):
            result = await run.run()
    except JobCancelled:
        for phase in run.phases.values():
            if phase.get("status") == "running":
                phase["status"] = "cancelled"
        async with ctx.connection() as conn:
            await store.update_session(
                conn, session["id"], phases=run.phases, status="cancelled", finished=True
            )
        await state.notify(run.root, None)
        raise
    except Exception as exc:
        async with ctx.connection() as conn:
            await store.update_session(
                conn,
                session["id"],
                phases=run.phases,
                status="failed",
                error=f"{type(exc).__name__}: {exc}"[:2000],
            )
        raise
    return result.to_json()


# --------------------------------------------------------------------------- in-process runs


async def run_inline(
    connection: ConnectionFactory,
    job_id: str,
    settings: Settings,
    state: AnalysisState | None = None,
    *,
    on_progress: ProgressCallback | None = None,
    lease_seconds: float = 30,
    poll_seconds: float = 0.5,
    processes: int | None = None,
) -> Job:
    """Run one given analysis job in this process (the CLI) and return its final state.

    When another worker holds the job (a language server analysing the same repository), its
    progress is reported until it finishes; a job whose worker died is taken over once its lease
    expires. Interrupted here (Ctrl-C: `CancelledError`), the job and its session are cancelled."""
    runner = JobRunner(
        connection,
        {JOB_TYPE: lambda ctx: run_job(ctx, settings, state, processes=processes)},
        lease_seconds=lease_seconds,
    )

    async def interrupted(conn: Any) -> None:
        await jobs_store.mark_cancelled(conn, job_id, runner.worker_id)
        session = await store.session_for_job(conn, job_id)
        if session is not None:
            await store.update_session(conn, session["id"], status="cancelled", finished=True)

    job = await runner.run(
        job_id,
        on_progress=on_progress,
        wait=True,
        retry=False,
        poll_seconds=poll_seconds,
        on_interrupt=interrupted,
    )
    if job is None:
        raise PermanentJobError(f"job {job_id} does not exist")
    return job
