"""LSP side of code insights (a feature module: see FEATURE_MODULES in lsp/features.py).

* Open insights of the workspace's repositories are diagnostics (source `codecortex`, code = the
  insight type, data = {insight, rule}) when the `insights` setting is true, published with our
  hints. They are read from a per-file cache (never the database on the request path), loaded
  when the database connects and refreshed after every analysis and re-analysis.
* Hover over an insight explains why it matters and how to fix it.
* Code actions: *CodeCortex: fix ...* where the insight has a mechanical fix (edits recomputed on
  the document's current text, so they always apply), and *CodeCortex: ignore insight ...*
  (persisted: the insight stays ignored in later analyses).
* `codecortex.analyze` [uri?, phase?] runs the analysis of the repository containing `uri` (all
  workspace folders without one) as a queue job, shown as cancellable work-done progress by the
  server, and answers `{insights: n}` (open insights) when it has finished.
* On save, the saved file is re-analysed (with the relationships of its importers and import
  cycles), and the diagnostics of affected open documents are published again.
* `codecortex.ignoreInsight` [id], `codecortex.reopenInsight` [id],
  `codecortex.insightApplied` [id] (sent by the fix action: status `applied`).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lsprotocol import types

from codecortex.analysis import analyze_source, run_file_rules
from codecortex.analysis import pipeline as ap
from codecortex.diagnostics import Position, Range, TextEdit
from codecortex.files.roots import uri_to_path
from codecortex.lsp import convert
from codecortex.lsp.features import (
    ACTION_PROVIDERS,
    CHANGE_LISTENERS,
    DIAGNOSTIC_PROVIDERS,
    HOVER_PROVIDERS,
    SAVE_LISTENERS,
    document_text,
    guarded,
)
from codecortex.lsp.server import CodeCortexServer
from codecortex.store import analysis as store
from codecortex.store import jobs as jobs_store
from codecortex.syntax.grammars import language_for_path

log = logging.getLogger(__name__)

CMD_ANALYZE = "codecortex.analyze"
CMD_IGNORE = "codecortex.ignoreInsight"
CMD_REOPEN = "codecortex.reopenInsight"
CMD_APPLIED = "codecortex.insightApplied"
WAIT_POLL_SECONDS = 0.25
_SEVERITY = {
    "critical": types.DiagnosticSeverity.Error,
    "warning": types.DiagnosticSeverity.Warning,
    "info": types.DiagnosticSeverity.Information,
}


@dataclass
class Cache:
    by_file: dict[Path, list[dict[str, Any]]] = field(default_factory=dict)
    # fixes recomputed for the latest (uri, version) a code action asked about
    fixes_key: tuple[str, int | None, int] | None = None
    fixes: dict[str, list[TextEdit]] = field(default_factory=dict)


def cache_of(ls: CodeCortexServer) -> Cache:
    cache = getattr(ls, "_insights_cache", None)
    if cache is None:
        cache = Cache()
        ls._insights_cache = cache  # type: ignore[attr-defined]
    return cache


def _folder_of(ls: CodeCortexServer, path: Path) -> tuple[Path, Path, Any] | None:
    """(folder, repository root, repo id) of the workspace folder containing `path`."""
    best: tuple[Path, Path, Any] | None = None
    for folder, info in ls.service.repo_infos.items():
        root = info.root.resolve()
        if path == root or root in path.parents:
            repo_id = ls.service.repos.get(folder)
            if repo_id is not None and (best is None or len(root.parts) > len(best[1].parts)):
                best = (folder, root, repo_id)
    return best


def _path(uri: str) -> Path | None:
    path = uri_to_path(uri)
    return path.resolve() if path is not None else None


def _rows_at(ls: CodeCortexServer, uri: str, rng: Range) -> list[dict[str, Any]]:
    path = _path(uri)
    if path is None or not ls.settings.insights:
        return []
    out = []
    for row in cache_of(ls).by_file.get(path, []):
        r = _range(row)
        if r.start.line <= rng.end.line and rng.start.line <= r.end.line:
            out.append(row)
    return out


def _range(row: dict[str, Any]) -> Range:
    detail = row.get("detail") or {}
    if isinstance(detail.get("range"), dict):
        try:
            return Range.from_json(detail["range"])
        except (KeyError, TypeError, ValueError):
            pass
    start = int(row.get("line_start") or 0)
    end = int(row["line_end"]) if row.get("line_end") is not None else start
    return Range.of(start, 0, max(end, start), 0)


def _diagnostic(row: dict[str, Any], pos: convert.Positions) -> types.Diagnostic:
    return types.Diagnostic(
        range=pos.range_out(_range(row)),
        message=row["title"],
        severity=_SEVERITY.get(row.get("severity") or "info", types.DiagnosticSeverity.Information),
        source="codecortex",
        code=row["type"],
        data={"insight": str(row["id"]), "rule": row.get("rule")},
    )


# --------------------------------------------------------------------------- providers


def diagnostics(ls: CodeCortexServer, uri: str) -> list[types.Diagnostic]:
    if not ls.settings.insights:
        return []
    path = _path(uri)
    if path is None:
        return []
    opened = document_text(ls, uri)
    pos = convert.positions(ls, opened[0] if opened else "")
    return [_diagnostic(row, pos) for row in cache_of(ls).by_file.get(path, [])]


def hover(ls: CodeCortexServer, uri: str, position: Position) -> str | None:
    pos = Range.of(position.line, position.character, position.line, position.character)
    rows = _rows_at(ls, uri, pos)
    if not rows:
        return None
    parts = []
    for row in rows[:3]:
        detail = row.get("detail") or {}
        score = row.get("priority_score")
        head = f"**CodeCortex insight** · {row['type'].replace('_', ' ')} · {row.get('severity')}"
        if score is not None:
            head += f" · priority {score:.0f} ({(row.get('priority_category') or '').replace('_', ' ')})"
        lines = [head, "", f"**{row['title']}**"]
        if row.get("summary"):
            lines += ["", str(row["summary"])]
        why = detail.get("why")
        how = detail.get("how_to_fix") or detail.get("suggestion")
        if why:
            lines += ["", f"*Why it matters:* {why}"]
        if how:
            lines += ["", f"*How to fix:* {how}"]
        extra = []
        if row.get("effort_estimate"):
            extra.append(f"effort: {row['effort_estimate']}")
        if detail.get("fix"):
            extra.append("a quick fix is available")
        extra.append("ignore it with the code action *CodeCortex: ignore insight*")
        lines += ["", "_" + "; ".join(extra) + f" (rule `{row.get('rule') or row['type']}`)._"]
        parts.append("\n".join(lines))
    return "\n\n---\n\n".join(parts)


def _current_fixes(
    ls: CodeCortexServer, uri: str, path: Path, root: Path, text: str, version: int | None
) -> dict[str, list[TextEdit]]:
    """Fixes by fingerprint for the document's current text (the rules run on it again)."""
    cache = cache_of(ls)
    key = (uri, version, hash(text))
    if cache.fixes_key != key:
        rel = path.relative_to(root).as_posix()
        analysis = analyze_source(rel, text, language_for_path(rel), collect_calls=False)
        insights = run_file_rules(analysis, text, ap.thresholds_from(ls.settings))
        analysis.drop_tree()
        cache.fixes = {i.fingerprint: i.fix for i in insights if i.fix}
        cache.fixes_key = key
    return cache.fixes


