"""A raw JSON-RPC client for the real `codecortex serve` that a broken editor would be: it
writes any bytes, and reads the server's output on a thread so that a missing answer is a
timeout the test can see, not a hang. It initializes with an editor's capabilities and answers
the server's requests (progress tokens, registrations, configuration) as that editor would."""

from __future__ import annotations

import json
import queue
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, BinaryIO

from lsphelp import Editor, ruff_diagnostics


class WireClient:
    def __init__(self, env: dict[str, str], stderr: BinaryIO | int = subprocess.DEVNULL) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "codecortex", "serve"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr, env=env,
        )  # fmt: skip
        self.seen: list[dict[str, Any]] = []
        self.responses: dict[Any, list[dict[str, Any]]] = {}
        self.arrived: dict[Any, float] = {}
        self._new: queue.Queue[dict[str, Any]] = queue.Queue()
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._next_id = 1000
        self.editor: Editor | None = None
        self.settings: dict[str, Any] = {}
        threading.Thread(target=self._read, daemon=True).start()

    # --- writing ---------------------------------------------------------------------------

    def raw(self, data: bytes) -> None:
        assert self.proc.stdin is not None
        with self._write_lock:  # the reader thread answers the server's requests too
            self.proc.stdin.write(data)
            self.proc.stdin.flush()

    def send_body(self, body: bytes, header: str = "Content-Length") -> None:
        self.raw(f"{header}: {len(body)}\r\n\r\n".encode() + body)

    def send(self, message: dict[str, Any]) -> None:
        self.send_body(json.dumps({"jsonrpc": "2.0", **message}).encode())

    def notify(self, method: str, params: Any) -> None:
        self.send({"method": method, "params": params})

    def new_id(self) -> int:
        self._next_id += 1
        return self._next_id

    def request(self, method: str, params: Any = None, timeout: float = 60) -> dict[str, Any]:
        msg_id = self.new_id()
        self.send({"id": msg_id, "method": method, "params": params})
        return self.reply_to(msg_id, timeout)

    def command(self, name: str, *args: Any, timeout: float = 60) -> Any:
        reply = self.request(
            "workspace/executeCommand", {"command": name, "arguments": list(args)}, timeout
        )
        assert "result" in reply, reply
        return reply["result"]

    # --- reading ---------------------------------------------------------------------------

    def _read(self) -> None:
        out = self.proc.stdout
        assert out is not None
        while True:
            header = b""
            while not header.endswith(b"\r\n\r\n"):
                try:
                    chunk = out.read(1)
                except ValueError:  # the test closed the pipe (an editor that vanished)
                    return
                if not chunk:
                    return
                header += chunk
            length = next(
                int(line.split(b":")[1]) for line in header.split(b"\r\n")
                if line.lower().startswith(b"content-length")
            )  # fmt: skip
            try:
                message = json.loads(out.read(length))
            except ValueError:  # closed mid-message
                return
            with self._lock:
                self.seen.append(message)
                if "method" not in message and "id" in message:
                    self.responses.setdefault(message["id"], []).append(message)
                    self.arrived.setdefault(message["id"], time.monotonic())
            if isinstance(message, dict) and "method" in message and "id" in message:
                try:
                    self.send({"id": message["id"], **answer(message, self.settings)})
                except (OSError, ValueError):  # the test closed our side of the pipe
                    pass
            self._new.put(message)

    def reply_to(self, msg_id: Any, timeout: float = 60) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                if msg_id in self.responses:
                    return self.responses[msg_id][0]
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no answer to request {msg_id!r} within {timeout}s")
            try:
                self._new.get(timeout=min(left, 0.5))
            except queue.Empty:
                pass

    def wait_for(self, predicate: Any, timeout: float = 60) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        index = 0
        while True:
            with self._lock:
                for message in self.seen[index:]:
                    if predicate(message):
                        return message
                index = len(self.seen)
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no such message within {timeout}s")
            try:
                self._new.get(timeout=min(left, 0.5))
            except queue.Empty:
                pass

    def popups(self) -> list[str]:
        with self._lock:
            return [
                m["params"]["message"] for m in self.seen if m.get("method") == "window/showMessage"
            ]

    def logs(self) -> list[str]:
        with self._lock:
            return [
                m["params"]["message"] for m in self.seen if m.get("method") == "window/logMessage"
            ]

    # --- sessions --------------------------------------------------------------------------

    def start(self, root: Path, options: dict[str, Any] | None = None, *, editor: Editor) -> None:
        """initialize (with `editor`'s capabilities) + initialized, then wait until the database
        is connected."""
        self.editor = editor
        self.settings = {"codecortex": options or {}}
        reply = self.request(
            "initialize",
            {"capabilities": editor.capabilities_json(), "rootUri": root.as_uri(),
             "initializationOptions": {"codecortex": options or {}}},
        )  # fmt: skip
        assert reply["result"]["serverInfo"]["name"] == "codecortex"
        self.notify("initialized", {})
        self.wait_for(
            lambda m: (
                m.get("method") == "codecortex/status"
                and m["params"].get("database") == "connected"
            )
        )

    def stop(self) -> int:
        reply = self.request("shutdown", None, timeout=60)
        assert "error" not in reply, reply
        self.notify("exit", None)
        return self.proc.wait(timeout=30)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def open(self, path: Path, text: str, version: int = 1) -> str:
        uri = path.as_uri()
        self.notify(
            "textDocument/didOpen",
            {"textDocument": {"uri": uri, "languageId": "python", "version": version,
                              "text": text}},
        )  # fmt: skip
        return uri

    def change(self, uri: str, text: str, version: int) -> None:
        self.notify(
            "textDocument/didChange",
            {"textDocument": {"uri": uri, "version": version}, "contentChanges": [{"text": text}]},
        )

    def forward(self, uri: str, version: int, diagnostics: list[Any]) -> None:
        self.notify(
            "codecortex/diagnostics", {"uri": uri, "version": version, "diagnostics": diagnostics}
        )


