"""LSP side of synthesized fixes and learning paths (a feature module: see FEATURE_MODULES).

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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lsprotocol import types

from codecortex.diagnostics import Range
from codecortex.files.roots import language_of, uri_to_path
from codecortex.llm import LLMError
from codecortex.lsp import convert
from codecortex.lsp.features import (
    ACTION_PROVIDERS,
    DIAGNOSTIC_PROVIDERS,
    RESOLVERS,
    document_text,
    guarded,
)
from codecortex.lsp.progress import WorkDone
from codecortex.lsp.server import CodeCortexServer
from codecortex.session.database import DatabaseDown
from codecortex.synthesis import fixes as synthesis
from codecortex.synthesis import learning_paths

log = logging.getLogger(__name__)

KIND = "synthesize"
TITLE = "CodeCortex: synthesize fix"
CMD_ACCEPT = "codecortex.acceptSynthesis"
CMD_REJECT = "codecortex.rejectSynthesis"
CMD_FEEDBACK = "codecortex.synthesisFeedback"
CMD_LEARNING_PATH = "codecortex.learningPath"
CMD_LEARNING_PROGRESS = "codecortex.learningProgress"


@dataclass
class Watch:
    """An applied synthesized fix: if its code is edited before the problem is gone, the
    developer modified it."""

    uri: str
    problem_id: str
    version: int | None
    snippets: list[str]


@dataclass
class State:
    synth: synthesis.Synthesizer | None = None
    delivered: dict[str, str] = field(default_factory=dict)  # problem id -> synth id
    uris: dict[str, str] = field(default_factory=dict)  # synth id -> uri
    watches: dict[str, Watch] = field(default_factory=dict)  # synth id -> watch


def state_of(ls: CodeCortexServer) -> State:
    state = getattr(ls, "_synthesis_state", None)
    if state is None:
        state = State()
        ls._synthesis_state = state  # type: ignore[attr-defined]
    return state


def synthesizer(ls: CodeCortexServer) -> synthesis.Synthesizer | None:
    """The server's synthesizer for the current settings; None when no model is configured."""
    settings = ls.settings.llm_settings()
    state = state_of(ls)
    if settings.provider == "none":
        return None
    current = state.synth
    if (
        current is None
        or current.settings != settings
        or current.settings.api_key != settings.api_key
    ):
        state.synth = synthesis.Synthesizer(settings)
        if current is not None:
            ls.service.spawn(current.aclose(), "close model client")
    return state.synth


def _lsp_diagnostic(view: Any, pos: convert.Positions) -> types.Diagnostic:
    return types.Diagnostic(
        range=pos.range_out(view.diagnostic.range),
        message=view.diagnostic.message,
        source=view.diagnostic.source or None,
        code=view.diagnostic.code or None,
    )


def offer(
    ls: CodeCortexServer, uri: str, rng: Range, text: str, version: int | None
) -> list[types.CodeAction]:
    """One lazy *synthesize fix* action per known problem at the range (after the replays)."""
    if synthesizer(ls) is None:
        return []
    state = state_of(ls)
    actions: list[types.CodeAction] = []
    for view in ls.service.views_at(uri, rng):
        diag = _lsp_diagnostic(view, convert.positions(ls, text))
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
        synth_id = state.delivered.get(str(view.problem_id))
        if synth_id is not None:
            actions.append(
                types.CodeAction(
                    title="CodeCortex: synthesized fix not helpful",
                    kind=types.CodeActionKind.QuickFix,
                    diagnostics=[diag],
                    command=types.Command(
                        title="Not helpful", command=CMD_REJECT, arguments=[synth_id]
                    ),
                )
            )
    return actions


@contextlib.asynccontextmanager
async def _progress(ls: CodeCortexServer, title: str) -> AsyncIterator[Callable[[str], None]]:
    """Server-initiated work-done progress (when the client supports it)."""
    work = await WorkDone(ls, title, cancellable=False).begin()
    steps = {"gathering past solutions": 10, "asking": 30, "validating the edit": 90}

    def report(message: str) -> None:
        pct = next((v for k, v in steps.items() if message.startswith(k)), None)
        work.report(message, None if pct is None else pct / 100)

    final = "done"
    try:
        yield report
    except BaseException:
        final = "failed"
        raise
    finally:
        work.end(final)