def actions(
    ls: CodeCortexServer, uri: str, rng: Range, text: str, version: int | None
) -> list[types.CodeAction]:
    rows = _rows_at(ls, uri, rng)
    if not rows:
        return []
    path = _path(uri)
    where = _folder_of(ls, path) if path is not None else None
    out: list[types.CodeAction] = []
    pos = convert.positions(ls, text)
    for row in rows:
        diag = _diagnostic(row, pos)
        fix_edits: list[TextEdit] | None = None
        if (row.get("detail") or {}).get("fix") and where is not None and path is not None:
            try:
                fix_edits = _current_fixes(ls, uri, path, where[1], text, version).get(
                    row.get("fingerprint") or ""
                )
            except Exception:
                log.exception("recomputing the fix of insight %s failed", row["id"])
        if fix_edits:
            how = (row.get("detail") or {}).get("how_to_fix") or row["title"]
            out.append(
                types.CodeAction(
                    title=f"CodeCortex: fix '{row['title'][:60]}' ({how[:60]})",
                    kind=types.CodeActionKind.QuickFix,
                    diagnostics=[diag],
                    is_preferred=True,
                    edit=convert.workspace_edit(uri, version, fix_edits, ls.document_changes, pos),
                    command=types.Command(
                        title="Record the applied fix",
                        command=CMD_APPLIED,
                        arguments=[str(row["id"])],
                    ),
                )
            )
        out.append(
            types.CodeAction(
                title=f"CodeCortex: ignore insight '{row['title'][:60]}'",
                kind=types.CodeActionKind.QuickFix,
                diagnostics=[diag],
                command=types.Command(
                    title="Ignore insight", command=CMD_IGNORE, arguments=[str(row["id"])]
                ),
            )
        )
    return out


