"""Problem memory in the editor: known-fix hints, the best past fix as a code action (preferred
when verified on this text), *show past solutions* / *ignore*, the hover, detectOnSave, and
*save this change as a solution* for a problem resolved without a learned fix."""

from __future__ import annotations

from typing import Any

from lsprotocol import types

from codecortex import presentation
from codecortex.diagnostics import Diagnostic, Position, Range
from codecortex.lsp import convert
from codecortex.lsp.feature import Command, Feature, quick_fix
from codecortex.lsp.server import CodeCortexServer

CMD_SHOW_SOLUTIONS = "codecortex.showSolutions"
SHOW_SOLUTIONS_WAIT_SECONDS = 10.0
CMD_RECORD_FIX = "codecortex.recordFix"
CMD_REJECT_FIX = "codecortex.rejectFix"
CMD_IGNORE = "codecortex.ignore"
CMD_SAVE_SOLUTION = "codecortex.saveSolution"
HINT_CODE = "known-fix"


class MemoryFeature(Feature):
    name = "problem memory"

    def __init__(self, ls: CodeCortexServer) -> None:
        super().__init__(ls)
        # detectOnSave: the detectors' latest diagnostics per document, published with ours so
        # that an editor without a linter of its own shows what was detected.
        self.detected: dict[str, list[Diagnostic]] = {}

    # --- published diagnostics -------------------------------------------------------------

    def diagnostics(self, uri: str) -> list[types.Diagnostic]:
        ls = self.ls
        state = self.service.documents.get(uri)
        opened = ls.document_text(uri)
        text = state.text if state is not None else opened[0] if opened else ""
        pos = convert.positions(ls, text)
        out: list[types.Diagnostic] = []
        if ls.settings.detect_on_save:
            out.extend(convert.to_lsp_diagnostic(d, pos) for d in self.detected.get(uri, []))
        if state is not None and ls.settings.hints:
            for view in state.views:
                message = presentation.hint_message(view)
                if message is None:
                    continue
                out.append(
                    types.Diagnostic(
                        range=pos.range_out(view.diagnostic.range),
                        message=message,
                        severity=types.DiagnosticSeverity.Hint,
                        source="codecortex",
                        code=HINT_CODE,
                        data={"problem": str(view.problem_id), "signature": view.signature.key},
                    )
                )
        return out

    # --- detectOnSave --------------------------------------------------------------------------

    def on_open(self, uri: str) -> None:
        if self.ls.settings.detect_on_save:
            self.service.spawn(self._detect(uri), "detect on open")

    def on_save(self, uri: str) -> None:
        if uri.endswith("/pyproject.toml"):
            self.service.reload_project_configs()
        if self.ls.settings.detect_on_save:
            self.service.spawn(self._detect(uri), "detect on save")

    def on_close(self, uri: str) -> None:
        self.detected.pop(uri, None)
        self.service.close_document(uri)

    async def _detect(self, uri: str) -> None:
        opened = self.ls.document_text(uri)
        if opened is None:
            return

        def shown(diagnostics: list[Diagnostic]) -> None:
            self.detected[uri] = diagnostics
            self.ls.views_changed(uri)  # shown at once, hints follow when they are processed

        await self.service.observing.detect(uri, opened, shown)

    # --- code actions and hover ---------------------------------------------------------------

    def code_actions(
        self, uri: str, rng: Range, text: str, version: int | None
    ) -> list[types.CodeAction]:
        ls, service = self.ls, self.service
        pos = convert.positions(ls, text)
        actions: list[types.CodeAction] = []
        for view in service.views_at(uri, rng):
            fixes = service.fixes_for(uri, view, text, version)
            lsp_diag = types.Diagnostic(
                range=pos.range_out(view.diagnostic.range),
                message=view.diagnostic.message,
                source=view.diagnostic.source or None,
                code=view.diagnostic.code or None,
            )
            # At most two CodeCortex entries per problem: the best past fix (preferred when it
            # was verified on this text) and "show past solutions" for the rest; "ignore" only
            # when there is nothing else to offer.
            best = next((f for f in fixes if f.verified is True), fixes[0] if fixes else None)
            if best is not None:
                actions.append(
                    quick_fix(
                        presentation.fix_title(best),
                        (
                            "Record that the fix was applied",
                            CMD_RECORD_FIX,
                            [str(best.solution["id"]), str(view.problem_id)],
                        ),
                        lsp_diag,
                        is_preferred=(
                            best.verified is True
                            and best.confidence >= ls.settings.replay_min_confidence
                        ),
                        edit=convert.workspace_edit(
                            uri, version, best.replay.edits, ls.document_changes, pos
                        ),
                    )
                )
            if view.fixes or (view.history or {}).get("fixed"):
                actions.append(
                    quick_fix(
                        f"CodeCortex: show past solutions ({len(view.fixes)})",
                        (
                            "Show past solutions",
                            CMD_SHOW_SOLUTIONS,
                            [uri, view.diagnostic.range.start.line],
                        ),
                        lsp_diag,
                    )
                )
            else:
                actions.append(
                    quick_fix(
                        f"CodeCortex: ignore “{presentation.short_message(view.diagnostic)}”",
                        ("Ignore", CMD_IGNORE, [view.signature.key]),
                        lsp_diag,
                    )
                )
        return actions

    def hover(self, uri: str, position: Position) -> str | None:
        return presentation.hover_markdown(self.service.views_at(uri, Range(position, position)))

    # --- commands ------------------------------------------------------------------------------

    def commands(self) -> list[Command]:
        return [
            Command(CMD_SHOW_SOLUTIONS, self.show_solutions, {"problems": []}),
            Command(CMD_RECORD_FIX, self.record_fix),
            Command(CMD_REJECT_FIX, self.reject_fix),
            Command(CMD_IGNORE, self.ignore),
            Command(CMD_SAVE_SOLUTION, self.save_solution, {"saved": False}),
        ]

    async def show_solutions(self, *args: Any) -> dict[str, Any]:
        uri = str(args[0]) if args else ""
        line = int(args[1]) if len(args) > 1 and args[1] is not None else None
        service = self.service
        # asked for by the user: the fixes still being checked are worth a short wait, so
        # that the view does not say "no past solution" for a fix about to be offered
        checking = not await service.settled(uri, SHOW_SOLUTIONS_WAIT_SECONDS)
        state = service.documents.get(uri)
        problems = []
        for view in state.views if state else []:
            if line is not None and not (
                view.diagnostic.range.start.line <= line <= view.diagnostic.range.end.line
            ):
                continue
            problems.append(
                {
                    "message": view.diagnostic.message,
                    "signature": view.signature.key,
                    "history": {k: _jsonable(v) for k, v in (view.history or {}).items()},
                    "solutions": [
                        {
                            "id": str(f.solution["id"]),
                            "title": presentation.fix_title(f),
                            "diff": f.solution.get("diff") or "",
                            "reuseCount": int(f.solution.get("reuse_count") or 0),
                            "timeToSolveSeconds": f.solution.get("time_to_solve_seconds"),
                            "confidence": round(f.confidence, 3),
                        }
                        for f in view.fixes
                    ],
                }
            )
        # still checking: the document's diagnostics are being processed, or its problems'
        # fixes are still being replayed and verified (they come in steps)
        return {"problems": problems, "checking": checking}

    async def record_fix(self, *args: Any) -> None:
        solution_id = str(args[0])
        problem_id = str(args[1]) if len(args) > 1 and args[1] else None
        await self.service.record_fix_applied(solution_id, problem_id)

    async def reject_fix(self, *args: Any) -> None:
        await self.service.record_fix_rejected(str(args[0]))

    async def ignore(self, *args: Any) -> None:
        await self.service.ignore_signature(str(args[0]))

    async def save_solution(self, *args: Any) -> dict[str, Any]:
        solution_id = await self.service.save_resolved_as_solution(str(args[0]), str(args[1]))
        if solution_id is None:
            self.ls.show_once(
                "save-failed", f"CodeCortex: that change could not be saved ({args[1]})."
            )
            return {"saved": False}
        return {"saved": True, "id": str(solution_id)}


class SaveChangeFeature(Feature):
    """*Save this change as a solution*, offered after every other action near a problem that
    went away without a learned fix."""

    name = "save change"

    def code_actions(
        self, uri: str, rng: Range, text: str, version: int | None
    ) -> list[types.CodeAction]:
        state = self.service.documents.get(uri)
        actions: list[types.CodeAction] = []
        for resolved in state.resolved if state else []:
            if resolved.solution_id is None and resolved.before_text is not None:
                line = resolved.problem.get("line_number") or 0
                if abs(line - rng.start.line) <= 3:
                    message = presentation.shorten(resolved.problem.get("error_message") or "")
                    actions.append(
                        quick_fix(
                            f"CodeCortex: save this change as a solution ({message})",
                            (
                                "Save as solution",
                                CMD_SAVE_SOLUTION,
                                [uri, str(resolved.problem["id"])],
                            ),
                        )
                    )
        return actions


def _jsonable(value: Any) -> Any:
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if isinstance(value, (int, float, str)) or value is None:
        return value
    return str(value)
