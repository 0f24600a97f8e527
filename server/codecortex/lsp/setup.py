"""The one place that registers LSP handlers and commands (`@server.feature`/`@server.command`).

Each handler translates between the protocol and the session, then fans out to the features'
hooks (`lsp/feature.py`), each call guarded: a feature that raises is logged in one line and the
request still gets its answer from the others. Commands are the features' `commands()`, each
guarded the same way (answering its `default` when it fails).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from lsprotocol import types

from codecortex.config import Settings
from codecortex.diagnostics import Range
from codecortex.files.roots import uri_to_path
from codecortex.lsp import convert
from codecortex.lsp.feature import Command, Feature
from codecortex.lsp.features.history import HistoryFeature
from codecortex.lsp.features.insights import InsightsFeature
from codecortex.lsp.features.knowledge import KnowledgeFeature
from codecortex.lsp.features.memory import MemoryFeature, SaveChangeFeature
from codecortex.lsp.features.synthesis import SynthesisFeature
from codecortex.lsp.features.team import TeamFeature
from codecortex.lsp.server import CodeCortexServer, configure_logging
from codecortex.session.database import DatabaseDown

log = logging.getLogger(__name__)
T = TypeVar("T")


def make_features(ls: CodeCortexServer) -> list[Feature]:
    """The features, in the order their code actions, hovers and diagnostics are listed."""
    return [
        MemoryFeature(ls),
        SynthesisFeature(ls),
        TeamFeature(ls),
        HistoryFeature(ls),
        InsightsFeature(ls),
        SaveChangeFeature(ls),
        KnowledgeFeature(ls),
    ]


def _failed(what: str, exc: BaseException) -> None:
    """One line for a failed part (no traceback on stderr); the traceback at debug level."""
    log.error("%s failed: %s: %s", what, type(exc).__name__, exc)
    log.debug("%s failed", what, exc_info=exc)


def each(features: list[Feature], hook: str, call: Callable[[Any], T]) -> list[T]:
    """`call(feature)` for every feature, the results of those that did not raise."""
    out: list[T] = []
    for feature in features:
        try:
            out.append(call(feature))
        except Exception as exc:
            _failed(f"{feature.name} {hook}", exc)
    return out


def guarded(ls: CodeCortexServer, name: str, fn: Callable[..., Any], default: Any) -> Any:
    """`fn` logging (in one line) and answering `default` instead of raising."""

    @functools.wraps(fn)
    async def inner(*args: Any) -> Any:
        try:
            return await fn(*args)
        except DatabaseDown as exc:
            ls.log(f"{name}: database unavailable ({exc})", "warning")
            return default
        except Exception as exc:
            # One line (a client's bad argument must not fill stderr with tracebacks);
            # the traceback is there at logLevel debug.
            log.debug("%s failed", name, exc_info=True)
            ls.log(f"{name} failed: {type(exc).__name__}: {exc}", "error")
            return default

    return inner


def register(server: CodeCortexServer, features: list[Feature]) -> None:
    knowledge = next(f for f in features if isinstance(f, KnowledgeFeature))

    def publish(uri: str) -> None:
        ls = server
        state = ls.service.documents.get(uri)
        diagnostics = [
            d for ds in each(features, "diagnostics", lambda f: f.diagnostics(uri)) for d in ds
        ]
        ls.text_document_publish_diagnostics(
            types.PublishDiagnosticsParams(
                uri=uri, diagnostics=diagnostics, version=state.version if state else None
            )
        )

    server.publish = publish

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
        ls.folders = [f for f in folders if f is not None]

    @server.feature(types.INITIALIZED)
    async def initialized(ls: CodeCortexServer, params: types.InitializedParams) -> None:
        if ls.started:  # a client that sends `initialized` twice: start-up runs once
            ls.log("ignored a repeated initialized notification", "warning")
            return
        ls.started = True

        def open_files() -> set[Path]:
            return {p for p in map(uri_to_path, ls.workspace.text_documents) if p is not None}

        def sources_changed(paths: list[Path]) -> None:
            each(features, "on_files_changed", lambda f: f.on_files_changed(paths))

        async def boot() -> None:
            await ls.service.start(ls.folders)
            ls.service.spawn(
                ls.service.knowledge.watch_workspace(open_files, sources_changed), "watch workspace"
            )
            if ls.service.connected:
                knowledge.index("index docs")

        ls.service.spawn(boot(), "start")

    @server.feature(types.WINDOW_WORK_DONE_PROGRESS_CANCEL)
    async def cancel_progress(
        ls: CodeCortexServer, params: types.WorkDoneProgressCancelParams
    ) -> None:
        token = str(params.token)
        if token.startswith("job-"):
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
        if params.event.added and ls.service.connected:
            knowledge.index("index new folders")

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
            publish(uri)

    @server.feature("codecortex/diagnostics")
    def forwarded_diagnostics(ls: CodeCortexServer, params: Any) -> None:
        try:
            uri, version, diagnostics = convert.parse_forwarded(params)
        except convert.MalformedParams as exc:
            ls.log(f"ignored malformed codecortex/diagnostics notification: {exc}", "warning")
            return
        opened = ls.document_text(uri)
        if opened is None:
            ls.log(f"ignored diagnostics for {uri}: the document is not open", "warning")
            return
        pos = convert.positions(ls, opened[0])
        ls.service.observing.observe_editor(
            uri, version, opened, [pos.diagnostic_in(d) for d in diagnostics]
        )

    @server.feature(types.TEXT_DOCUMENT_DID_SAVE)
    async def did_save(ls: CodeCortexServer, params: types.DidSaveTextDocumentParams) -> None:
        each(features, "on_save", lambda f: f.on_save(params.text_document.uri))

    @server.feature(types.TEXT_DOCUMENT_DID_OPEN)
    async def did_open(ls: CodeCortexServer, params: types.DidOpenTextDocumentParams) -> None:
        each(features, "on_open", lambda f: f.on_open(params.text_document.uri))

    @server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
    def did_close(ls: CodeCortexServer, params: types.DidCloseTextDocumentParams) -> None:
        each(features, "on_close", lambda f: f.on_close(params.text_document.uri))

    async def code_action(
        ls: CodeCortexServer, params: types.CodeActionParams
    ) -> list[types.CodeAction] | None:
        uri = params.text_document.uri
        opened = ls.document_text(uri)
        if opened is None:
            return []
        text, version, language_id = opened
        pos = convert.positions(ls, text)
        rng = pos.range_in(params.range)
        if rng.start == rng.end:  # a cursor: everything on its line (Neovim asks this way)
            line = rng.start.line
            rng = Range.of(line, 0, line, len(pos.lines[line]) if line < len(pos.lines) else 0)
        ls.service.refresh_if_stale(uri)
        # diagnostics we have not seen yet: recorded (no resolution from a subset)
        theirs = [d for d in params.context.diagnostics if d.source != "codecortex"]
        ls.service.observing.observe_unseen(
            uri,
            version,
            text,
            language_id,
            [convert.from_lsp_diagnostic(d, pos) for d in theirs],
            rng,
        )
        found = each(features, "code actions", lambda f: f.code_actions(uri, rng, text, version))
        return [action for actions in found for action in actions]

    server.feature(
        types.TEXT_DOCUMENT_CODE_ACTION,
        types.CodeActionOptions(
            code_action_kinds=[types.CodeActionKind.QuickFix], resolve_provider=True
        ),
    )(guarded(server, "code_action", code_action, None))

    async def code_action_resolve(ls: CodeCortexServer, action: types.CodeAction) -> Any:
        data = action.data if isinstance(action.data, dict) else convert.plain(action.data)
        kind = str((data or {}).get("kind", "")) if isinstance(data, dict) else ""
        for feature in features:
            resolved = await feature.resolve(kind, action)
            if resolved is not None:
                return resolved
        return action

    server.feature(types.CODE_ACTION_RESOLVE)(
        guarded(server, "code_action_resolve", code_action_resolve, None)
    )

    async def hover(ls: CodeCortexServer, params: types.HoverParams) -> types.Hover | None:
        uri = params.text_document.uri
        opened = ls.document_text(uri)
        codec = convert.positions(ls, opened[0] if opened else "")
        here = codec.position_in(params.position)
        views = ls.service.views_at(uri, Range(here, here))
        ls.service.refresh_if_stale(uri)
        parts = each(features, "hover", lambda f: f.hover(uri, here))
        text = "\n\n---\n\n".join(p for p in parts if p)
        if not text:
            return None
        return types.Hover(
            contents=types.MarkupContent(kind=types.MarkupKind.Markdown, value=text),
            range=codec.range_out(views[0].diagnostic.range) if views else None,
        )

    server.feature(types.TEXT_DOCUMENT_HOVER)(guarded(server, "hover", hover, None))

    for feature in features:
        for command in feature.commands():
            _command(server, command)


def _command(server: CodeCortexServer, command: Command) -> None:
    run = command.run

    async def handler(ls: CodeCortexServer, *args: Any) -> Any:
        return await run(*args)

    handler.__name__ = getattr(run, "__name__", command.name)
    if command.guarded:
        server.command(command.name)(guarded(server, handler.__name__, handler, command.default))
    else:
        server.command(command.name)(handler)


def run_server(settings: Settings, host: str | None = None, port: int | None = None) -> int:
    configure_logging(settings)
    server = CodeCortexServer(settings)
    register(server, make_features(server))
    if host is not None and port is not None:
        server.start_tcp(host, port)
    else:
        server.start_io()
    return server.exit_code if server.exit_code is not None else 0
