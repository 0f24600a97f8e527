"""JSON-RPC base-protocol framing that survives broken clients (used by `CodeCortexProtocol`).

pygls 2.1's reader (`pygls.io_.run_async`) matches only `Content-Length: N\\r\\n` exactly
(a lower-case header is skipped and its message lost), trusts N blindly (a wrong length
swallows or cuts the following messages for good) and parses with
`json.loads(object_hook=protocol.structure_message)`, so any nested object with a "jsonrpc"
key inside the params is taken for a message of its own. `Framer` reads headers case-
insensitively, resynchronises on the next header after a bad length, and returns plain JSON
values; only the top-level object is turned into a message.

Also the two ends of the transport over stdio: `stdin_reader` and `ClientWriter`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, BinaryIO

from codecortex.limits import MAX_MESSAGE_BYTES

log = logging.getLogger(__name__)

_LENGTH_RE = re.compile(rb"content-length[ \t]*:[ \t]*(\d+)", re.IGNORECASE)
_ID_VALUE_RE = re.compile(r'\s*:\s*(-?\d{1,15}|"(?:[^"\\]|\\.){0,200}")')
_DECODER = json.JSONDecoder()


@dataclass
class Frame:
    """One message off the wire: its JSON value, or why it could not be read (and the request
    id found in its text, so that the request can still be answered)."""

    value: Any = None
    error: str | None = None
    request_id: int | str | None = None
    size: int = 0  # bytes of its body


def guess_request_id(body: bytes) -> int | str | None:
    """The id of a request whose JSON cannot be parsed, when its text shows one: the "id" key
    of the outermost object (a nested one belongs to something else), next to a "method"."""
    text = body[:65536].decode("utf-8", "replace")
    depth, i, found, method = 0, 0, None, False
    while i < len(text):
        c = text[i]
        if c == '"':
            end = i + 1
            while end < len(text) and text[end] != '"':
                end += 2 if text[end] == "\\" else 1
            key = text[i + 1 : end]
            i = end + 1
            if depth == 1 and text[i : i + 20].lstrip().startswith(":"):
                if key == "method":
                    method = True
                elif key == "id":
                    m = _ID_VALUE_RE.match(text, i)
                    if m is not None:
                        found = json.loads(m.group(1))
            continue
        if c in "{[":
            depth += 1
        elif c in "}]":
            depth -= 1
        i += 1
    return found if method and isinstance(found, (int, str)) else None


def _decode_prefix(data: bytes) -> tuple[Any, int] | None:
    """(JSON value, bytes used) when `data` starts with one complete JSON object."""
    text = data.decode("utf-8", "surrogateescape")
    start = len(text) - len(text.lstrip())
    if not text[start : start + 1] == "{":
        return None
    try:
        value, end = _DECODER.raw_decode(text, start)
    except ValueError:
        return None
    return value, len(text[:end].encode("utf-8", "surrogateescape"))


class Framer:
    """Incremental framing: `feed` bytes as they arrive, then `next()` until it returns None."""

    def __init__(self, max_body: int = MAX_MESSAGE_BYTES) -> None:
        self.buf = bytearray()
        self.length: int | None = None  # of the body being read, once its headers are in
        self.skipping = 0  # bytes of an oversized body still to throw away
        self.skipped_head = b""
        self.max_body = max_body
        self.junk = 0  # bytes outside any message (reported by the caller)

    def feed(self, data: bytes) -> None:
        if self.skipping:
            take = min(self.skipping, len(data))
            self.skipping -= take
            data = data[take:]
        self.buf += data

    def pending(self) -> int:
        return len(self.buf)

    def next(self, *, eof: bool = False, idle: bool = False) -> Frame | None:
        """The next complete message; None when more bytes are needed.

        `idle`: nothing arrived for a while. A body shorter than its declared length that is
        already one complete JSON object is then taken as it is (a length that was too long);
        `eof`: the stream ended, likewise."""
        if self.skipping:
            if eof:
                self.skipping = 0
            return None
        if self.skipped_head:
            head, self.skipped_head = self.skipped_head, b""
            return Frame(
                error=f"message larger than {self.max_body} bytes",
                request_id=guess_request_id(head),
            )
        while self.length is None:
            newline = self.buf.find(b"\n")
            if newline < 0:
                if eof and self.buf:
                    self.junk += len(self.buf)
                    self.buf.clear()
                return None
            line = bytes(self.buf[: newline + 1])
            del self.buf[: newline + 1]
            if not line.strip():
                if self._declared is not None:
                    self.length, self._declared = self._declared, None
                continue
            m = _LENGTH_RE.search(line)
            if m is None:
                if b":" not in line or line.lstrip()[:1] in (b"{", b"[", b'"', b"}"):
                    self.junk += len(line)  # not a header: the tail of a mis-framed message
                continue
            if m.start() > 0:
                self.junk += m.start()
            self._declared = int(m.group(1))
        return self._body(eof=eof, idle=idle)

    _declared: int | None = None

    def _body(self, *, eof: bool, idle: bool) -> Frame | None:
        n = self.length
        assert n is not None
        if n > self.max_body:
            head = bytes(self.buf[: min(n, 65536)])
            take = min(n, len(self.buf))
            del self.buf[:take]
            self.skipping = n - take
            self.length = None
            if self.skipping:
                self.skipped_head = head
                return None
            return Frame(
                error=f"message larger than {self.max_body} bytes",
                request_id=guess_request_id(head),
            )
        if len(self.buf) < n:
            if not (eof or idle):
                return None
            found = _decode_prefix(bytes(self.buf))
            if found is not None and not bytes(self.buf[found[1] :]).strip():
                # The declared length was too long and nothing more is coming.
                del self.buf[: found[1]]
                self.length = None
                return Frame(value=found[0], size=found[1])
            if not eof:
                return None  # a slow client: keep waiting
            body = bytes(self.buf)
            self.buf.clear()
            self.length = None
            return Frame(
                error="the stream ended inside a message", request_id=guess_request_id(body)
            )
        body = bytes(self.buf[:n])
        try:
            value = json.loads(body)
        except ValueError as exc:
            value, reason = None, exc
        else:
            del self.buf[:n]
            self.length = None
            return Frame(value=value, size=n)
        # Not valid JSON at the declared length: a length that is too long (a whole object,
        # then the next message's header) or too short (the object goes on past it).
        found = _decode_prefix(bytes(self.buf))
        if found is not None:  # whatever follows it is read as headers (junk is skipped)
            del self.buf[: found[1]]
            self.length = None
            return Frame(value=found[0], size=found[1])
        if found is None and not (eof or idle) and self._may_complete(body):
            return None  # the rest of a too-short message may still be on its way
        del self.buf[:n]
        self.length = None
        message = str(reason).split(":")[0] if isinstance(reason, ValueError) else "bad JSON"
        if isinstance(reason, UnicodeDecodeError):
            message = "not UTF-8"
        return Frame(error=f"unreadable message ({message})", request_id=guess_request_id(body))

    def _may_complete(self, body: bytes) -> bool:
        """Could more bytes turn the buffer into one JSON object? (It starts like one and no
        next header is buffered yet; if nothing comes, the idle pause decides.)"""
        return body.lstrip()[:1] == b"{" and _LENGTH_RE.search(self.buf, len(body)) is None


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


def stdin_reader(stream: BinaryIO) -> Callable[[], Awaitable[bytes]]:
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
