"""Whole-workspace analysis in phases, with content-hash skipping and incremental re-analysis.

- quick: parse + symbols + per-file rules for every source file;
- medium: quick + relationships between files + project rules (import cycles, README, deps).
Many files are analysed in a process pool (forkserver, so it is safe inside a threaded server);
small sets stay in-process.
"""

from __future__ import annotations

import gc
import hashlib
import multiprocessing
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from codecortex.analysis.insights import AnalysisThresholds, run_file_rules, run_project_rules
from codecortex.analysis.model import FileAnalysis, Insight, Relationship
from codecortex.analysis.project import import_cycle_rule
from codecortex.analysis.relations import ModuleIndex
from codecortex.analysis.symbols import analyze_source
from codecortex.files.listing import (
    SNIFF_BYTES,
    SkippedFile,
    iter_source_files,
)
from codecortex.syntax.grammars import language_for_path

__all__ = [
    "IncrementalResult",
    "WorkspaceAnalysis",
    "affected_files",
    "analyze_workspace",
    "reanalyze_file",
]

POOL_MIN_FILES = 200  # below this a process pool costs more than it saves


# --------------------------------------------------------------------------- results


@dataclass(slots=True)
class WorkspaceAnalysis:
    """Result of `analyze_workspace`.

    `analyses` holds every current file's analysis that is known (freshly analysed ones plus,
    for unchanged files, those passed in `previous_analyses` or re-parsed for the medium phase);
    `changed` lists the files analysed afresh (their insights are in `insights`), `unchanged` the
    files skipped because their content hash matched `previous_hashes`, `removed` the files of
    `previous_hashes` that no longer exist. `hashes` maps every current file to its sha256.
    """

    root: Path
    phase: str
    analyses: dict[str, FileAnalysis] = field(default_factory=dict)
    changed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    skipped: list[SkippedFile] = field(default_factory=list)
    insights: list[Insight] = field(default_factory=list)
    relationships: list[Relationship] = field(default_factory=list)
    hashes: dict[str, str] = field(default_factory=dict)
    lines: int = 0
    timings: dict[str, float] = field(default_factory=dict)
    thresholds: AnalysisThresholds = field(default_factory=AnalysisThresholds)
    index: ModuleIndex | None = field(default=None, repr=False)
    cycle_insights: list[Insight] | None = field(default=None, repr=False)

    def insights_by_type(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for i in self.insights:
            out[i.type] = out.get(i.type, 0) + 1
        return out


@dataclass(slots=True)
class IncrementalResult:
    """What `reanalyze_file` changed."""

    path: str
    analysis: FileAnalysis | None
    insights: list[Insight]
    affected: set[str]
    relationships: list[Relationship]
    cycle_insights: list[Insight]
    seconds: float


# --------------------------------------------------------------------------- workers

# (abs path, rel path, language, previous sha256 or None, collect calls, rules on unchanged?,
#  thresholds)
_Task = tuple[str, str, str, str | None, bool, bool, AnalysisThresholds]


def _analyze_task(task: _Task) -> tuple[str, str, Any, Any]:
    abs_path, rel, language, prev_hash, collect_calls, need_unchanged, thresholds = task
    try:
        with open(abs_path, "rb") as fh:
            data = fh.read()
    except OSError as exc:
        return rel, "skipped", f"unreadable: {exc.strerror or exc}", None
    # `listing.content_problem`, decoding once
    if b"\0" in data[:SNIFF_BYTES]:
        return rel, "skipped", "binary", None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return rel, "skipped", "not UTF-8", None
    sha = hashlib.sha256(data).hexdigest()
    if prev_hash == sha and not need_unchanged:
        return rel, "unchanged", sha, None
    analysis = analyze_source(
        rel,
        text,
        language,
        collect_calls=collect_calls,
        src=data,
        sha256=sha,
        remember_tree=False,
    )
    if prev_hash == sha:
        analysis.drop_tree()
        return rel, "unchanged", sha, analysis
    insights = run_file_rules(analysis, text, thresholds, src=data)
    analysis.drop_tree()
    return rel, "ok", analysis, insights


_POOL_CONTEXT: Any = None


def _pool_context() -> Any:
    global _POOL_CONTEXT
    if _POOL_CONTEXT is None:
        methods = multiprocessing.get_all_start_methods()
        ctx = multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")
        if "forkserver" in methods:
            ctx.set_forkserver_preload(["codecortex.analysis.phases"])
        _POOL_CONTEXT = ctx
    return _POOL_CONTEXT


def _run_tasks(
    tasks: list[_Task],
    processes: int | None,
    on_result: Callable[[tuple[str, str, Any, Any]], None],
) -> None:
    if processes is None:
        processes = min(2, os.cpu_count() or 1)
    # The results pile up (hundreds of thousands of objects for a large workspace): each cyclic
    # collection would walk all of them again (unpickling the stdlib's results took 5x longer).
    # Freezing after each result leaves them out of the collections until the end; garbage made
    # meanwhile is still collected.
    freeze = gc.isenabled()
    try:
        if processes <= 1 or len(tasks) < POOL_MIN_FILES:
            for task in tasks:
                on_result(_analyze_task(task))
                if freeze:
                    gc.freeze()
            return
        # big files first so that the workers finish together
        tasks = sorted(tasks, key=lambda t: -_size(t[0]))
        chunksize = max(1, min(16, len(tasks) // (processes * 16)))
        with _pool_context().Pool(processes) as pool:
            for result in pool.imap_unordered(_analyze_task, tasks, chunksize):
                on_result(result)
                if freeze:
                    gc.freeze()
    finally:
        if freeze:
            gc.unfreeze()


def _size(path: str) -> int:
    try:
        return os.stat(path).st_size
    except OSError:
        return 0


# --------------------------------------------------------------------------- entry points


def analyze_workspace(
    root: Path | str,
    phase: str = "quick",
    previous_hashes: dict[str, str] | None = None,
    on_progress: Callable[[int, int], None] | None = None,
    *,
    previous_analyses: dict[str, FileAnalysis] | None = None,
    thresholds: AnalysisThresholds | None = None,
    max_file_size: int = 2_000_000,
    processes: int | None = None,
    exclude_dirs: Iterable[str] = (),
    site_packages: list[Path] | None = None,
) -> WorkspaceAnalysis:
    """Analyse every source file under `root` (see the module docstring for the phases).

    Files whose sha256 equals `previous_hashes[path]` are not analysed again. The medium phase
    needs every file's imports: for unchanged files it uses `previous_analyses` when given and
    otherwise re-parses them (without re-running their rules). `on_progress(done, total)` is
    called after each file.
    """
    if phase not in ("quick", "medium"):
        raise ValueError(f"unknown phase {phase!r} (quick | medium)")
    root = Path(root).resolve()
    t = thresholds or AnalysisThresholds()
    ws = WorkspaceAnalysis(root=root, phase=phase, thresholds=t)
    started = time.perf_counter()
    sources = list(
        iter_source_files(
            root,
            max_file_size,
            skipped=ws.skipped,
            check_content=False,
            exclude_dirs=exclude_dirs,
        )
    )
    ws.timings["list"] = time.perf_counter() - started
    previous_hashes = previous_hashes or {}
    previous_analyses = previous_analyses or {}
    medium = phase == "medium"
    tasks: list[_Task] = []
    for sf in sources:
        prev = previous_hashes.get(sf.path)
        need = medium and prev is not None and sf.path not in previous_analyses
        tasks.append((str(sf.abs_path), sf.path, sf.language, prev, medium, need, t))
    total = len(tasks)
    done = 0

    def on_result(result: tuple[str, str, Any, Any]) -> None:
        nonlocal done
        rel, status, a, b = result
        done += 1
        if status == "skipped":
            ws.skipped.append(SkippedFile(rel, a))
        elif status == "unchanged":
            ws.unchanged.append(rel)
            ws.hashes[rel] = a
            known = b if b is not None else previous_analyses.get(rel)
            if known is not None:
                ws.analyses[rel] = known
        else:
            ws.changed.append(rel)
            ws.analyses[rel] = a
            ws.hashes[rel] = a.sha256
            ws.lines += a.line_count
            ws.insights.extend(b)
        if on_progress is not None:
            on_progress(done, total)

    started = time.perf_counter()
    _run_tasks(tasks, processes, on_result)
    ws.timings["files"] = time.perf_counter() - started
    ws.changed.sort()
    ws.unchanged.sort()
    ws.skipped.sort(key=lambda s: s.path)
    current = {sf.path for sf in sources}
    ws.removed = sorted(p for p in previous_hashes if p not in current)
    if medium:
        started = time.perf_counter()
        ws.index = ModuleIndex(ws.analyses.keys(), root)
        rels: list[Relationship] = []
        for path in sorted(ws.analyses):
            rels += ws.index.resolve_file(path, ws.analyses[path], ws.analyses)
        ws.relationships = rels
        ws.timings["relationships"] = time.perf_counter() - started
        started = time.perf_counter()
        project = run_project_rules(root, ws.analyses, rels, t, site_packages=site_packages)
        ws.cycle_insights = [i for i in project if i.rule == "architecture.import_cycle"]
        ws.insights += project
        ws.timings["project_rules"] = time.perf_counter() - started
    return ws


def affected_files(changed: str, relationships: Iterable[Relationship]) -> set[str]:
    """The changed file plus every file with a relationship pointing at it (its importers)."""
    out = {changed}
    for r in relationships:
        if r.target_file == changed:
            out.add(r.source_file)
    return out


def reanalyze_file(ws: WorkspaceAnalysis, path: str, text: str | None = None) -> IncrementalResult:
    """Bring `ws` up to date after `path` changed (or was created / deleted).

    The file is parsed and its rules run again; the relationships of the file and of its
    importers are resolved again from their (unchanged) analyses, and import cycles are
    recomputed. `text` is the new content (read from disk when omitted).
    """
    started = time.perf_counter()
    abs_path = ws.root / path
    if text is None:
        try:
            data = abs_path.read_bytes()
            text = data.decode("utf-8")
        except (OSError, UnicodeDecodeError):
            text = None
    new_file = path not in ws.analyses
    affected = affected_files(path, ws.relationships)
    analysis: FileAnalysis | None = None
    insights: list[Insight] = []
    if text is None:
        ws.analyses.pop(path, None)
        ws.hashes.pop(path, None)
    else:
        analysis = analyze_source(path, text, language_for_path(path), collect_calls=True)
        insights = run_file_rules(analysis, text, ws.thresholds)
        analysis.drop_tree()
        ws.analyses[path] = analysis
        ws.hashes[path] = analysis.sha256
    if ws.index is None or new_file or text is None:
        ws.index = ModuleIndex(ws.analyses.keys(), ws.root)
        if new_file or text is None:
            # a new or removed module can change how any import resolves
            affected = set(ws.analyses) | {path}
    rels: list[Relationship] = []
    old_edges: set[tuple[str, str]] = set()
    for r in ws.relationships:
        if r.source_file not in affected:
            rels.append(r)
        elif r.type == "imports" and r.metadata.get("runtime", True):
            old_edges.add((r.source_file, r.target_file))
    fresh: list[Relationship] = []
    for src in sorted(affected):
        a = ws.analyses.get(src)
        if a is not None:
            fresh += ws.index.resolve_file(src, a, ws.analyses)
    ws.relationships = rels + fresh
    new_edges = {
        (r.source_file, r.target_file)
        for r in fresh
        if r.type == "imports" and r.metadata.get("runtime", True)
    }
    if ws.cycle_insights is None or new_edges != old_edges:
        # the import graph changed: strongly connected components may have changed
        ws.cycle_insights = import_cycle_rule(ws.analyses, ws.relationships)
    cycles = ws.cycle_insights
    return IncrementalResult(
        path=path,
        analysis=analysis,
        insights=insights,
        affected=affected,
        relationships=fresh,
        cycle_insights=cycles,
        seconds=time.perf_counter() - started,
    )
