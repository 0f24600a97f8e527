"""The pygls language server: a `LanguageServer` subclass holding the session (`Service`) and the
editor-facing helpers the session calls back (log, show once, status, views changed, job
progress), with our own reading of the wire and our own teardown.

Handlers live in `lsp/setup.py` (the features in `lsp/features/`), our reading of the wire in
`lsp/protocol.py`; this module only runs.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

from lsprotocol import types
from pygls.exceptions import (
    FeatureRequestError,
    JsonRpcException,
    JsonRpcInternalError,
)
from pygls.lsp.server import LanguageServer

from codecortex import __version__
from codecortex.config import Settings, load_settings
from codecortex.lsp.progress import JobProgress
from codecortex.lsp.protocol import CodeCortexProtocol
from codecortex.lsp.wire import ClientWriter, stdin_reader
from codecortex.session.service import Service

log = logging.getLogger(__name__)

_LEVELS = {
    "error": types.MessageType.Error,
    "warning": types.MessageType.Warning,
    "info": types.MessageType.Info,
    "debug": types.MessageType.Log,
}


TEARDOWN_SECONDS = 10.0  # at exit: closing the database, then ending what is still running
POPUP_BURST = 3  # popups at most in POPUP_WINDOW seconds, whatever their kinds
POPUP_WINDOW = 60.0


class CodeCortexServer(LanguageServer):
    def __init__(self, settings: Settings) -> None:
        super().__init__("codecortex", __version__, protocol_cls=CodeCortexProtocol)
        self.settings = settings
        self.service = Service(settings, self)
        self._shown: set[str] = set()
        self._popup_times: list[float] = []
        self.started = False  # `initialized` has run start-up (a repeat must not)
        self._publish_handles: dict[str, asyncio.TimerHandle] = {}
        # publishes our diagnostics of a document (set by lsp/setup.py)
        self.publish: Callable[[str], None] = lambda uri: None
        self.folders: list[Path] = []  # the workspace folders `initialize` named
        self.document_changes = False
        self._job_progress = JobProgress(self)
        self.exit_code: int | None = None  # set by the client's `exit`
        self._exiting: asyncio.Event | None = None

    def request_exit(self, code: int) -> None:
        """The client sent `exit`: stop reading and tear down (see `start_io`)."""
        self.exit_code = code
        if self._stop_event is not None:
            self._stop_event.set()
        if self._exiting is not None:
            self._exiting.set()

    def document_text(self, uri: str) -> tuple[str, int | None, str | None] | None:
        """(text, version, languageId) of an open document, None when the editor never
        opened it."""
        doc = self.workspace.text_documents.get(uri)
        if doc is None:
            return None
        return doc.source, doc.version, doc.language_id

    @property
    def wire(self) -> CodeCortexProtocol:
        assert isinstance(self.protocol, CodeCortexProtocol)
        return self.protocol

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
        """window/showMessage at most once per kind of problem per session (`key` names the
        kind, never the file or argument), and at most POPUP_BURST in POPUP_WINDOW seconds
        over all kinds; the message always goes to the log, which keeps the details."""
        self.log(message, level if level in ("error", "warning") else "info")
        if key in self._shown:
            return
        now = time.monotonic()
        self._popup_times = [t for t in self._popup_times if now - t < POPUP_WINDOW]
        if len(self._popup_times) >= POPUP_BURST:
            return
        self._shown.add(key)
        wanted = self.settings.notifications
        if wanted == "off" or (level == "info" and wanted != "all"):
            return  # the log (above) only, off the modal path
        self._popup_times.append(now)
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
        handle = self._publish_handles.pop(uri, None)
        if handle is not None:
            handle.cancel()
        loop = asyncio.get_event_loop()
        self._publish_handles[uri] = loop.call_later(0.02, self._publish_now, uri)

    def _publish_now(self, uri: str) -> None:
        self._publish_handles.pop(uri, None)
        self.publish(uri)

    def job_progress(self, job: Any, fraction: float | None, message: str | None) -> None:
        """Queue-job progress as LSP work-done progress (`lsp/progress.JobProgress`)."""
        self._job_progress(job, fraction, message)

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

        async def main() -> None:
            loop = asyncio.get_running_loop()
            gone = asyncio.Event()
            self.protocol.set_writer(
                ClientWriter(
                    stdout or sys.stdout.buffer, lambda: loop.call_soon_threadsafe(gone.set)
                )
            )
            read = stdin_reader(stdin or sys.stdin.buffer)
            exiting = self._exiting = asyncio.Event()
            serving = asyncio.ensure_future(self.wire.serve(read, stop))
            lost = asyncio.ensure_future(gone.wait())
            exit_wait = asyncio.ensure_future(exiting.wait())
            try:
                await asyncio.wait({serving, lost, exit_wait}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for task in (serving, lost, exit_wait):
                    task.cancel()
                await self._teardown()
            if serving.done() and not serving.cancelled() and serving.exception() is not None:
                raise serving.exception()  # type: ignore[misc]

        interrupted = False
        try:
            asyncio.run(main())
        except KeyboardInterrupt:
            interrupted = True
        except SystemExit:
            pass
        finally:
            # (pygls's shutdown joins its stdin reader thread, which waits for input forever
            # after Ctrl-C: then `codecortex serve` leaves without it, see cli/serve.py.)
            if not interrupted:
                self.shutdown()  # type: ignore[no-untyped-call]  # pygls leaves it untyped
        if interrupted:
            raise KeyboardInterrupt

    async def _teardown(self, timeout: float = TEARDOWN_SECONDS) -> None:
        """Close the engine, then end every other task while the loop still runs, each within
        `timeout`: a client that said `exit` gets an exiting process, whatever is in flight."""
        try:
            await asyncio.wait_for(self.service.stop(), timeout)
        except TimeoutError:
            log.warning("closing the database took over %.0f s; leaving without it", timeout)
        current = asyncio.current_task()
        others = [t for t in asyncio.all_tasks() if t is not current and not t.done()]
        for task in others:
            task.cancel()
        if others:
            _done, stuck = await asyncio.wait(others, timeout=timeout)
            if stuck:
                names = ", ".join(sorted(t.get_name() for t in stuck))
                log.warning("tasks still running at exit: %s; leaving without them", names)
                _leave_now(self.exit_code if self.exit_code is not None else 0)

    def start_tcp(self, host: str, port: int) -> None:
        """pygls' TCP server with our framing (`CodeCortexProtocol.serve`)."""
        stop = self._stop_event = threading.Event()

        async def connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            self.protocol.set_writer(writer)

            async def read() -> bytes:
                try:
                    return await reader.read(65536)
                except OSError:
                    return b""

            exiting = self._exiting = asyncio.Event()
            serving = asyncio.ensure_future(self.wire.serve(read, stop))
            exit_wait = asyncio.ensure_future(exiting.wait())
            try:
                await asyncio.wait({serving, exit_wait}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                serving.cancel()
                exit_wait.cancel()
                try:
                    await asyncio.wait_for(self.service.stop(), TEARDOWN_SECONDS)
                except TimeoutError:
                    log.warning("closing the database took too long; leaving without it")
                self.shutdown()  # type: ignore[no-untyped-call]  # pygls leaves it untyped
                if self.exit_code is not None and self._server is not None:
                    self._server.close()  # `exit`: the process ends, not just this connection

        async def main() -> None:
            server = self._server = await asyncio.start_server(connection, host, port)
            async with server:
                await server.serve_forever()

        try:
            asyncio.run(main())
        except (KeyboardInterrupt, SystemExit, asyncio.CancelledError):
            pass

    # --- settings -----------------------------------------------------------------------------

    def apply_settings(self, options: Any) -> None:
        settings = load_settings(options)
        for error in settings.errors:
            self.log(f"invalid setting: {error}", "warning")
        if settings.errors:
            self.show_once(
                "settings-invalid",
                "CodeCortex: invalid settings, using defaults for: " + "; ".join(settings.errors),
            )
        self.settings = settings
        self.service.update_settings(settings)


class _ClientErrorsInOneLine(logging.Filter):
    """pygls logs a full traceback for every message a client gets wrong (params that do not
    match the schema, a bad command argument); those are answered with an error and logged by
    us in one line, so its records keep their first line only. A bug of ours (any other
    exception) keeps its traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.getMessage().startswith("Unable to deserialize message"):
            record.msg, record.args = "Unable to deserialize message (answered with an error)", ()
        elif record.exc_info and record.exc_info[1] is not None:
            exc: BaseException | None = record.exc_info[1]
            while exc is not None and not isinstance(exc, JsonRpcException):
                exc = exc.__cause__ or exc.__context__
            if exc is not None:
                record.msg = f"{record.getMessage()}: {record.exc_info[1]!r}"
                record.args, record.exc_info, record.exc_text = (), None, None
        return True


def _leave_now(code: int) -> None:
    """End the process without waiting for stuck threads or tasks, after the exit handlers
    (the embedded PostgreSQL's) and with what was written to the client flushed."""
    import atexit

    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(code)


def configure_logging(settings: Settings) -> None:
    logging.basicConfig(level=getattr(logging, settings.log_level.upper(), logging.INFO))
    for name in ("pygls.protocol.json_rpc", "pygls.protocol.language_server", "pygls.server"):
        logging.getLogger(name).addFilter(_ClientErrorsInOneLine())
