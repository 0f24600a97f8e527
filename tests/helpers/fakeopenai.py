"""A small OpenAI-compatible HTTP server for tests (never reaches the internet).

Endpoints (matched by path suffix, so ``/v1/...`` and Azure's
``/openai/deployments/<name>/...?api-version=...`` both work):
``POST .../chat/completions``, ``POST .../embeddings``, ``GET .../models``.

Behaviour is scripted per endpoint with a queue of actions (JSON-serialisable dicts, so a test
can also push them over HTTP to a server running in a subprocess)::

    {"kind": "json", "data": {...}}            # content = json.dumps(data)
    {"kind": "text", "text": "not json"}       # raw content (malformed JSON, fenced JSON, ...)
    {"kind": "refusal", "text": "I can't"}     # message.refusal set, content null
    {"kind": "finish", "reason": "content_filter", "text": ""}
    {"kind": "status", "status": 429, "headers": {"Retry-After": "1"}, "body": {...}}
    {"kind": "sleep", "seconds": 2.0, "then": <action or null>}
    {"kind": "drop"}                           # close the connection without answering

With an empty queue: chat answers a minimal object that satisfies the request's JSON schema
(or ``{}``), embeddings answer deterministic hash-embedder vectors, models lists ``models``.
``supports_json_schema = False`` makes chat answer 400 to ``response_format: json_schema``
(like older local servers). ``api_key`` (if set) is required as the Bearer token.

Every request (except the ``/_fake/*`` control endpoints) is recorded in ``requests``.

Use in pytest: the ``fake_openai`` fixture (``from fakeopenai import fake_openai_fixture``).
As a process: ``python tests/fakeopenai.py --port 0`` prints its base URL (``.../v1``) on the
first line of stdout and serves until killed or stdin closes (with ``--exit-on-stdin-eof``).
Control endpoints: ``POST /_fake/push {"endpoint": "chat", "actions": [...]}``,
``GET /_fake/requests``, ``POST /_fake/reset``, ``POST /_fake/config {"supports_json_schema":
false, "api_key": "...", "models": [...]}``.
"""

from __future__ import annotations

import argparse
import base64
import collections
import json
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

import numpy as np

from codecortex.knowledge.embeddings import HashEmbedder

ENDPOINTS = ("chat", "embeddings", "models")


@dataclass
class RecordedRequest:
    method: str
    path: str
    endpoint: str
    headers: dict[str, str]
    raw: str
    body: Any = None

    def to_json(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "path": self.path,
            "endpoint": self.endpoint,
            "headers": self.headers,
            "raw": self.raw,
            "body": self.body,
        }


def example_from_schema(schema: Any) -> Any:
    """A minimal value that satisfies ``schema`` (for default chat answers)."""
    if not isinstance(schema, dict):
        return {}
    if schema.get("enum"):
        return schema["enum"][0]
    if schema.get("anyOf"):
        return example_from_schema(schema["anyOf"][0])
    kind = schema.get("type", "object")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object":
        props = schema.get("properties", {})
        return {k: example_from_schema(props.get(k, {})) for k in schema.get("required", [])}
    if kind == "array":
        return []
    if kind == "string":
        return ""
    if kind in ("number", "integer"):
        return schema.get("minimum", 0)
    if kind == "boolean":
        return False
    return None


