"""Incremental analysis after a save: `reanalyze` brings one file up to date — the file is parsed
again, the relationships of the file and of the files importing it are resolved again, and
import cycles recomputed (`codecortex.analysis.reanalyze_file` on the process's in-memory
`WorkspaceAnalysis`, rebuilt from the database when the process has none) — and stores what
changed, as a full session would."""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from codecortex.analysis import AnalysisThresholds, FileAnalysis, WorkspaceAnalysis, reanalyze_file
from codecortex.analysis.pipeline import CYCLE_RULE, AnalysisState, rules_key, thresholds_from
from codecortex.analysis.rows import insight_row, item_rows, relationship_from_row, relationship_row
from codecortex.config import Settings
from codecortex.jobs import ConnectionFactory
from codecortex.store import analysis as store
from codecortex.syntax.grammars import language_for_path


@dataclass
class Reanalysis:
    """What a one-file re-analysis changed: `affected` files (the file and its importers) and
    every file whose stored insights may have changed (`insight_files`)."""

    path: str
    affected: set[str]
    insight_files: set[str]
    insights: int
    seconds: float


async def rebuild_workspace(
    conn: Any, repo_id: Any, root: Path, thresholds: AnalysisThresholds
) -> WorkspaceAnalysis:
    """The in-memory workspace model from the stored analyses (no parsing).

    Its phase is "medium" when a medium phase has completed for the repository (relationships
    and import cycles are then kept up to date), "quick" otherwise."""
    raw = await store.load_analyses(conn, repo_id)
    medium = await store.last_completed_session(conn, repo_id, min_phase="medium")
    rels = await store.load_relationships(conn, repo_id) if medium else []
    analyses = {p: FileAnalysis.from_json(j) for p, j in raw.items()}
    return WorkspaceAnalysis(
        root=root,
        phase="medium" if medium else "quick",
        analyses=analyses,
        hashes={p: a.sha256 for p, a in analyses.items()},
        relationships=[relationship_from_row(r) for r in rels],
        thresholds=thresholds,
    )


async def reanalyze(
    connection: ConnectionFactory,
    settings: Settings,
    state: AnalysisState,
    *,
    repo_id: Any,
    root: Path,
    path: str,
    text: str | None,
) -> Reanalysis | None:
    """Bring the stored analysis up to date after `path` (relative to `root`) changed.

    `text` is the file's new content (None: deleted). Returns None when nothing had to be done
    (not a source file, too large, or the same content as already analysed)."""
    root = root.resolve()
    if language_for_path(path) is None:
        return None
    if text is not None and len(text.encode("utf-8", "surrogatepass")) > settings.max_file_size:
        return None
    thresholds = thresholds_from(settings)
    async with state.lock(root):
        ws = state.workspaces.get(str(root))
        if ws is None or ws.thresholds != thresholds:
            async with connection() as conn:
                ws = await rebuild_workspace(conn, repo_id, root, thresholds)
            state.workspaces[str(root)] = ws
        if text is not None:
            sha = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
            if ws.hashes.get(path) == sha:
                return None
        elif path not in ws.analyses:
            return None
        result = await asyncio.to_thread(reanalyze_file, ws, path, text)
        complete = ws.phase == "medium"
        rows = [insight_row(i) for i in result.insights]
        cycles = [insight_row(i) for i in result.cycle_insights]
        insight_files = {path}
        async with connection() as conn, conn.transaction():
            if result.analysis is None:
                await store.delete_files(conn, repo_id, [path])
            else:
                await store.replace_files(
                    conn, repo_id, item_rows(result.analysis, rules_key(thresholds))
                )
                await store.upsert_insights(conn, repo_id, rows, scope="file")
                await store.expire_missing(
                    conn, repo_id, scope="file", files=[path], keep=[r["fingerprint"] for r in rows]
                )
            if complete:
                await store.replace_relationships(
                    conn,
                    repo_id,
                    [relationship_row(r) for r in result.relationships],
                    sources=sorted(result.affected),
                )
                await store.upsert_insights(conn, repo_id, cycles, scope="project")
                insight_files |= await store.expire_missing(
                    conn,
                    repo_id,
                    scope="project",
                    rules=[CYCLE_RULE],
                    keep=[r["fingerprint"] for r in cycles],
                )
                insight_files |= {r["file_path"] for r in cycles if r["file_path"]}
    outcome = Reanalysis(
        path=path,
        affected=set(result.affected),
        insight_files=insight_files,
        insights=len(rows),
        seconds=result.seconds,
    )
    await state.notify(root, insight_files)
    return outcome
