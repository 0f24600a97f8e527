"""Synthesized fixes and learning paths in the editor.

* Code action *CodeCortex: synthesize fix* for every known problem at the range when a model is
  configured. It carries no edit: `codeAction/resolve` asks the model (with work-done progress)
  and returns the action with a `WorkspaceEdit` and the command `codecortex.acceptSynthesis`,
  or, on any failure, the action without an edit and a message to the user.
* `codecortex.acceptSynthesis` [synthId], `codecortex.rejectSynthesis` [synthId],
  `codecortex.synthesisFeedback` [synthId, "applied"|"modified"|"rejected", note?]. An applied fix
  whose code the developer then edits is recorded as "modified".
* `codecortex.learningPath` [{weeks?, refresh?}] and `codecortex.learningProgress`
  [pathId, lessonId, done?].
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from lsprotocol import types

from codecortex.diagnostics import Range
from codecortex.files.roots import language_of, uri_to_path
from codecortex.llm import LLMError
from codecortex.lsp import convert
from codecortex.lsp.feature import Command, Feature, quick_fix
from codecortex.lsp.progress import WorkDone
from codecortex.lsp.server import CodeCortexServer
from codecortex.session.database import DatabaseDown
from codecortex.synthesis import fixes as synthesis
from codecortex.synthesis import learning_paths
from codecortex.synthesis.runner import Synthesizer

log = logging.getLogger(__name__)

KIND = "synthesize"
TITLE = "CodeCortex: synthesize fix"
CMD_ACCEPT = "codecortex.acceptSynthesis"
CMD_REJECT = "codecortex.rejectSynthesis"
CMD_FEEDBACK = "codecortex.synthesisFeedback"
CMD_LEARNING_PATH = "codecortex.learningPath"
CMD_LEARNING_PROGRESS = "codecortex.learningProgress"
STEPS = {"gathering past solutions": 10, "asking": 30, "validating the edit": 90}


@dataclass
class Watch:
    """An applied synthesized fix: if its code is edited before the problem is gone, the
    developer modified it."""

    uri: str
    problem_id: str
    version: int | None
    snippets: list[str]


class SynthesisFeature(Feature):
    name = "synthesis"

    def __init__(self, ls: CodeCortexServer) -> None:
        super().__init__(ls)
        self.synth: Synthesizer | None = None
        self.delivered: dict[str, str] = {}  # problem id -> synth id
        self.uris: dict[str, str] = {}  # synth id -> uri
        self.watches: dict[str, Watch] = {}  # synth id -> watch

    def synthesizer(self) -> Synthesizer | None:
        """The synthesizer for the current settings; None when no model is configured."""
        settings = self.ls.settings.llm_settings()
        if settings.provider == "none":
            return None
        current = self.synth
        if (
            current is None
            or current.settings != settings
            or current.settings.api_key != settings.api_key
        ):
            self.synth = Synthesizer(settings)
            if current is not None:
                self.service.spawn(current.aclose(), "close model client")
        return self.synth

    # --- code actions ----------------------------------------------------------------------

    def code_actions(
        self, uri: str, rng: Range, text: str, version: int | None
    ) -> list[types.CodeAction]:
        """One lazy *synthesize fix* action per known problem at the range (after the replays)."""
        if self.synthesizer() is None:
            return []
        actions: list[types.CodeAction] = []
        for view in self.service.views_at(uri, rng):
            diag = _lsp_diagnostic(view, convert.positions(self.ls, text))
            actions.append(
                types.CodeAction(
                    title=TITLE + (" (model)" if view.fixes else ""),
                    kind=types.CodeActionKind.QuickFix,
                    diagnostics=[diag],
                    is_preferred=False,
                    data={
                        "kind": KIND,
                        "uri": uri,
                        "version": version,
                        "problem": str(view.problem_id),
                        "range": view.diagnostic.range.to_json(),
                    },
                )
            )
            synth_id = self.delivered.get(str(view.problem_id))
            if synth_id is not None:
                actions.append(
                    quick_fix(
                        "CodeCortex: synthesized fix not helpful",
                        ("Not helpful", CMD_REJECT, [synth_id]),
                        diag,
                    )
                )
        return actions

    async def resolve(self, kind: str, action: types.CodeAction) -> types.CodeAction | None:
        if kind != KIND:
            return None
        ls = self.ls
        data = convert.plain(action.data) or {}
        uri, problem_id = str(data.get("uri") or ""), str(data.get("problem") or "")
        synth = self.synthesizer()
        if synth is None:
            return self._fail(action, "no model is configured (setting llm.provider)")
        opened = ls.document_text(uri)
        if opened is None:
            return self._fail(action, "the document is not open any more")
        text, version, language_id = opened
        doc = self.service.documents.get(uri)
        views = doc.views if doc else []
        view = next((v for v in views if str(v.problem_id) == problem_id), None)
        if view is None:
            return self._fail(action, "the problem is no longer reported")
        path = uri_to_path(uri)

        def still_current() -> bool:
            now = ls.document_text(uri)
            return now is not None and now[1] == version

        try:
            async with self._progress("CodeCortex: synthesizing a fix") as report:
                result = await self.service.learning.synthesize(
                    synth,
                    view,
                    uri=uri,
                    path=path,
                    language=language_of(path, language_id),
                    text=text,
                    version=version,
                    still_current=still_current,
                    progress=report,
                )
        except DatabaseDown as exc:
            return self._fail(action, f"the database is unavailable ({exc})")
        except LLMError as exc:  # defensive: synthesize_fix reports these in its result
            return self._fail(action, exc.message)
        if not result.ok:
            return self._fail(action, result.message)
        action.edit = convert.workspace_edit(
            uri, version, result.edits, ls.document_changes, convert.positions(ls, text)
        )
        action.command = types.Command(
            title="Record the synthesized fix",
            command=CMD_ACCEPT,
            arguments=[str(result.synth_id)],
        )
        self.delivered[problem_id] = str(result.synth_id)
        self.uris[str(result.synth_id)] = uri
        how = "from cache" if result.cached else f"by {result.model}"
        ls.log(
            f"synthesized a fix {how} (confidence {result.confidence:.2f}): {result.explanation}"
        )
        return action

    @contextlib.asynccontextmanager
    async def _progress(self, title: str) -> AsyncIterator[Callable[[str], None]]:
        """Server-initiated work-done progress (when the client supports it)."""
        work = await WorkDone(self.ls, title, cancellable=False).begin()

        def report(message: str) -> None:
            pct = next((v for k, v in STEPS.items() if message.startswith(k)), None)
            work.report(message, None if pct is None else pct / 100)

        final = "done"
        try:
            yield report
        except BaseException:
            final = "failed"
            raise
        finally:
            work.end(final)

    def _fail(self, action: types.CodeAction, message: str) -> types.CodeAction:
        self.ls.show_once("synthesis-failed", f"CodeCortex could not synthesize a fix: {message}")
        action.edit = None
        return action

    # --- feedback ----------------------------------------------------------------------------

    async def _record(
        self,
        synth_id: str,
        action: str,
        note: str | None = None,
        modifications: str | None = None,
    ) -> dict[str, Any]:
        uri = self.uris.get(synth_id)
        path = uri_to_path(uri) if uri else None
        result = await self.service.learning.record_synthesis(
            synth_id, action, path, note=note, modifications=modifications
        )
        if result.get("recorded") and action == "rejected":
            for problem, sid in list(self.delivered.items()):
                if sid == synth_id:
                    self.delivered.pop(problem, None)
            self.watches.pop(synth_id, None)
        return result

    def diagnostics(self, uri: str) -> list[types.Diagnostic]:
        """Runs whenever our diagnostics for `uri` are republished (the document was
        observed): an applied synthesized fix whose code is no longer there was modified."""
        for synth_id, watch in list(self.watches.items()):
            if watch.uri != uri:
                continue
            opened = self.ls.document_text(uri)
            if opened is None:
                self.watches.pop(synth_id, None)
                continue
            text, version, _ = opened
            if version == watch.version:
                continue
            missing = [s for s in watch.snippets if s not in text]
            if missing:
                self.watches.pop(synth_id, None)
                note = "changed after applying: " + "; ".join(m.strip()[:80] for m in missing)
                self.service.spawn(
                    self._record(synth_id, "modified", modifications=note), "modified"
                )
                continue
            doc = self.service.documents.get(uri)
            if doc is not None and not any(
                str(v.problem_id) == watch.problem_id for v in doc.views
            ):
                self.watches.pop(synth_id, None)  # the problem is gone with the fix as applied
        return []

    # --- commands ------------------------------------------------------------------------------

    def commands(self) -> list[Command]:
        return [
            Command(CMD_ACCEPT, self.accept, {"recorded": False}),
            Command(CMD_REJECT, self.reject, {"recorded": False}),
            Command(CMD_FEEDBACK, self.feedback, {"recorded": False}),
            Command(CMD_LEARNING_PATH, self.learning_path, {"error": "learning path unavailable"}),
            Command(
                CMD_LEARNING_PROGRESS,
                self.learning_progress,
                {"error": "could not record progress"},
            ),
        ]

    async def accept(self, *args: Any) -> dict[str, Any]:
        synth_id = str(args[0]) if args else ""
        result = await self._record(synth_id, "applied")
        uri = self.uris.get(synth_id)
        problem = next((p for p, s in self.delivered.items() if s == synth_id), None)
        if result.get("recorded") and uri and problem:
            self.delivered.pop(problem, None)
            opened = self.ls.document_text(uri)
            snippets = await self.service.learning.synthesized_snippets(synth_id)
            if opened is not None and snippets:
                self.watches[synth_id] = Watch(uri, problem, opened[1], snippets)
        return result

    async def reject(self, *args: Any) -> dict[str, Any]:
        return await self._record(str(args[0]) if args else "", "rejected")

    async def feedback(self, *args: Any) -> dict[str, Any]:
        if len(args) < 2 or str(args[1]) not in synthesis.ACTIONS:
            return {"recorded": False, "error": "arguments: [synthId, applied|modified|rejected]"}
        note = str(args[2]) if len(args) > 2 and args[2] else None
        return await self._record(str(args[0]), str(args[1]), note=note)

    async def learning_path(self, *args: Any) -> dict[str, Any]:
        options = convert.plain(args[0]) if args and isinstance(args[0], dict) else {}
        options = options if isinstance(options, dict) else {}
        weeks = int(options.get("weeks") or learning_paths.DEFAULT_WEEKS)
        try:
            return await self.service.learning.learning_path(
                self.synthesizer(), weeks, bool(options.get("refresh"))
            )
        except learning_paths.NotEnoughHistory as exc:
            return {"error": str(exc)}
        except LLMError as exc:
            self.ls.show_once(
                "learning-path-failed",
                f"CodeCortex could not build a learning path: {exc.message}",
            )
            return {"error": exc.message}

    async def learning_progress(self, *args: Any) -> dict[str, Any]:
        if len(args) < 2:
            return {"error": "arguments: [pathId, lessonId, done?]"}
        done = bool(args[2]) if len(args) > 2 and args[2] is not None else True
        try:
            return await self.service.learning.mark_lesson(str(args[0]), str(args[1]), done)
        except (LookupError, ValueError) as exc:
            return {"error": str(exc)}


def _lsp_diagnostic(view: Any, pos: convert.Positions) -> types.Diagnostic:
    return types.Diagnostic(
        range=pos.range_out(view.diagnostic.range),
        message=view.diagnostic.message,
        source=view.diagnostic.source or None,
        code=view.diagnostic.code or None,
    )
