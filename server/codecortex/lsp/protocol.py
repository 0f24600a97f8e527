"""Our reading of the wire: pygls' protocol with every request answered exactly once,
whatever it contains (see `CodeCortexProtocol`)."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Awaitable, Callable
from typing import Any, Protocol, runtime_checkable

from lsprotocol import types
from pygls.exceptions import (
    JsonRpcException,
    JsonRpcInternalError,
    JsonRpcInvalidParams,
    JsonRpcInvalidRequest,
    JsonRpcParseError,
)
from pygls.protocol import JsonRPCNotification, JsonRPCProtocol, LanguageServerProtocol
from pygls.protocol.language_server import lsp_method

from codecortex.limits import MAX_ARGUMENTS_TOTAL, MAX_DIAGNOSTIC_MESSAGE, clip, json_size
from codecortex.lsp.wire import Framer

log = logging.getLogger(__name__)


@runtime_checkable
class Host(Protocol):
    """What the protocol tells the server (`lsp/server.CodeCortexServer`)."""

    def log(self, message: str, level: str = "info") -> None: ...
    def request_exit(self, code: int) -> None: ...


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
            self._warn(f"malformed {method or 'message'} ignored: {exc.message}")
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
        if isinstance(server, Host):
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
        if isinstance(server, Host):
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
IDLE_SECONDS = 0.25  # a body shorter than its Content-Length is taken after this pause