@dataclass
class FakeOpenAI:
    host: str = "127.0.0.1"
    port: int = 0
    dimension: int = 384
    models: list[str] = field(default_factory=lambda: ["fake-chat", "fake-embed"])
    supports_json_schema: bool = True
    api_key: str | None = None
    requests: list[RecordedRequest] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._queues: dict[str, collections.deque[dict[str, Any]]] = {
            e: collections.deque() for e in ENDPOINTS
        }
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._embedders: dict[int, HashEmbedder] = {}
        self._counter = 0

    # -- lifecycle ----------------------------------------------------------------------------
    def start(self) -> FakeOpenAI:
        fake = self

        class Handler(_Handler):
            owner = fake

        server = ThreadingHTTPServer((self.host, self.port), Handler)
        server.daemon_threads = True
        server.block_on_close = False
        self._server = server
        self.port = server.server_address[1]
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakeOpenAI:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        return self.url + "/v1"

    # -- scripting ----------------------------------------------------------------------------
    def push(self, endpoint: str, *actions: dict[str, Any]) -> None:
        if endpoint not in ENDPOINTS:
            raise ValueError(f"unknown endpoint {endpoint!r}; expected one of {ENDPOINTS}")
        with self._lock:
            self._queues[endpoint].extend(actions)

    def reply_json(self, data: Any, endpoint: str = "chat") -> None:
        self.push(endpoint, {"kind": "json", "data": data})

    def reply_text(self, text: str) -> None:
        self.push("chat", {"kind": "text", "text": text})

    def reply_refusal(self, text: str = "I can't help with that.") -> None:
        self.push("chat", {"kind": "refusal", "text": text})

    def reply_finish(self, reason: str, text: str = "") -> None:
        self.push("chat", {"kind": "finish", "reason": reason, "text": text})

    def reply_status(
        self,
        status: int,
        *,
        retry_after: float | str | None = None,
        body: Any = None,
        endpoint: str = "chat",
        times: int = 1,
    ) -> None:
        headers = {} if retry_after is None else {"Retry-After": str(retry_after)}
        for _ in range(times):
            self.push(
                endpoint, {"kind": "status", "status": status, "headers": headers, "body": body}
            )

    def reply_sleep(
        self, seconds: float, then: dict[str, Any] | None = None, endpoint: str = "chat"
    ) -> None:
        self.push(endpoint, {"kind": "sleep", "seconds": seconds, "then": then})

    def reply_drop(self, endpoint: str = "chat") -> None:
        self.push(endpoint, {"kind": "drop"})

    def pending(self, endpoint: str = "chat") -> int:
        with self._lock:
            return len(self._queues[endpoint])

    def reset(self) -> None:
        with self._lock:
            for q in self._queues.values():
                q.clear()
            self.requests.clear()

    def configure(self, **options: Any) -> None:
        for key in ("supports_json_schema", "api_key", "models", "dimension"):
            if key in options:
                setattr(self, key, options[key])

    # -- inspection ---------------------------------------------------------------------------
    def requests_to(self, endpoint: str) -> list[RecordedRequest]:
        with self._lock:
            return [r for r in self.requests if r.endpoint == endpoint]

    def received_text(self) -> str:
        """Every request body received, concatenated (assert secrets are absent from it)."""
        with self._lock:
            return "\n".join(r.raw for r in self.requests)

    # -- internals ----------------------------------------------------------------------------
    def _next_action(self, endpoint: str) -> dict[str, Any] | None:
        with self._lock:
            q = self._queues[endpoint]
            return q.popleft() if q else None

    def _record(self, req: RecordedRequest) -> None:
        with self._lock:
            self.requests.append(req)

    def _embedder(self, dimension: int) -> HashEmbedder:
        with self._lock:
            emb = self._embedders.get(dimension)
            if emb is None:
                emb = self._embedders[dimension] = HashEmbedder(dimension)
            return emb

    def _next_id(self) -> int:
        with self._lock:
            self._counter += 1
            return self._counter


def _endpoint_of(path: str) -> str | None:
    p = urlsplit(path).path.rstrip("/")
    if p.endswith("/chat/completions"):
        return "chat"
    if p.endswith("/embeddings"):
        return "embeddings"
    if p.endswith("/models"):
        return "models"
    return None


