"""Code insights in the editor.

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

import logging
from pathlib import Path
from typing import Any

from lsprotocol import types

from codecortex.analysis import pipeline as ap
from codecortex.diagnostics import Position, Range, TextEdit
from codecortex.files.roots import uri_to_path
from codecortex.lsp import convert
from codecortex.lsp.feature import Command, Feature, quick_fix
from codecortex.lsp.server import CodeCortexServer
from codecortex.syntax.grammars import language_for_path

log = logging.getLogger(__name__)

CMD_ANALYZE = "codecortex.analyze"
CMD_IGNORE = "codecortex.ignoreInsight"
CMD_REOPEN = "codecortex.reopenInsight"
CMD_APPLIED = "codecortex.insightApplied"
_SEVERITY = {
    "critical": types.DiagnosticSeverity.Error,
    "warning": types.DiagnosticSeverity.Warning,
    "info": types.DiagnosticSeverity.Information,
}


class InsightsFeature(Feature):
    name = "insights"

    def __init__(self, ls: CodeCortexServer) -> None:
        super().__init__(ls)
        # the open insights per file: read from here, never the database on the request path
        self.by_file: dict[Path, list[dict[str, Any]]] = {}
        self.service.on_connected.append(self.reload_all)
        self.service.insights.on_changed(self.reload)

    def _folder_of(self, path: Path) -> tuple[Path, Path, Any] | None:
        return self.service.workspace.repository_of(path)

    def _rows_at(self, uri: str, rng: Range) -> list[dict[str, Any]]:
        path = _path(uri)
        if path is None or not self.ls.settings.insights:
            return []
        out = []
        for row in self.by_file.get(path, []):
            r = _range(row)
            if r.start.line <= rng.end.line and rng.start.line <= r.end.line:
                out.append(row)
        return out

    # --- hooks ---------------------------------------------------------------------------------

    def diagnostics(self, uri: str) -> list[types.Diagnostic]:
        if not self.ls.settings.insights:
            return []
        path = _path(uri)
        if path is None:
            return []
        opened = self.ls.document_text(uri)
        pos = convert.positions(self.ls, opened[0] if opened else "")
        return [_diagnostic(row, pos) for row in self.by_file.get(path, [])]

    def hover(self, uri: str, position: Position) -> str | None:
        pos = Range.of(position.line, position.character, position.line, position.character)
        rows = self._rows_at(uri, pos)
        if not rows:
            return None
        return "\n\n---\n\n".join(_hover_part(row) for row in rows[:3])

    def code_actions(
        self, uri: str, rng: Range, text: str, version: int | None
    ) -> list[types.CodeAction]:
        rows = self._rows_at(uri, rng)
        if not rows:
            return []
        path = _path(uri)
        where = self._folder_of(path) if path is not None else None
        out: list[types.CodeAction] = []
        pos = convert.positions(self.ls, text)
        for row in rows:
            diag = _diagnostic(row, pos)
            fix_edits: list[TextEdit] | None = None
            if (row.get("detail") or {}).get("fix") and where is not None and path is not None:
                try:
                    fix_edits = self.service.insights.current_fixes(
                        uri, path, where[1], text, version
                    ).get(row.get("fingerprint") or "")
                except Exception:
                    log.exception("recomputing the fix of insight %s failed", row["id"])
            if fix_edits:
                how = (row.get("detail") or {}).get("how_to_fix") or row["title"]
                out.append(
                    quick_fix(
                        f"CodeCortex: fix '{row['title'][:60]}' ({how[:60]})",
                        ("Record the applied fix", CMD_APPLIED, [str(row["id"])]),
                        diag,
                        is_preferred=True,
                        edit=convert.workspace_edit(
                            uri, version, fix_edits, self.ls.document_changes, pos
                        ),
                    )
                )
            out.append(
                quick_fix(
                    f"CodeCortex: ignore insight '{row['title'][:60]}'",
                    ("Ignore insight", CMD_IGNORE, [str(row["id"])]),
                    diag,
                )
            )
        return out

    # --- the cache -----------------------------------------------------------------------------

    def _republish(self, paths: set[Path] | None, root: Path) -> None:
        for uri in list(self.ls.workspace.text_documents):
            path = _path(uri)
            if path is None:
                continue
            if (paths is None and (root in path.parents)) or (paths is not None and path in paths):
                self.ls.views_changed(uri)

    async def reload(self, root_text: str, files: set[str] | None) -> None:
        """Read the open insights of `files` (None: all) of the repository at `root_text`."""
        where = self._folder_of(Path(root_text).resolve())
        if where is None:
            return
        _folder, root, repo_id = where
        rows = await self.service.insights.open_insights(repo_id, files)
        if files is None:
            stale = {p for p in self.by_file if root in p.parents}
        else:
            stale = {root / f for f in files}
        for p in stale:
            self.by_file.pop(p, None)
        fresh: set[Path] = set()
        for row in rows:
            if row.get("file_path"):
                p = root / row["file_path"]
                self.by_file.setdefault(p, []).append(row)
                fresh.add(p)
        self.service.insights.forget_fixes()
        self._republish(None if files is None else stale | fresh, root)

    async def reload_all(self) -> None:
        for folder in list(self.service.repos):
            info = self.service.repo_infos.get(folder)
            if info is not None:
                await self.reload(str(info.root), None)

    def _forget(self, insight_id: str) -> Path | None:
        for path, rows in self.by_file.items():
            kept = [r for r in rows if str(r["id"]) != insight_id]
            if len(kept) != len(rows):
                self.by_file[path] = kept
                return path
        return None

    # --- saves and changes ---------------------------------------------------------------------

    def on_save(self, uri: str) -> None:
        if not self.ls.settings.insights or not self.service.connected:
            return
        path = _path(uri)
        if path is None or language_for_path(path.name) is None:
            return
        where = self._folder_of(path)
        if where is None:
            return
        self.service.spawn(self._reanalyze(uri, path, where[1], where[2]), f"reanalyze {uri}")

    def on_files_changed(self, paths: list[Path]) -> None:
        """Source files changed outside the editor (watchfiles): re-analyse each like a save."""
        for path in paths:
            self.on_save(path.resolve().as_uri())

    async def _reanalyze(self, uri: str, path: Path, root: Path, repo_id: Any) -> None:
        opened = self.ls.document_text(uri)
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
            result = await self.service.insights.reanalyze(repo_id, root, path, text)
        except Exception as exc:
            log.exception("re-analysis of %s failed", uri)
            self.ls.log(f"re-analysis of {uri} failed: {exc}", "warning")
            return
        if result is not None:
            self.ls.log(
                f"re-analysed {result.path} ({len(result.affected)} affected files, "
                f"{result.insights} insights) in {result.seconds * 1000:.0f} ms",
                "debug",
            )

    # --- commands ------------------------------------------------------------------------------

    def commands(self) -> list[Command]:
        return [
            Command(CMD_ANALYZE, self.analyze, {"insights": 0, "error": "analysis failed"}),
            Command(CMD_IGNORE, self.ignore, {"ignored": False}),
            Command(CMD_REOPEN, self.reopen, {"reopened": False}),
            Command(CMD_APPLIED, self.applied, {"applied": False}),
        ]

    async def analyze(self, *args: Any) -> dict[str, Any]:
        uri = args[0] if args and isinstance(args[0], str) and args[0] else None
        phase = args[1] if len(args) > 1 and args[1] in ap.PHASES else "deep"
        await self.service.insights.ready()
        if uri is not None:
            path = _path(uri)
            where = self._folder_of(path) if path is not None else None
            if where is None:
                return {"insights": 0, "error": f"{uri} is not in a workspace folder"}
            targets = [where]
        else:
            targets = []
            for info in self.service.repo_infos.values():
                found = self._folder_of(info.root.resolve())
                if found is not None and found not in targets:
                    targets.append(found)
        total = 0
        statuses: list[str] = []
        for _folder, root, repo_id in targets:
            job, count = await self.service.insights.analyze(root, repo_id, phase)
            statuses.append(job.status if job is not None else "missing")
            total += count
            await self.reload(str(root), None)
        status = "completed" if all(s == "completed" for s in statuses) else ",".join(statuses)
        return {"insights": total, "status": status}

    async def ignore(self, *args: Any) -> dict[str, Any]:
        return await self._set_status(str(args[0]) if args else "", "ignored")

    async def reopen(self, *args: Any) -> dict[str, Any]:
        return await self._set_status(str(args[0]) if args else "", "open")

    async def applied(self, *args: Any) -> dict[str, Any]:
        return await self._set_status(str(args[0]) if args else "", "applied")

    async def _set_status(self, insight_id: str, status: str) -> dict[str, Any]:
        key = {"ignored": "ignored", "open": "reopened", "applied": "applied"}[status]
        row = await self.service.insights.set_status(insight_id, status)
        if row is None:
            return {key: False, "error": f"no insight {insight_id!r}"}
        if status == "open":
            if row.get("root_path"):
                files = {row["file_path"]} if row["file_path"] else None
                await self.reload(row["root_path"], files)
        else:
            path = self._forget(str(row["id"]))
            if path is not None:
                self._republish({path}, path.parent)
        return {key: True, "id": str(row["id"])}


def _path(uri: str) -> Path | None:
    path = uri_to_path(uri)
    return path.resolve() if path is not None else None


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


def _hover_part(row: dict[str, Any]) -> str:
    detail = row.get("detail") or {}
    score = row.get("priority_score")
    head = f"**CodeCortex insight** · {row['type'].replace('_', ' ')} · {row.get('severity')}"
    if score is not None:
        head += (
            f" · priority {score:.0f} ({(row.get('priority_category') or '').replace('_', ' ')})"
        )
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
    return "\n".join(lines)
