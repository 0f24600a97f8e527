"""The pygls language server: a `LanguageServer` subclass holding the engine (`Service`) and the
editor-facing helpers the engine calls back (log, show once, status, views changed).

Handlers live in `lsp/features.py`; this module only wires and runs.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import threading
from typing import Any, BinaryIO

from lsprotocol import types
from pygls.exceptions import FeatureRequestError, JsonRpcException, JsonRpcInternalError
from pygls.io_ import StdinAsyncReader, StdoutWriter, run_async
from pygls.lsp.server import LanguageServer
from pygls.protocol import LanguageServerProtocol

from codecortex import __version__
from codecortex.config import Settings, load_settings
from codecortex.service import Service

log = logging.getLogger(__name__)

_LEVELS = {
    "error": types.MessageType.Error,
    "warning": types.MessageType.Warning,
    "info": types.MessageType.Info,
    "debug": types.MessageType.Log,
}


class CodeCortexProtocol(LanguageServerProtocol):
    """pygls logs a request whose params do not match the method's schema and drops it, so the
    client would wait forever: answer it with the JSON-RPC error instead, and tell the user."""

    def structure_message(self, data: dict[str, Any]) -> Any:
        try:
            return super().structure_message(data)
        except JsonRpcException as exc:
            method = data.get("method") if isinstance(data, dict) else None
            if isinstance(data, dict) and data.get("id") is not None and method:
                self._send_response(data["id"], error=exc.to_response_error())
            server = self._server
            if isinstance(server, CodeCortexServer):
                server.log(f"malformed {method or 'message'} ignored: {exc.message}", "warning")
            raise


class CodeCortexServer(LanguageServer):
    def __init__(self, settings: Settings) -> None:
        super().__init__("codecortex", __version__, protocol_cls=CodeCortexProtocol)
        self.settings = settings
        self.service = Service(settings, self)
        self._shown: set[str] = set()
        self._publish_handles: dict[str, asyncio.TimerHandle] = {}
        self.document_changes = False
        self._job_chains: dict[str, asyncio.Future[None]] = {}

    # --- the engine's Client protocol -------------------------------------------------------

    def log(self, message: str, level: str = "info") -> None:
        getattr(log, "warning" if level == "warning" else level, log.info)(message)
        try:
            self.window_log_message(
                types.LogMessageParams(
                    type=_LEVELS.get(level, types.MessageType.Info), message=message
                )
            )
        except Exception:  # not connected yet / already gone
            pass

    def show_once(self, key: str, message: str, level: str = "warning") -> None:
        """window/showMessage, at most once per key per session (no nagging)."""
        if key in self._shown:
            return
        self._shown.add(key)
        try:
            self.window_show_message(
                types.ShowMessageParams(
                    type=_LEVELS.get(level, types.MessageType.Warning), message=message
                )
            )
        except Exception:
            pass

    def status(self, payload: dict[str, Any]) -> None:
        try:
            self.protocol.notify("codecortex/status", payload)
        except Exception:
            pass

    def views_changed(self, uri: str) -> None:
        """Re-publish our hint diagnostics for a document (coalesced)."""
        from codecortex.lsp.features import publish_hints

        handle = self._publish_handles.pop(uri, None)
        if handle is not None:
            handle.cancel()
        loop = asyncio.get_event_loop()
        self._publish_handles[uri] = loop.call_later(0.02, publish_hints, self, uri)

    def job_progress(self, job: Any, fraction: float | None, message: str | None) -> None:
        """Queue-job progress as LSP work-done progress (token `job-<id>`, cancellable).

        fraction None means the job finished (message is its final status)."""
        token = f"job-{job.job_id}"
        previous = self._job_chains.get(token)
        if previous is None and fraction is None:
            return  # finished before reporting anything: nothing to show
        self._job_chains[token] = asyncio.ensure_future(
            self._job_step(previous, token, job, fraction, message)
        )

    async def _job_step(
        self,
        previous: asyncio.Future[None] | None,
        token: str,
        job: Any,
        fraction: float | None,
        message: str | None,
    ) -> None:
        window = self.client_capabilities.window
        if window is None or not window.work_done_progress:
            return
        try:
            if previous is None:
                await self.work_done_progress.create_async(token)
                self.work_done_progress.begin(
                    token,
                    types.WorkDoneProgressBegin(
                        title=f"CodeCortex: {job.job_type.replace('_', ' ')}",
                        cancellable=True,
                        percentage=0,
                    ),
                )
            else:
                await previous
            if fraction is None:
                self.work_done_progress.end(token, types.WorkDoneProgressEnd(message=message))
                self._job_chains.pop(token, None)
                self.work_done_progress.tokens.pop(token, None)
            else:
                self.work_done_progress.report(
                    token,
                    types.WorkDoneProgressReport(message=message, percentage=int(fraction * 100)),
                )
        except Exception as exc:  # the client went away or refused progress
            log.debug("job progress %s: %s", token, exc)

    def report_server_error(self, error: Exception, source: Any) -> None:
        """Out-of-band errors (unparseable input, a failed send). pygls would show each one in a
        popup and, when the send itself failed (the client is gone), recurse on the failed
        popup; we log them, and only to a client we can still reach."""
        if source is FeatureRequestError:
            return
        log.error("server error (%s): %s", getattr(source, "__name__", source), error)
        if source is not JsonRpcInternalError:
            self.log(f"ignored a message the server could not handle: {error}", "warning")

    # --- lifetime -------------------------------------------------------------------------------

    def start_io(self, stdin: BinaryIO | None = None, stdout: BinaryIO | None = None) -> None:
        """pygls' stdio loop, plus our own teardown while the event loop still runs.

        When the client goes away without `shutdown` (an editor that is killed, `nvim -l` that
        exits), pygls would end the loop and cancel every task; psycopg's pool workers do not
        survive that and the process would hang. Closing the engine first ends them cleanly.
        """
        stop = self._stop_event = threading.Event()
        reader = StdinAsyncReader(stdin or sys.stdin.buffer, self.thread_pool)
        self.protocol.set_writer(StdoutWriter(stdout or sys.stdout.buffer))

        async def main() -> None:
            try:
                await run_async(
                    stop_event=stop,
                    reader=reader,
                    protocol=self.protocol,
                    logger=log,
                    error_handler=self.report_server_error,
                )
            finally:
                await self.service.stop()

        try:
            asyncio.run(main())
        except BrokenPipeError:
            log.error("the connection to the client is lost; shutting down")
        except (KeyboardInterrupt, SystemExit):
            pass
        finally:
            self.shutdown()

    # --- settings -----------------------------------------------------------------------------

    def apply_settings(self, options: Any) -> None:
        settings = load_settings(options)
        for error in settings.errors:
            self.log(f"invalid setting: {error}", "warning")
        if settings.errors:
            self.show_once(
                "settings:" + ";".join(settings.errors),
                "CodeCortex: invalid settings, using defaults for: " + "; ".join(settings.errors),
            )
        self.settings = settings
        self.service.update_settings(settings)


def run_server(settings: Settings, host: str | None = None, port: int | None = None) -> None:
    from codecortex.lsp.features import register

    logging.basicConfig(level=getattr(logging, settings.log_level.upper(), logging.INFO))
    server = CodeCortexServer(settings)
    register(server)
    if host is not None and port is not None:
        server.start_tcp(host, port)
    else:
        server.start_io()
