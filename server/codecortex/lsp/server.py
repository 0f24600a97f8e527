"""The pygls language server: a `LanguageServer` subclass holding the session (`Service`) and the
editor-facing helpers the session calls back (log, show once, status, views changed, job
progress), with our own reading of the wire and our own teardown.

Handlers live in `lsp/setup.py` (the features in `lsp/features/`); this module only runs.
(Over 400 lines: the protocol work-arounds and the two serving loops belong together.)
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import threading
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, BinaryIO

from lsprotocol import types
from pygls.exceptions import (
    FeatureRequestError,
    JsonRpcException,
    JsonRpcInternalError,
    JsonRpcInvalidParams,
    JsonRpcInvalidRequest,
    JsonRpcParseError,
)
from pygls.lsp.server import LanguageServer
from pygls.protocol import JsonRPCNotification, JsonRPCProtocol, LanguageServerProtocol
from pygls.protocol.language_server import lsp_method

from codecortex import __version__
from codecortex.config import Settings, load_settings
from codecortex.limits import MAX_ARGUMENTS_TOTAL, MAX_DIAGNOSTIC_MESSAGE, clip, json_size
from codecortex.lsp.progress import JobProgress
from codecortex.lsp.wire import Framer
from codecortex.session.service import Service

log = logging.getLogger(__name__)

_LEVELS = {
    "error": types.MessageType.Error,
    "warning": types.MessageType.Warning,
    "info": types.MessageType.Info,
    "debug": types.MessageType.Log,
}


class CodeCortexProtocol(LanguageServerProtocol):
    """pygls' protocol, with our own reading of the wire (`serve`) so that every request with
    an id gets exactly one response, whatever it contains.

    Work-arounds for pygls 2.1 behaviour (see `lsp/wire.py` for the framing):
    - pygls' reader parses with `object_hook=structure_message`, so a nested object with a
      "jsonrpc" key is structured as a message and, when that fails, the whole request is lost
      unanswered. We parse plain JSON and structure only the top-level object.
    - a request whose params do not match the method's schema is logged and dropped by pygls;
      we answer it with the JSON-RPC error (and log what was wrong).
    - after `shutdown` pygls drops every request silently; LSP wants InvalidRequest.
    """

    def __init__(self, server: Any, converter: Any) -> None:
        super().__init__(server, converter)
        # cattrs' detailed validation collects one exception per element: a 300 KB string where
        # a list belongs took seconds to fail (and to format into pygls' log). Fail at the first
        # error instead; such a failure is the client's params, answered as InvalidParams below.
        self._converter.detailed_validation = False

    def structure_message(self, data: dict[str, Any]) -> Any:
        if isinstance(data, dict) and "jsonrpc" in data and "id" not in data and "method" in data:
            method = data["method"]
            if isinstance(method, str) and self.get_message_type(method) is None:
                # A notification of ours (codecortex/diagnostics): its params stay JSON. pygls
                # rebuilds them as nested namedtuples, one class made per object, on the event
                # loop: 35-80 ms for 50 forwarded diagnostics, before any work on them.
                return JsonRPCNotification(
                    method=method, jsonrpc=data["jsonrpc"], params=data.get("params")
                )
        try:
            try:
                return super().structure_message(data)
            except JsonRpcInternalError as exc:
                if isinstance(exc.__cause__, (TypeError, ValueError, KeyError, AttributeError)):
                    raise JsonRpcInvalidParams(
                        f"{type(exc.__cause__).__name__}: {exc.__cause__}"[:200]
                    ) from exc.__cause__
                raise
        except JsonRpcException as exc:
            method = data.get("method") if isinstance(data, dict) else None
            server = self._server
            if isinstance(server, CodeCortexServer):
                server.log(f"malformed {method or 'message'} ignored: {exc.message}", "warning")
            raise

    @lsp_method(types.EXIT)
    def lsp_exit(self, *args: Any) -> Any:
        """End the serving loop instead of pygls' `sys.exit` inside a handler: that unwound the
        event loop from the middle, and asyncio then waited forever for a task that could not
        finish once the loop was torn down (the process never exited). Exit code: 0 after
        `shutdown`, 1 without (LSP)."""
        if (user_handler := self.fm.features.get(types.EXIT)) is not None:
            yield user_handler, args, None
        server = self._server
        if isinstance(server, CodeCortexServer):
            server.request_exit(0 if self._shutdown else 1)

    @lsp_method(types.WORKSPACE_EXECUTE_COMMAND)
    def lsp_workspace__execute_command(self, params: types.ExecuteCommandParams) -> Any:
        """Refuse oversized arguments before any command sees them (a 10 MB query or note)."""
        size = json_size(params.arguments, MAX_ARGUMENTS_TOTAL)
        if size > MAX_ARGUMENTS_TOTAL:
            self._warn(f"refused {params.command}: arguments of more than {size} characters")
            raise JsonRpcInvalidParams(
                f"the arguments of {params.command} are too large (over {MAX_ARGUMENTS_TOTAL}"
                " characters)"
            )
        return (yield from super().lsp_workspace__execute_command(params))

    def reply_error(self, msg_id: Any, error: JsonRpcException) -> None:
        if not isinstance(msg_id, (int, str)) or isinstance(msg_id, bool):
            # JSON-RPC: `"id": null` when the id could not be read (pygls would omit the key)
            err = {"code": error.code, "message": error.message}
            self._send_data({"jsonrpc": JsonRPCProtocol.VERSION, "id": None, "error": err})
            return
        self._send_response(msg_id, error=error.to_response_error())

    def dispatch(self, data: Any) -> None:
        """Handle one JSON value read off the wire."""
        prepared = self.prepare(data)
        if prepared is not None:
            self.deliver(*prepared)

    def prepare(self, data: Any) -> tuple[Any, Any, str | None, bool] | None:
        """Validate and structure one JSON value: (message, id, method, is_request), or None
        when it has been answered or logged already. Pure CPU: run off the loop for big input."""
        if isinstance(data, list):  # a JSON-RPC batch: LSP has none
            ids = [
                item["id"]
                for item in data
                if isinstance(item, dict) and "id" in item and "method" in item
            ]
            for msg_id in ids or [None]:
                self.reply_error(msg_id, JsonRpcInvalidRequest("batches are not supported"))
            self._warn("ignored a JSON-RPC batch (LSP has none)")
            return None
        if not isinstance(data, dict):
            self.reply_error(None, JsonRpcInvalidRequest("a message must be a JSON object"))
            self._warn("ignored a message that is not a JSON object")
            return None
        method = data.get("method")
        is_request = "id" in data and "method" in data
        if data.get("jsonrpc") != JsonRPCProtocol.VERSION or (
            "method" in data and not isinstance(method, str)
        ):
            if is_request or ("id" in data and "result" not in data and "error" not in data):
                self.reply_error(
                    data.get("id"), JsonRpcInvalidRequest("not a JSON-RPC 2.0 request")
                )
            self._warn(f"ignored a message that is not JSON-RPC 2.0 ({str(method)[:80]})")
            return None
        msg_id = data.get("id")
        if is_request and (not isinstance(msg_id, (int, str)) or isinstance(msg_id, bool)):
            self.reply_error(None, JsonRpcInvalidRequest("the id must be a number or a string"))
            return None
        if is_request and self._shutdown and method != types.EXIT:
            self.reply_error(msg_id, JsonRpcInvalidRequest("the server is shutting down"))
            return None
        if method != types.WORKSPACE_EXECUTE_COMMAND and "params" in data:
            data["params"] = _clip_long_strings(data["params"])
        try:
            message = self.structure_message(data)
        except JsonRpcException as exc:
            if is_request:
                self.reply_error(msg_id, exc)
            return None
        return message, msg_id, method, is_request

    def deliver(self, message: Any, msg_id: Any, method: str | None, is_request: bool) -> None:
        try:
            self.handle_message(message)
        except Exception as exc:  # pygls answers request errors itself; this is a last guard
            log.debug("handling %s failed", method, exc_info=True)
            self._warn(f"could not handle {str(method)[:80]}: {type(exc).__name__}: {exc}")
            if is_request:
                self.reply_error(msg_id, JsonRpcInternalError(str(exc)))

    def _warn(self, message: str) -> None:
        server = self._server
        if isinstance(server, CodeCortexServer):
            server.log(message, "warning")

    async def serve(self, read: Callable[[], Awaitable[bytes]], stop: threading.Event) -> None:
        """Read messages from `read()` (b"" at the end) and handle them, until `stop` is set.

        Bodies over 1 MB are parsed on a worker thread (a 10 MB document must not stall every
        other request); a message that cannot be read is answered when its id can be found."""
        framer = Framer()
        pending: asyncio.Future[bytes] | None = None
        eof = False
        junk_reported = 0
        while not stop.is_set():
            idle = False
            if not eof:
                if pending is None:
                    pending = asyncio.ensure_future(read())
                if framer.length is not None or framer.pending():
                    done, _ = await asyncio.wait({pending}, timeout=IDLE_SECONDS)
                    idle = not done
                else:
                    await asyncio.wait({pending})
                if pending.done():
                    chunk = pending.result()
                    pending = None
                    if chunk:
                        framer.feed(chunk)
                    else:
                        eof = True
            while True:
                if framer.pending() > 1_000_000:
                    frame = await asyncio.to_thread(framer.next, eof=eof, idle=idle)
                else:
                    frame = framer.next(eof=eof, idle=idle)
                if frame is None:
                    break
                if frame.error is not None:
                    if frame.request_id is not None:
                        self.reply_error(frame.request_id, JsonRpcParseError(frame.error))
                    self._warn(f"ignored a message the server could not read: {frame.error}")
                elif frame.size > 1_000_000:
                    prepared = await asyncio.to_thread(self.prepare, frame.value)
                    if prepared is not None:
                        self.deliver(*prepared)
                else:
                    self.dispatch(frame.value)
                await asyncio.sleep(0)  # let the handler just scheduled start
            if framer.junk > junk_reported:
                self._warn(f"skipped {framer.junk - junk_reported} bytes outside any message")
                junk_reported = framer.junk
            if eof and framer.next(eof=True) is None:
                break
        if pending is not None:
            pending.cancel()


def _clip_long_strings(value: Any, key: str = "") -> Any:
    """Params with every string over LONG_STRING characters clipped, except document texts
    (`text`). Such a string where a list belongs made cattrs report one error per character:
    minutes of CPU for a 300 KB string. Messages are clipped to fewer characters later anyway."""
    if isinstance(value, str):
        return value if len(value) <= LONG_STRING or key == "text" else clip(value, LONG_STRING)
    if isinstance(value, dict):
        return {k: _clip_long_strings(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [_clip_long_strings(v, key) for v in value]
    return value


LONG_STRING = MAX_DIAGNOSTIC_MESSAGE
IDLE_SECONDS = 0.25
TEARDOWN_SECONDS = 10.0  # at exit: closing the database, then ending what is still running
POPUP_BURST = 3  # popups at most in POPUP_WINDOW seconds, whatever their kinds
POPUP_WINDOW = 60.0  # a body shorter than its Content-Length is taken after this pause


class ClientWriter:
    """Writes to the client; once the client is gone (a broken pipe), stops the server once
    instead of letting every later notification fail with a traceback of its own."""

    def __init__(self, stream: BinaryIO, lost: Callable[[], Any]) -> None:
        self._stream = stream
        self._lost = lost
        self.gone = False

    def close(self) -> None:
        try:
            self._stream.close()
        except OSError:
            pass

    def write(self, data: bytes) -> None:
        if self.gone:
            return
        try:
            self._stream.write(data)
            self._stream.flush()
        except (OSError, ValueError):  # BrokenPipeError, a closed file
            self.gone = True
            log.error("the connection to the client is lost; shutting down")
            self._lost()


def _stdin_reader(stream: BinaryIO) -> Callable[[], Awaitable[bytes]]:
    """`read()` for `serve`: chunks of stdin from a daemon thread of our own (a thread pool
    worker blocked in read would keep the process alive after the loop has ended)."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[bytes] = asyncio.Queue()

    try:  # the raw descriptor: a daemon thread blocked inside a BufferedReader holds its
        fd: int | None = stream.fileno()  # lock, and the interpreter aborts at exit over it
    except (OSError, ValueError, AttributeError):
        fd = None

    def run() -> None:
        while True:
            try:
                chunk = os.read(fd, 65536) if fd is not None else stream.read(65536)
            except (OSError, ValueError):
                chunk = b""
            try:
                loop.call_soon_threadsafe(queue.put_nowait, chunk)
            except RuntimeError:  # the event loop is gone
                return
            if not chunk:
                return

    threading.Thread(target=run, name="codecortex-stdin", daemon=True).start()
    return queue.get


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
            read = _stdin_reader(stdin or sys.stdin.buffer)
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
