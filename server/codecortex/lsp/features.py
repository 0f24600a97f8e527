"""LSP handlers: each translates between the protocol and `Service` calls, nothing more.

Every handler is wrapped so that one failing feature logs and answers empty instead of breaking
the request or the server.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lsprotocol import types

from codecortex import limits, presentation
from codecortex.diagnostics import Position, Range
from codecortex.files.roots import language_of, uri_to_path
from codecortex.lsp import convert
from codecortex.lsp.progress import WorkDone
from codecortex.lsp.server import CodeCortexServer
from codecortex.session.database import DatabaseDown
from codecortex.syntax.grammars import language_for_path

log = logging.getLogger(__name__)

CMD_SEARCH = "codecortex.search"
CMD_ADD_NOTE = "codecortex.addNote"
CMD_SHOW_SOLUTIONS = "codecortex.showSolutions"
SHOW_SOLUTIONS_WAIT_SECONDS = 10.0
CMD_STATS = "codecortex.stats"
CMD_REINDEX = "codecortex.reindex"
CMD_RECORD_FIX = "codecortex.recordFix"
CMD_REJECT_FIX = "codecortex.rejectFix"
CMD_IGNORE = "codecortex.ignore"
CMD_SAVE_SOLUTION = "codecortex.saveSolution"
HINT_CODE = "known-fix"

# Extension points for feature modules (synthesis, insights): each module listed in
# FEATURE_MODULES has `setup(server)`, which may append code action providers, add resolvers
# (by `action.data["kind"]`), diagnostics publishers and commands.
FEATURE_MODULES: list[str] = [
    "codecortex.lsp.synthesis_feature",
    "codecortex.lsp.team_feature",
    "codecortex.lsp.history_feature",
    "codecortex.lsp.github_feature",
    "codecortex.lsp.insights_feature",
]
ActionProvider = Callable[[CodeCortexServer, str, Range, str, "int | None"], list[types.CodeAction]]
ACTION_PROVIDERS: list[ActionProvider] = []
RESOLVERS: dict[str, Callable[[CodeCortexServer, types.CodeAction], Any]] = {}
DIAGNOSTIC_PROVIDERS: list[Callable[[CodeCortexServer, str], list[types.Diagnostic]]] = []
# fn(ls, uri, position) -> Markdown or None; shown after the problem-memory hover.
# (position in code points, like every engine range: see lsp/convert.Positions)
HOVER_PROVIDERS: list[Callable[[CodeCortexServer, str, Position], str | None]] = []
SAVE_LISTENERS: list[Callable[[CodeCortexServer, str], None]] = []
# fn(ls, paths): source files changed outside the editor (git checkout, generators).
CHANGE_LISTENERS: list[Callable[[CodeCortexServer, list[Path]], None]] = []


def guarded(default: Any = None) -> Callable[..., Any]:
    """Log (in one line) and return `default` instead of letting a handler's exception escape."""

    def wrap(fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        async def inner(ls: CodeCortexServer, *args: Any) -> Any:
            try:
                return await fn(ls, *args)
            except DatabaseDown as exc:
                ls.log(f"{fn.__name__}: database unavailable ({exc})", "warning")
                return default
            except Exception as exc:
                # One line (a client's bad argument must not fill stderr with tracebacks);
                # the traceback is there at logLevel debug.
                log.debug("%s failed", fn.__name__, exc_info=True)
                ls.log(f"{fn.__name__} failed: {type(exc).__name__}: {exc}", "error")
                return default

        return inner

    return wrap


def log_failure(what: str, exc: BaseException) -> None:
    """One line for a failed part (no traceback on stderr); the traceback at debug level."""
    log.error("%s failed: %s: %s", what, type(exc).__name__, exc)
    log.debug("%s failed", what, exc_info=exc)


def document_text(ls: CodeCortexServer, uri: str) -> tuple[str, int | None, str | None] | None:
    """(text, version, languageId) of an open document, or None when the editor never opened it."""
    doc = ls.workspace.text_documents.get(uri)
    if doc is None:
        return None
    return doc.source, doc.version, doc.language_id


def unsuitable_uri(uri: str) -> str | None:
    """Why a document URI cannot be recorded (a NUL byte or a lone surrogate in it), or None."""
    if "\x00" in uri:
        return "its URI contains a NUL byte"
    try:
        uri.encode("utf-8")
    except UnicodeEncodeError:
        return "its URI is not valid Unicode"
    return None


def unsuitable(text: str, max_size: int) -> str | None:
    """Why a document is not worth recording (huge or binary), or None."""
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > max_size:
        return f"larger than maxFileSize ({size} > {max_size} bytes)"
    if "\x00" in text[:8192]:
        return "binary content"
    if "\x00" in text:  # PostgreSQL text cannot store it: say so rather than fail later
        return f"contains a NUL byte (at offset {text.index(chr(0))})"
    return None


def publish_hints(ls: CodeCortexServer, uri: str) -> None:
    ls._publish_handles.pop(uri, None)
    state = ls.service.documents.get(uri)
    diagnostics: list[types.Diagnostic] = []
    opened = document_text(ls, uri)
    pos = convert.positions(ls, state.text if state is not None else opened[0] if opened else "")
    if ls.settings.detect_on_save:
        diagnostics.extend(convert.to_lsp_diagnostic(d, pos) for d in ls.detected.get(uri, []))
    if state is not None and ls.settings.hints:
        for view in state.views:
            message = presentation.hint_message(view)
            if message is None:
                continue
            diagnostics.append(
                types.Diagnostic(
                    range=pos.range_out(view.diagnostic.range),
                    message=message,
                    severity=types.DiagnosticSeverity.Hint,
                    source="codecortex",
                    code=HINT_CODE,
                    data={"problem": str(view.problem_id), "signature": view.signature.key},
                )
            )
    for provider in DIAGNOSTIC_PROVIDERS:
        try:
            diagnostics.extend(provider(ls, uri))
        except Exception as exc:
            log_failure(f"diagnostics provider {getattr(provider, '__name__', provider)}", exc)
    ls.text_document_publish_diagnostics(
        types.PublishDiagnosticsParams(
            uri=uri, diagnostics=diagnostics, version=state.version if state else None
        )
    )


def register(server: CodeCortexServer) -> None:
    import importlib

    for module in FEATURE_MODULES:
        importlib.import_module(module).setup(server)

    @server.feature(types.INITIALIZE)
    def initialize(ls: CodeCortexServer, params: types.InitializeParams) -> None:
        caps = params.capabilities
        ls.document_changes = bool(
            caps.workspace
            and caps.workspace.workspace_edit
            and caps.workspace.workspace_edit.document_changes
        )
        ls.apply_settings(params.initialization_options or {})
        folders = [uri_to_path(f.uri) for f in params.workspace_folders or []]
        if not folders and params.root_uri:
            folders = [uri_to_path(params.root_uri)]
        ls._folders = [f for f in folders if f is not None]  # type: ignore[attr-defined]

    @server.feature(types.INITIALIZED)
    async def initialized(ls: CodeCortexServer, params: types.InitializedParams) -> None:
        if ls.started:  # a client that sends `initialized` twice: start-up runs once
            ls.log("ignored a repeated initialized notification", "warning")
            return
        ls.started = True

        async def boot() -> None:
            await ls.service.start(getattr(ls, "_folders", []))
            ls.service.spawn(watch_workspace(ls), "watch workspace")
            if ls.service.db.state == "connected":
                ls.service.spawn(index_with_progress(ls), "index docs")

        ls.service.spawn(boot(), "start")

    @server.feature(types.WINDOW_WORK_DONE_PROGRESS_CANCEL)
    async def cancel_progress(
        ls: CodeCortexServer, params: types.WorkDoneProgressCancelParams
    ) -> None:
        token = str(params.token)
        if token.startswith("job-") and ls.service.db.state == "connected":
            await ls.service.cancel_job(token.removeprefix("job-"))

    @server.feature(types.WORKSPACE_DID_CHANGE_WORKSPACE_FOLDERS)
    async def folders_changed(
        ls: CodeCortexServer, params: types.DidChangeWorkspaceFoldersParams
    ) -> None:
        for removed in params.event.removed:
            path = uri_to_path(removed.uri)
            if path is not None:
                ls.service.remove_folder(path)
        for added in params.event.added:
            path = uri_to_path(added.uri)
            if path is not None:
                await ls.service.add_folder(path)
        if params.event.added and ls.service.db.state == "connected":
            ls.service.spawn(index_with_progress(ls), "index new folders")

    @server.feature(types.SHUTDOWN)
    async def shutdown(ls: CodeCortexServer, *args: Any) -> None:
        await ls.service.flush(timeout=5)
        await ls.service.stop()

    @server.feature(types.WORKSPACE_DID_CHANGE_CONFIGURATION)
    async def did_change_configuration(
        ls: CodeCortexServer, params: types.DidChangeConfigurationParams
    ) -> None:
        settings = convert.plain(params.settings)
        if not settings or (isinstance(settings, dict) and "codecortex" not in settings):
            try:
                (settings,) = await ls.workspace_configuration_async(
                    types.ConfigurationParams(items=[types.ConfigurationItem(section="codecortex")])
                )
            except Exception as exc:
                ls.log(f"could not read the codecortex settings: {exc}", "warning")
                return
        ls.apply_settings(convert.plain(settings) or {})
        ls.log("settings updated")
        for uri in list(ls.service.documents):
            publish_hints(ls, uri)

    @server.feature("codecortex/diagnostics")
    def forwarded_diagnostics(ls: CodeCortexServer, params: Any) -> None:
        try:
            uri, version, diagnostics = convert.parse_forwarded(params)
        except convert.MalformedParams as exc:
            ls.log(f"ignored malformed codecortex/diagnostics notification: {exc}", "warning")
            return
        opened = document_text(ls, uri)
        if opened is None:
            ls.log(f"ignored diagnostics for {uri}: the document is not open", "warning")
            return
        text, doc_version, language_id = opened
        reason = unsuitable_uri(uri) or unsuitable(text, ls.settings.max_file_size)
        if reason is not None:
            ls.log(f"ignored diagnostics for {uri}: {reason}", "warning")
            ls.show_once(
                "skip-file",
                f"CodeCortex: not recording {uri}: {reason} (later files: see the log)",
                "info",
            )
            return
        if version is not None and doc_version is not None and version != doc_version:
            log.debug("stale diagnostics for %s (v%s, document v%s)", uri, version, doc_version)
            return
        language = language_of(uri_to_path(uri), language_id)
        pos = convert.positions(ls, text)
        diagnostics = [pos.diagnostic_in(d) for d in diagnostics]
        # With detectOnSave the editor does not forward what our detectors publish: its list
        # says nothing about their problems (an empty list after opening a file must not
        # resolve what the detector just found there).
        path = uri_to_path(uri)
        theirs = detect_tools(ls, path) if ls.settings.detect_on_save and path else frozenset()
        ls.service.on_diagnostics(uri, doc_version, text, language, diagnostics, not_tools=theirs)

    @server.feature(types.TEXT_DOCUMENT_DID_SAVE)
    async def did_save(ls: CodeCortexServer, params: types.DidSaveTextDocumentParams) -> None:
        if params.text_document.uri.endswith("/pyproject.toml"):
            ls.service.reload_project_configs()
        for listener in SAVE_LISTENERS:
            try:
                listener(ls, params.text_document.uri)
            except Exception as exc:
                log_failure(f"save listener {getattr(listener, '__name__', listener)}", exc)
        if ls.settings.detect_on_save:
            ls.service.spawn(detect(ls, params.text_document.uri), "detect on save")

    @server.feature(types.TEXT_DOCUMENT_DID_OPEN)
    async def did_open(ls: CodeCortexServer, params: types.DidOpenTextDocumentParams) -> None:
        if ls.settings.detect_on_save:
            ls.service.spawn(detect(ls, params.text_document.uri), "detect on open")

    @server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
    def did_close(ls: CodeCortexServer, params: types.DidCloseTextDocumentParams) -> None:
        ls.detected.pop(params.text_document.uri, None)
        state = ls.service.documents.get(params.text_document.uri)
        if state is not None and not state.pending:
            ls.service.documents.pop(params.text_document.uri, None)

    @server.feature(
        types.TEXT_DOCUMENT_CODE_ACTION,
        types.CodeActionOptions(
            code_action_kinds=[types.CodeActionKind.QuickFix], resolve_provider=True
        ),
    )
    @guarded(default=None)
    async def code_action(
        ls: CodeCortexServer, params: types.CodeActionParams
    ) -> list[types.CodeAction] | None:
        return code_actions_for(ls, params)

    @server.feature(types.CODE_ACTION_RESOLVE)
    @guarded(default=None)
    async def code_action_resolve(ls: CodeCortexServer, action: types.CodeAction) -> Any:
        data = action.data if isinstance(action.data, dict) else convert.plain(action.data)
        resolver = RESOLVERS.get((data or {}).get("kind", "")) if isinstance(data, dict) else None
        if resolver is None:
            return action
        return await resolver(ls, action)

    @server.feature(types.TEXT_DOCUMENT_HOVER)
    @guarded(default=None)
    async def hover(ls: CodeCortexServer, params: types.HoverParams) -> types.Hover | None:
        opened = document_text(ls, params.text_document.uri)
        codec = convert.positions(ls, opened[0] if opened else "")
        here = codec.position_in(params.position)
        views = ls.service.views_at(params.text_document.uri, Range(here, here))
        ls.service.refresh_if_stale(params.text_document.uri)
        parts = [presentation.hover_markdown(views)]
        for provider in HOVER_PROVIDERS:
            try:
                parts.append(provider(ls, params.text_document.uri, here))
            except Exception as exc:
                log_failure(f"hover provider {getattr(provider, '__name__', provider)}", exc)
        text = "\n\n---\n\n".join(p for p in parts if p)
        if not text:
            return None
        return types.Hover(
            contents=types.MarkupContent(kind=types.MarkupKind.Markdown, value=text),
            range=codec.range_out(views[0].diagnostic.range) if views else None,
        )

    # --- commands -------------------------------------------------------------------------------

    @server.command(CMD_SEARCH)
    @guarded(default={"results": [], "error": "search failed"})
    async def search(ls: CodeCortexServer, *args: Any) -> dict[str, Any]:
        query = str(args[0]) if args else ""
        if not query.strip():
            return {"results": []}
        error = limits.too_long("the search query", query, limits.MAX_QUERY)
        if error is not None:
            return {"results": [], "error": error}
        hits = await ls.service.search(query)
        root = ls.service.folders[0] if ls.service.folders else None
        return {"results": [presentation.search_result_json(h, root) for h in hits]}

    @server.command(CMD_ADD_NOTE)
    @guarded(default={"error": "could not add the note"})
    async def add_note(ls: CodeCortexServer, *args: Any) -> dict[str, Any]:
        arg = convert.plain(args[0]) if args else {}
        if isinstance(arg, str):
            arg = {"text": arg}
        if not isinstance(arg, dict):
            return {"error": "the argument must be the note's text or {text, title, tags}"}
        text = str(arg.get("text") or "").strip()
        if not text:
            return {"error": "a note needs text"}
        title = str(arg.get("title") or "")
        raw_tags = arg.get("tags") or []
        if not isinstance(raw_tags, list):
            return {"error": "tags must be a list of strings"}
        tags = [str(t) for t in raw_tags]
        for name, value, limit in [
            ("the note", text, limits.MAX_NOTE),
            ("the note's title", title, limits.MAX_TITLE),
            *(("a tag", t, limits.MAX_TAG) for t in tags),
        ]:
            error = limits.too_long(name, value, limit)
            if error is not None:
                return {"error": error}
        if len(tags) > limits.MAX_TAGS:
            return {"error": f"too many tags ({len(tags)}; the limit is {limits.MAX_TAGS})"}
        note_id = await ls.service.add_note(text, title, tags)
        return {"id": str(note_id)}

    @server.command(CMD_SHOW_SOLUTIONS)
    @guarded(default={"problems": []})
    async def show_solutions(ls: CodeCortexServer, *args: Any) -> dict[str, Any]:
        uri = str(args[0]) if args else ""
        line = int(args[1]) if len(args) > 1 and args[1] is not None else None
        # asked for by the user: the fixes still being checked are worth a short wait, so
        # that the view does not say "no past solution" for a fix about to be offered
        checking = not await ls.service.settled(uri, SHOW_SOLUTIONS_WAIT_SECONDS)
        state = ls.service.documents.get(uri)
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

    @server.command(CMD_STATS)
    @guarded(default={"error": "stats unavailable"})
    async def stats(ls: CodeCortexServer, *args: Any) -> dict[str, Any]:
        from codecortex.reports.stats import collect_stats

        async with ls.service.db.connection() as conn:
            return await collect_stats(conn, ls.service.user_id)

    @server.command(CMD_REINDEX)
    @guarded(default={"queued": False})
    async def reindex(ls: CodeCortexServer, *args: Any) -> dict[str, Any]:
        ls.service.spawn(index_with_progress(ls), "reindex")
        return {"queued": True}

    @server.command(CMD_RECORD_FIX)
    @guarded(default=None)
    async def record_fix(ls: CodeCortexServer, *args: Any) -> None:
        solution_id = str(args[0])
        problem_id = str(args[1]) if len(args) > 1 and args[1] else None
        await ls.service.record_fix_applied(solution_id, problem_id)

    @server.command(CMD_REJECT_FIX)
    @guarded(default=None)
    async def reject_fix(ls: CodeCortexServer, *args: Any) -> None:
        await ls.service.record_fix_rejected(str(args[0]))

    @server.command(CMD_IGNORE)
    @guarded(default=None)
    async def ignore(ls: CodeCortexServer, *args: Any) -> None:
        await ls.service.ignore_signature(str(args[0]))

    @server.command(CMD_SAVE_SOLUTION)
    @guarded(default={"saved": False})
    async def save_solution(ls: CodeCortexServer, *args: Any) -> dict[str, Any]:
        solution_id = await ls.service.save_resolved_as_solution(str(args[0]), str(args[1]))
        if solution_id is None:
            ls.show_once("save-failed", f"CodeCortex: that change could not be saved ({args[1]}).")
            return {"saved": False}
        return {"saved": True, "id": str(solution_id)}


def _jsonable(value: Any) -> Any:
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if isinstance(value, (int, float, str)) or value is None:
        return value
    return str(value)


def code_actions_for(
    ls: CodeCortexServer, params: types.CodeActionParams
) -> list[types.CodeAction]:
    uri = params.text_document.uri
    service = ls.service
    opened = document_text(ls, uri)
    if opened is None:
        return []
    text, version, language_id = opened
    pos = convert.positions(ls, text)
    rng = pos.range_in(params.range)
    if rng.start == rng.end:  # a cursor: everything on its line (Neovim asks this way)
        rng = Range.of(
            rng.start.line,
            0,
            rng.start.line,
            len(pos.lines[rng.start.line]) if rng.start.line < len(pos.lines) else 0,
        )
    views = service.views_at(uri, rng)
    service.refresh_if_stale(uri)
    unknown = [
        d
        for d in params.context.diagnostics
        if d.source != "codecortex"
        and not any(pos.range_in(d.range) == v.diagnostic.range for v in views)
    ]
    if unknown and (unsuitable_uri(uri) or unsuitable(text, ls.settings.max_file_size)):
        unknown = []  # not recordable (said when its diagnostics arrived)
    if unknown:  # diagnostics we have not seen yet: record them (no resolution from a subset)
        language = language_of(uri_to_path(uri), language_id)
        service.on_diagnostics(
            uri,
            version,
            text,
            language,
            [convert.from_lsp_diagnostic(d, pos) for d in unknown],
            tools=set(),
            method="code_action",
        )
    actions: list[types.CodeAction] = []
    for view in views:
        fixes = service.fixes_for(uri, view, text, version)
        lsp_diag = types.Diagnostic(
            range=pos.range_out(view.diagnostic.range),
            message=view.diagnostic.message,
            source=view.diagnostic.source or None,
            code=view.diagnostic.code or None,
        )
        # At most two CodeCortex entries per problem: the best past fix (preferred when it was
        # verified on this text) and "show past solutions" for the rest; "ignore" only when
        # there is nothing else to offer.
        best = next((f for f in fixes if f.verified is True), fixes[0] if fixes else None)
        if best is not None:
            actions.append(
                types.CodeAction(
                    title=presentation.fix_title(best),
                    kind=types.CodeActionKind.QuickFix,
                    diagnostics=[lsp_diag],
                    is_preferred=(
                        best.verified is True
                        and best.confidence >= ls.settings.replay_min_confidence
                    ),
                    edit=convert.workspace_edit(
                        uri, version, best.replay.edits, ls.document_changes, pos
                    ),
                    command=types.Command(
                        title="Record that the fix was applied",
                        command=CMD_RECORD_FIX,
                        arguments=[str(best.solution["id"]), str(view.problem_id)],
                    ),
                )
            )
        if view.fixes or (view.history or {}).get("fixed"):
            actions.append(
                types.CodeAction(
                    title=f"CodeCortex: show past solutions ({len(view.fixes)})",
                    kind=types.CodeActionKind.QuickFix,
                    diagnostics=[lsp_diag],
                    command=types.Command(
                        title="Show past solutions",
                        command=CMD_SHOW_SOLUTIONS,
                        arguments=[uri, view.diagnostic.range.start.line],
                    ),
                )
            )
        else:
            actions.append(
                types.CodeAction(
                    title=f"CodeCortex: ignore “{presentation.short_message(view.diagnostic)}”",
                    kind=types.CodeActionKind.QuickFix,
                    diagnostics=[lsp_diag],
                    command=types.Command(
                        title="Ignore", command=CMD_IGNORE, arguments=[view.signature.key]
                    ),
                )
            )
    for provider in ACTION_PROVIDERS:
        try:
            actions.extend(provider(ls, uri, rng, text, version))
        except Exception as exc:
            log_failure(f"code action provider {getattr(provider, '__name__', provider)}", exc)
    state = service.documents.get(uri)
    for resolved in state.resolved if state else []:
        if resolved.solution_id is None and resolved.before_text is not None:
            line = resolved.problem.get("line_number") or 0
            if abs(line - rng.start.line) <= 3:
                actions.append(
                    types.CodeAction(
                        title="CodeCortex: save this change as a solution "
                        f"({presentation.shorten(resolved.problem.get('error_message') or '')})",
                        kind=types.CodeActionKind.QuickFix,
                        command=types.Command(
                            title="Save as solution",
                            command=CMD_SAVE_SOLUTION,
                            arguments=[uri, str(resolved.problem["id"])],
                        ),
                    )
                )
    return actions


async def index_with_progress(ls: CodeCortexServer) -> None:
    """Index the workspace docs with work-done progress the user can cancel."""
    work = await WorkDone(ls, "CodeCortex: indexing docs").begin()

    async def progress(fraction: float, message: str) -> None:
        if work.cancelled:
            raise asyncio.CancelledError
        work.report(message, fraction)

    message = "done"
    try:
        result = await ls.service.index_docs(progress)
        message = f"{result['files']} doc files, {result['added']} chunks added"
    except asyncio.CancelledError:
        message = "cancelled"
    except Exception as exc:
        message = f"failed: {exc}"
        ls.log(f"indexing docs failed: {exc}", "error")
    finally:
        work.end(message)


async def watch_workspace(ls: CodeCortexServer) -> None:
    """Re-ingest docs changed outside the editor (git checkout, generators)."""
    from watchfiles import Change

    from codecortex.analysis.phases import DEFAULT_SKIP_DIRS as SKIP_DIRS
    from codecortex.knowledge.docs import DOC_SUFFIXES

    roots = [str(info.root) for info in ls.service.repo_infos.values()]
    if not roots:
        return

    def interesting(change: Any, path: str) -> bool:
        p = Path(path)
        if any(part in SKIP_DIRS for part in p.parts):
            return False
        if p.suffix.lower() in DOC_SUFFIXES or language_for_path(p) is not None:
            return True
        # A new directory: files written into it before its watch existed raise no event.
        return change == Change.added and p.is_dir()

    ls.log(f"watching {len(roots)} folder(s) for doc changes")
    async for changes in _watch(roots, interesting):
        found: set[Path] = set()
        for _change, name in changes:
            path = Path(name)
            if path.is_dir():
                found.update(p for p in path.rglob("*") if interesting(Change.modified, str(p)))
            else:
                found.add(path)
        ignored = await _git_ignored(sorted(found))
        found -= ignored
        open_files = {uri_to_path(uri) for uri in ls.workspace.text_documents}
        sources = sorted(p for p in found if language_for_path(p) and p not in open_files)
        if sources and ls.service.db.state == "connected":
            for listener in CHANGE_LISTENERS:
                try:
                    listener(ls, sources)
                except Exception as exc:
                    log_failure(f"change listener {getattr(listener, '__name__', listener)}", exc)
        paths = sorted(p for p in found if p.suffix.lower() in DOC_SUFFIXES)
        if not paths or ls.service.db.state != "connected":
            continue
        try:
            changed = await ls.service.reingest(paths)
            ls.log(f"re-indexed {len(paths)} changed doc file(s) ({changed} chunks changed)")
        except Exception as exc:
            ls.log(f"re-indexing changed docs failed: {exc}", "warning")


async def _watch(roots: list[str], watch_filter: Callable[[Any, str], bool]) -> Any:
    """watchfiles on a daemon thread of our own, its batches handed to the event loop.

    (watchfiles' awatch runs on AnyIO's worker threads, which are not daemons and idle on for
    10 s: every server exit would wait for them.)"""
    import threading

    from watchfiles import watch

    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[Any] = asyncio.Queue()
    stop = threading.Event()

    def deliver(item: Any) -> None:
        try:
            loop.call_soon_threadsafe(queue.put_nowait, item)
        except RuntimeError:  # the event loop is gone: stop watching
            stop.set()

    def run() -> None:
        try:
            for changes in watch(
                *roots, watch_filter=watch_filter, debounce=400, step=100, stop_event=stop
            ):
                deliver(changes)
        except Exception as exc:  # a root vanished, too many watches: stop watching, say why
            deliver(exc)

    threading.Thread(target=run, name="codecortex-watch", daemon=True).start()
    try:
        while True:
            item = await queue.get()
            if isinstance(item, Exception):
                log.warning("watching for file changes stopped: %s", item)
                return
            yield item
    finally:
        stop.set()


async def _git_ignored(paths: list[Path]) -> set[Path]:
    if not paths:
        return set()
    try:
        proc = await asyncio.create_subprocess_exec(
            "git",
            "check-ignore",
            "--stdin",
            cwd=paths[0].parent if paths[0].parent.exists() else None,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
        )
        out, _ = await proc.communicate("\n".join(str(p) for p in paths).encode())
    except OSError:
        return set()
    return {Path(line) for line in out.decode().splitlines() if line}


def detect_tools(ls: CodeCortexServer, path: Path) -> frozenset[str]:
    """The tools detectOnSave may run on `path` (the project's `detectors`, else any): their
    problems in that file are the detectors' to report and to resolve."""
    from codecortex.detectors import TOOLS
    from codecortex.memory.signatures import normalise_tool

    project = ls.service.project_for(path.resolve())
    names = project.detectors if project.detectors is not None else TOOLS
    return frozenset(normalise_tool(t) for t in names)


async def detect(ls: CodeCortexServer, uri: str) -> None:
    """detectOnSave: run the installed detectors on one file and observe their result."""
    from codecortex.detectors import run_detectors

    path = uri_to_path(uri)
    opened = document_text(ls, uri)
    if path is None or opened is None:
        return
    text, version, language_id = opened
    reason = unsuitable_uri(uri) or unsuitable(text, ls.settings.max_file_size)
    if reason is not None:
        ls.log(f"not checking {uri}: {reason}", "warning")
        return
    root = next((f for f in ls.service.folders if f in path.parents), path.parent)
    project = ls.service.project_for(path.resolve())
    if not project.enable or project.ignores(path):
        return
    wanted = list(project.detectors) if project.detectors is not None else None
    run = await run_detectors([path], root=root, tools=wanted)
    for tool, error in run.errors.items():
        ls.log(f"detector {tool} failed: {error}", "warning")
    diagnostics = run.diagnostics.get(path.resolve(), [])
    ls.detected[uri] = diagnostics
    ls.views_changed(uri)  # shown at once, hints follow when the observation is processed
    tools = {tool for tool, files in run.checked.items() if path.resolve() in files}
    from codecortex.memory.signatures import normalise_tool

    ls.service.on_diagnostics(
        uri,
        version,
        text,
        language_of(path, language_id),
        diagnostics,
        tools={normalise_tool(t) for t in tools},
        method="detector",
    )