def _fail(ls: CodeCortexServer, action: types.CodeAction, message: str) -> types.CodeAction:
    ls.show_once("synthesis-failed", f"CodeCortex could not synthesize a fix: {message}")
    action.edit = None
    return action


def _relative(ls: CodeCortexServer, path: Path | None, uri: str) -> str:
    if path is None:
        return uri
    for folder in ls.service.folders:
        if folder in path.parents:
            return path.relative_to(folder).as_posix()
    return path.name


async def resolve(ls: CodeCortexServer, action: types.CodeAction) -> types.CodeAction:
    data = convert.plain(action.data) or {}
    uri, problem_id = str(data.get("uri") or ""), str(data.get("problem") or "")
    synth = synthesizer(ls)
    if synth is None:
        return _fail(ls, action, "no model is configured (setting llm.provider)")
    opened = document_text(ls, uri)
    if opened is None:
        return _fail(ls, action, "the document is not open any more")
    text, version, language_id = opened
    doc = ls.service.documents.get(uri)
    view = next((v for v in (doc.views if doc else []) if str(v.problem_id) == problem_id), None)
    if view is None:
        return _fail(ls, action, "the problem is no longer reported")
    path = uri_to_path(uri)

    def still_current() -> bool:
        now = document_text(ls, uri)
        return now is not None and now[1] == version

    try:
        async with _progress(ls, "CodeCortex: synthesizing a fix") as report:
            async with ls.service.db.connection() as conn:
                ident = ls.service.identity(path)
                result = await synthesis.fix_for_problem(
                    conn,
                    synth,
                    view.problem_id,
                    view.diagnostic,
                    path=_relative(ls, path, uri),
                    language=language_of(path, language_id),
                    text=text,
                    version=version,
                    user_id=ident.user_id,
                    repo_id=ident.repo_id,
                    known_solutions=[f.solution for f in view.fixes],
                    related=view.related,
                    still_current=still_current,
                    progress=report,
                )
    except DatabaseDown as exc:
        return _fail(ls, action, f"the database is unavailable ({exc})")
    except LLMError as exc:  # defensive: synthesize_fix reports these in its result
        return _fail(ls, action, exc.message)
    if not result.ok:
        return _fail(ls, action, result.message)
    action.edit = convert.workspace_edit(
        uri, version, result.edits, ls.document_changes, convert.positions(ls, text)
    )
    action.command = types.Command(
        title="Record the synthesized fix", command=CMD_ACCEPT, arguments=[str(result.synth_id)]
    )
    state = state_of(ls)
    state.delivered[problem_id] = str(result.synth_id)
    state.uris[str(result.synth_id)] = uri
    how = "from cache" if result.cached else f"by {result.model}"
    ls.log(f"synthesized a fix {how} (confidence {result.confidence:.2f}): {result.explanation}")
    return action


async def _record(
    ls: CodeCortexServer,
    synth_id: str,
    action: str,
    note: str | None = None,
    modifications: str | None = None,
) -> dict[str, Any]:
    state = state_of(ls)
    uri = state.uris.get(synth_id)
    path = uri_to_path(uri) if uri else None
    async with ls.service.db.connection() as conn:
        result = await synthesis.record_action(
            conn,
            ls.service.memory,
            ls.service.identity(path),
            synth_id,
            action,
            note=note,
            modifications=modifications,
        )
    if result.get("recorded") and action == "rejected":
        for problem, sid in list(state.delivered.items()):
            if sid == synth_id:
                state.delivered.pop(problem, None)
        state.watches.pop(synth_id, None)
    return result


def watch_modifications(ls: CodeCortexServer, uri: str) -> list[types.Diagnostic]:
    """Runs whenever our diagnostics for `uri` are republished (the document was observed):
    an applied synthesized fix whose code is no longer there was modified by the developer."""
    state = state_of(ls)
    for synth_id, watch in list(state.watches.items()):
        if watch.uri != uri:
            continue
        opened = document_text(ls, uri)
        if opened is None:
            state.watches.pop(synth_id, None)
            continue
        text, version, _ = opened
        if version == watch.version:
            continue
        missing = [s for s in watch.snippets if s not in text]
        if missing:
            state.watches.pop(synth_id, None)
            note = "changed after applying: " + "; ".join(m.strip()[:80] for m in missing)
            ls.service.spawn(_record(ls, synth_id, "modified", modifications=note), "modified")
            continue
        doc = ls.service.documents.get(uri)
        if doc is not None and not any(str(v.problem_id) == watch.problem_id for v in doc.views):
            state.watches.pop(synth_id, None)  # the problem is gone with the fix as applied
    return []