# --------------------------------------------------------------------------- cache refresh


def _republish(ls: CodeCortexServer, paths: set[Path] | None, root: Path) -> None:
    for uri in list(ls.workspace.text_documents):
        path = _path(uri)
        if path is None:
            continue
        if (paths is None and (root in path.parents)) or (paths is not None and path in paths):
            ls.views_changed(uri)


async def reload(ls: CodeCortexServer, root_text: str, files: set[str] | None) -> None:
    """Read the open insights of `files` (None: all) of the repository at `root_text` again."""
    root = Path(root_text).resolve()
    where = _folder_of(ls, root)
    if where is None:
        return
    _folder, root, repo_id = where
    async with ls.service.db.connection() as conn:
        rows = await store.list_insights(
            conn, repo_id, files=sorted(files) if files is not None else None
        )
    cache = cache_of(ls)
    if files is None:
        stale = {p for p in cache.by_file if root in p.parents}
    else:
        stale = {root / f for f in files}
    for p in stale:
        cache.by_file.pop(p, None)
    fresh: set[Path] = set()
    for row in rows:
        if row.get("file_path"):
            p = root / row["file_path"]
            cache.by_file.setdefault(p, []).append(row)
            fresh.add(p)
    cache.fixes_key = None
    _republish(ls, None if files is None else stale | fresh, root)


async def reload_all(ls: CodeCortexServer) -> None:
    for folder in list(ls.service.repos):
        info = ls.service.repo_infos.get(folder)
        if info is not None:
            await reload(ls, str(info.root), None)


def _forget(ls: CodeCortexServer, insight_id: str) -> Path | None:
    cache = cache_of(ls)
    for path, rows in cache.by_file.items():
        kept = [r for r in rows if str(r["id"]) != insight_id]
        if len(kept) != len(rows):
            cache.by_file[path] = kept
            return path
    return None


# --------------------------------------------------------------------------- save


def on_save(ls: CodeCortexServer, uri: str) -> None:
    if not ls.settings.insights or ls.service.db.state != "connected":
        return
    path = _path(uri)
    if path is None or language_for_path(path.name) is None:
        return
    where = _folder_of(ls, path)
    if where is None:
        return
    ls.service.spawn(_reanalyze(ls, uri, path, where[1], where[2]), f"reanalyze {uri}")


def reanalyze_paths(ls: CodeCortexServer, paths: list[Path]) -> None:
    """Source files changed outside the editor (watchfiles): re-analyse each like a save."""
    for path in paths:
        on_save(ls, path.resolve().as_uri())


async def _reanalyze(ls: CodeCortexServer, uri: str, path: Path, root: Path, repo_id: Any) -> None:
    opened = document_text(ls, uri)
    text: str | None
    if opened is not None:
        text = opened[0]
    else:
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            text = None
        except (OSError, UnicodeDecodeError):
            return
    try:
        result = await ap.reanalyze(
            ls.service.db.connection,
            ls.settings,
            ap.state_of(ls.service),
            repo_id=repo_id,
            root=root,
            path=path.relative_to(root).as_posix(),
            text=text,
        )
    except Exception as exc:
        log.exception("re-analysis of %s failed", uri)
        ls.log(f"re-analysis of {uri} failed: {exc}", "warning")
        return
    if result is not None:
        ls.log(
            f"re-analysed {result.path} ({len(result.affected)} affected files, "
            f"{result.insights} insights) in {result.seconds * 1000:.0f} ms",
            "debug",
        )