class _Handler(BaseHTTPRequestHandler):
    owner: FakeOpenAI
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        return

    # -- plumbing -----------------------------------------------------------------------------
    def _read_body(self) -> str:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length).decode("utf-8", "replace") if length else ""

    def _send(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload).encode("utf-8")
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            pass

    def _error(self, status: int, message: str, etype: str = "invalid_request_error") -> None:
        self._send(status, {"error": {"message": message, "type": etype, "code": None}})

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    # -- dispatch -----------------------------------------------------------------------------
    def _handle(self, method: str) -> None:
        fake = self.owner
        raw = self._read_body()
        path = self.path
        if urlsplit(path).path.startswith("/_fake/"):
            self._control(method, urlsplit(path).path, raw)
            return
        endpoint = _endpoint_of(path)
        try:
            body = json.loads(raw) if raw else None
        except json.JSONDecodeError:
            body = None
        fake._record(
            RecordedRequest(
                method=method,
                path=path,
                endpoint=endpoint or "unknown",
                headers={k.lower(): v for k, v in self.headers.items()},
                raw=raw,
                body=body,
            )
        )
        if endpoint is None:
            self._error(404, f"no such endpoint: {path}")
            return
        if fake.api_key is not None:
            auth = self.headers.get("Authorization") or ""
            key = self.headers.get("api-key") or ""
            if auth != f"Bearer {fake.api_key}" and key != fake.api_key:
                self._error(401, "Incorrect API key provided.", "invalid_api_key")
                return
        if (
            endpoint == "chat"
            and not fake.supports_json_schema
            and isinstance(body, dict)
            and (body.get("response_format") or {}).get("type") == "json_schema"
        ):  # rejected before any scripted action is consumed
            self._error(400, "response_format type 'json_schema' is not supported by this server")
            return
        action = fake._next_action(endpoint)
        self._perform(endpoint, action, body)

    def _perform(self, endpoint: str, action: dict[str, Any] | None, body: Any) -> None:
        fake = self.owner
        if action is not None:
            kind = action.get("kind")
            if kind == "sleep":
                if fake._stopping.wait(float(action.get("seconds", 0))):
                    return
                self._perform(endpoint, action.get("then"), body)
                return
            if kind == "drop":
                self.close_connection = True
                try:
                    self.connection.shutdown(2)
                except OSError:
                    pass
                return
            if kind == "status":
                payload = action.get("body") or {
                    "error": {
                        "message": f"fake error {action['status']}",
                        "type": "server_error" if action["status"] >= 500 else "rate_limit",
                        "code": None,
                    }
                }
                self._send(int(action["status"]), payload, action.get("headers") or {})
                return
        if endpoint == "chat":
            self._chat(action, body)
        elif endpoint == "embeddings":
            self._embeddings(action, body)
        else:
            self._send(
                200,
                {
                    "object": "list",
                    "data": [
                        {"id": m, "object": "model", "created": 0, "owned_by": "fake"}
                        for m in fake.models
                    ],
                },
            )

    def _chat(self, action: dict[str, Any] | None, body: Any) -> None:
        fake = self.owner
        if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
            self._error(400, "'messages' is required")
            return
        fmt = body.get("response_format") or {}
        content: str | None
        refusal = None
        finish = "stop"
        if action is None:
            schema = (fmt.get("json_schema") or {}).get("schema")
            content = json.dumps(example_from_schema(schema) if schema else {})
        elif action["kind"] == "json":
            content = json.dumps(action["data"])
        elif action["kind"] == "text":
            content = str(action["text"])
        elif action["kind"] == "refusal":
            content, refusal = None, str(action.get("text") or "I can't help with that.")
        elif action["kind"] == "finish":
            content, finish = str(action.get("text") or ""), str(action["reason"])
        else:
            self._error(500, f"fake server: unknown action {action!r}")
            return
        model = body.get("model") or "fake-chat"
        path = urlsplit(self.path).path
        if "/deployments/" in path:
            model = path.split("/deployments/", 1)[1].split("/", 1)[0]
        prompt_tokens = max(1, len(json.dumps(body["messages"])) // 4)
        completion_tokens = max(1, len(content or refusal or "") // 4)
        self._send(
            200,
            {
                "id": f"chatcmpl-fake-{fake._next_id()}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": model,
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": content, "refusal": refusal},
                        "finish_reason": finish,
                        "logprobs": None,
                    }
                ],
                "usage": {
                    "prompt_tokens": prompt_tokens,
                    "completion_tokens": completion_tokens,
                    "total_tokens": prompt_tokens + completion_tokens,
                },
            },
        )

    def _embeddings(self, action: dict[str, Any] | None, body: Any) -> None:
        fake = self.owner
        if not isinstance(body, dict) or "input" not in body:
            self._error(400, "'input' is required")
            return
        inputs = body["input"]
        if isinstance(inputs, str):
            inputs = [inputs]
        if not isinstance(inputs, list) or not all(isinstance(t, str) for t in inputs):
            self._error(400, "'input' must be a string or a list of strings")
            return
        if action is not None and action["kind"] == "json":
            self._send(200, action["data"])
            return
        dimension = int(body.get("dimensions") or fake.dimension)
        vectors = fake._embedder(dimension).embed_array(inputs)
        b64 = body.get("encoding_format") == "base64"
        data = []
        for i, vec in enumerate(vectors):
            emb: Any = (
                base64.b64encode(np.asarray(vec, dtype="<f4").tobytes()).decode("ascii")
                if b64
                else [float(x) for x in vec]
            )
            data.append({"object": "embedding", "index": i, "embedding": emb})
        tokens = sum(max(1, len(t) // 4) for t in inputs)
        self._send(
            200,
            {
                "object": "list",
                "data": data,
                "model": body.get("model") or "fake-embed",
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
            },
        )

    def _control(self, method: str, path: str, raw: str) -> None:
        fake = self.owner
        try:
            body = json.loads(raw) if raw else {}
        except json.JSONDecodeError:
            self._error(400, "control body must be JSON")
            return
        if path == "/_fake/push" and method == "POST":
            try:
                fake.push(str(body.get("endpoint", "chat")), *list(body.get("actions", [])))
            except ValueError as exc:
                self._error(400, str(exc))
                return
            self._send(200, {"ok": True})
        elif path == "/_fake/requests":
            with fake._lock:
                self._send(200, {"requests": [r.to_json() for r in fake.requests]})
        elif path == "/_fake/reset" and method == "POST":
            fake.reset()
            self._send(200, {"ok": True})
        elif path == "/_fake/config" and method == "POST":
            fake.configure(**body)
            self._send(200, {"ok": True})
        else:
            self._error(404, f"no such control endpoint: {method} {path}")


try:  # the fixture is only defined when pytest is importable (not needed for --port mode)
    import pytest

    @pytest.fixture(name="fake_openai")
    def fake_openai_fixture() -> Iterator[FakeOpenAI]:
        """A running :class:`FakeOpenAI`; ``fake_openai.base_url`` is the ``/v1`` URL."""
        with FakeOpenAI() as fake:
            yield fake

except ImportError:  # pragma: no cover
    pass


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Fake OpenAI-compatible server for tests")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--dimension", type=int, default=384)
    parser.add_argument("--api-key", default=None)
    parser.add_argument("--no-json-schema", action="store_true")
    parser.add_argument(
        "--exit-on-stdin-eof", action="store_true", help="stop when stdin is closed"
    )
    args = parser.parse_args(argv)
    fake = FakeOpenAI(
        host=args.host,
        port=args.port,
        dimension=args.dimension,
        api_key=args.api_key,
        supports_json_schema=not args.no_json_schema,
    ).start()
    print(fake.base_url, flush=True)
    try:
        if args.exit_on_stdin_eof:
            sys.stdin.read()
        else:
            threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        fake.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