def answer(request: dict[str, Any], settings: dict[str, Any]) -> dict[str, Any]:
    """What an editor answers to a request from the server (`result` or `error`)."""
    method = request.get("method")
    if method in ("window/workDoneProgress/create", "client/registerCapability",
                  "client/unregisterCapability", "window/showMessageRequest"):  # fmt: skip
        return {"result": None}
    if method == "workspace/configuration":
        items = (request.get("params") or {}).get("items") or []
        return {"result": [settings.get(i.get("section")) for i in items]}
    return {"error": {"code": -32601, "message": f"unsupported: {method}"}}


def edits_of(edit: dict[str, Any], uri: str, editor: Editor) -> list[dict[str, Any]]:
    """The text edits of a workspace edit, in the form `editor` supports (see lsphelp)."""
    if editor.document_changes:
        assert "changes" not in edit, edit
        (change,) = edit["documentChanges"]
        assert (
            change["textDocument"]["uri"] == uri and change["textDocument"]["version"] is not None
        )
        return list(change["edits"])
    assert "documentChanges" not in edit and list(edit["changes"]) == [uri], edit
    return list(edit["changes"][uri])


def learn_then_replay(client: WireClient, root: Path, tag: str = "") -> str:
    """Learn the fix of an unused import in one file, then get it offered on another; returns
    the replayed text (the caller asserts it)."""
    a_path = root / f"learn{tag}.py"
    a_before = "import os\nimport sys\n\nprint(sys.argv)\n"
    a_uri = client.open(a_path, a_before)
    client.forward(a_uri, 1, ruff_diagnostics(a_path, a_before))
    _until(client, lambda s: s["problems"] >= 1)
    a_after = "import sys\n\nprint(sys.argv)\n"
    client.change(a_uri, a_after, 2)
    client.forward(a_uri, 2, [])
    _until(client, lambda s: s["solutions"] >= 1)

    b_path = root / f"replay{tag}.py"
    b_text = "import json\nimport re\n\nprint(re.compile('x'))\n"
    b_uri = client.open(b_path, b_text)
    diags = ruff_diagnostics(b_path, b_text)
    client.forward(b_uri, 1, diags)
    deadline = time.monotonic() + 60
    while True:
        reply = client.request(
            "textDocument/codeAction",
            {"textDocument": {"uri": b_uri}, "range": diags[0]["range"],
             "context": {"diagnostics": []}},
        )  # fmt: skip
        fixes = [a for a in reply.get("result") or [] if "apply past fix" in a["title"]]
        if fixes:
            break
        assert time.monotonic() < deadline, "no past fix was offered"
        time.sleep(0.05)
    assert client.editor is not None
    edits = edits_of(fixes[0]["edit"], b_uri, client.editor)
    lines = b_text.splitlines(keepends=True)
    for edit in sorted(edits, key=lambda e: (e["range"]["start"]["line"],), reverse=True):
        start, end = edit["range"]["start"], edit["range"]["end"]
        head = "".join(lines[: start["line"]]) + lines[start["line"]][: start["character"]]
        tail_line = lines[end["line"]] if end["line"] < len(lines) else ""
        tail = tail_line[end["character"] :] + "".join(lines[end["line"] + 1 :])
        lines = (head + edit["newText"] + tail).splitlines(keepends=True)
    return "".join(lines)


def _until(client: WireClient, condition: Any, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        stats = client.command("codecortex.stats")
        if "problems" in stats and condition(stats):
            return stats
        assert time.monotonic() < deadline, f"stats never matched: {stats}"
        time.sleep(0.05)