# --------------------------------------------------------------------------- setup


async def _wait_for_job(ls: CodeCortexServer, job_id: str) -> Any:
    while True:
        async with ls.service.db.connection() as conn:
            job = await jobs_store.get_job(conn, job_id)
        if job is None or job.status in ("completed", "failed", "cancelled"):
            return job
        await asyncio.sleep(WAIT_POLL_SECONDS)


def setup(server: CodeCortexServer) -> None:
    DIAGNOSTIC_PROVIDERS.append(diagnostics)
    HOVER_PROVIDERS.append(hover)
    ACTION_PROVIDERS.append(actions)
    SAVE_LISTENERS.append(on_save)
    CHANGE_LISTENERS.append(reanalyze_paths)
    server.service.db.on_connected.append(lambda: reload_all(server))
    ap.state_of(server.service).listeners.append(lambda root, files: reload(server, root, files))

    @server.command(CMD_ANALYZE)
    @guarded(default={"insights": 0, "error": "analysis failed"})
    async def analyze(ls: CodeCortexServer, *args: Any) -> dict[str, Any]:
        uri = args[0] if args and isinstance(args[0], str) and args[0] else None
        phase = args[1] if len(args) > 1 and args[1] in ap.PHASES else "deep"
        await asyncio.wait_for(ls.service.db.ready.wait(), 60)
        if uri is not None:
            path = _path(uri)
            where = _folder_of(ls, path) if path is not None else None
            if where is None:
                return {"insights": 0, "error": f"{uri} is not in a workspace folder"}
            targets = [where]
        else:
            targets = []
            for info in ls.service.repo_infos.values():
                found = _folder_of(ls, info.root.resolve())
                if found is not None and found not in targets:
                    targets.append(found)
        total = 0
        statuses: list[str] = []
        for _folder, root, repo_id in targets:
            async with ls.service.db.connection() as conn:
                job_id = await ap.enqueue(conn, root, repo_id, ls.service.user_id, phase)
            # start it now rather than at the runner's next poll
            ls.service.spawn(ls.service.runner.run_one([ap.JOB_TYPE]), "analysis job")
            job = await _wait_for_job(ls, job_id)
            statuses.append(job.status if job is not None else "missing")
            async with ls.service.db.connection() as conn:
                total += (await store.insights_summary(conn, repo_id))["total"]
            await reload(ls, str(root), None)
        status = "completed" if all(s == "completed" for s in statuses) else ",".join(statuses)
        return {"insights": total, "status": status}

    @server.command(CMD_IGNORE)
    @guarded(default={"ignored": False})
    async def ignore(ls: CodeCortexServer, *args: Any) -> dict[str, Any]:
        return await _set_status(ls, str(args[0]) if args else "", "ignored")

    @server.command(CMD_REOPEN)
    @guarded(default={"reopened": False})
    async def reopen(ls: CodeCortexServer, *args: Any) -> dict[str, Any]:
        return await _set_status(ls, str(args[0]) if args else "", "open")

    @server.command(CMD_APPLIED)
    @guarded(default={"applied": False})
    async def applied(ls: CodeCortexServer, *args: Any) -> dict[str, Any]:
        return await _set_status(ls, str(args[0]) if args else "", "applied")


async def _set_status(ls: CodeCortexServer, insight_id: str, status: str) -> dict[str, Any]:
    key = {"ignored": "ignored", "open": "reopened", "applied": "applied"}[status]
    async with ls.service.db.connection() as conn:
        found = await store.find_insight(conn, insight_id) if insight_id else []
        if len(found) != 1:
            return {key: False, "error": f"no insight {insight_id!r}"}
        row = found[0]
        await store.set_insight_status(conn, row["id"], status)
    if status == "open":
        if row.get("root_path"):
            await reload(ls, row["root_path"], {row["file_path"]} if row["file_path"] else None)
    else:
        path = _forget(ls, str(row["id"]))
        if path is not None:
            _republish(ls, {path}, path.parent)
    return {key: True, "id": str(row["id"])}