def setup(server: CodeCortexServer) -> None:
    ACTION_PROVIDERS.append(offer)
    RESOLVERS[KIND] = resolve
    DIAGNOSTIC_PROVIDERS.append(watch_modifications)

    @server.command(CMD_ACCEPT)
    @guarded(default={"recorded": False})
    async def accept(ls: CodeCortexServer, *args: Any) -> dict[str, Any]:
        synth_id = str(args[0]) if args else ""
        result = await _record(ls, synth_id, "applied")
        state = state_of(ls)
        uri = state.uris.get(synth_id)
        problem = next((p for p, s in state.delivered.items() if s == synth_id), None)
        if result.get("recorded") and uri and problem:
            state.delivered.pop(problem, None)
            opened = document_text(ls, uri)
            async with ls.service.db.connection() as conn:
                row = await synthesis.synthesis_row(conn, synth_id)
            snippets = [
                e["new_text"] for e in (row or {}).get("edits", []) if e["new_text"].strip()
            ]
            if opened is not None and snippets:
                state.watches[synth_id] = Watch(uri, problem, opened[1], snippets)
        return result

    @server.command(CMD_REJECT)
    @guarded(default={"recorded": False})
    async def reject(ls: CodeCortexServer, *args: Any) -> dict[str, Any]:
        return await _record(ls, str(args[0]) if args else "", "rejected")

    @server.command(CMD_FEEDBACK)
    @guarded(default={"recorded": False})
    async def feedback(ls: CodeCortexServer, *args: Any) -> dict[str, Any]:
        if len(args) < 2 or str(args[1]) not in synthesis.ACTIONS:
            return {"recorded": False, "error": "arguments: [synthId, applied|modified|rejected]"}
        note = str(args[2]) if len(args) > 2 and args[2] else None
        return await _record(ls, str(args[0]), str(args[1]), note=note)

    @server.command(CMD_LEARNING_PATH)
    @guarded(default={"error": "learning path unavailable"})
    async def learning_path(ls: CodeCortexServer, *args: Any) -> dict[str, Any]:
        options = convert.plain(args[0]) if args and isinstance(args[0], dict) else {}
        options = options if isinstance(options, dict) else {}
        weeks = int(options.get("weeks") or learning_paths.DEFAULT_WEEKS)
        ident = ls.service.identity(ls.service.folders[0] if ls.service.folders else None)
        synth = synthesizer(ls)
        async with ls.service.db.connection() as conn:
            if not options.get("refresh"):
                latest = await learning_paths.latest(conn, ident.user_id)
                if latest is not None:
                    return learning_paths.path_json(latest)
            if synth is None:
                return {"error": "no model is configured (setting llm.provider)"}
            try:
                row = await learning_paths.generate(
                    conn, synth, ident, weeks=weeks, use_cache=not options.get("refresh")
                )
            except learning_paths.NotEnoughHistory as exc:
                return {"error": str(exc)}
            except LLMError as exc:
                ls.show_once(
                    "learning-path-failed",
                    f"CodeCortex could not build a learning path: {exc.message}",
                )
                return {"error": exc.message}
        return learning_paths.path_json(row)

    @server.command(CMD_LEARNING_PROGRESS)
    @guarded(default={"error": "could not record progress"})
    async def learning_progress(ls: CodeCortexServer, *args: Any) -> dict[str, Any]:
        if len(args) < 2:
            return {"error": "arguments: [pathId, lessonId, done?]"}
        done = bool(args[2]) if len(args) > 2 and args[2] is not None else True
        ident = ls.service.identity(ls.service.folders[0] if ls.service.folders else None)
        async with ls.service.db.connection() as conn:
            try:
                row = await learning_paths.mark_lesson(
                    conn, ident.user_id, str(args[0]), str(args[1]), done
                )
            except (LookupError, ValueError) as exc:
                return {"error": str(exc)}
        return learning_paths.path_json(row)


__all__ = ["CMD_ACCEPT", "CMD_REJECT", "KIND", "offer", "resolve", "setup"]
