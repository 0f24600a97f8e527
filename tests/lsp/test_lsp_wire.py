"""Bad input on the wire: the real server answers what it can, says what is wrong, keeps running
and exits cleanly (raw JSON-RPC over stdio, as a broken client would send it, initialized with an
editor's capabilities)."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

from lsphelp import Editor, server_env
from wireclient import answer


class RawClient:
    """JSON-RPC over a byte stream: the server's stdio (default) or a TCP connection."""

    def __init__(self, env: dict[str, str] | None = None, stream: Any = None) -> None:
        self.proc: Any = None
        if stream is None:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "codecortex", "serve"],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env,
            )  # fmt: skip
        self.writer = stream if stream is not None else self.proc.stdin
        self.reader = stream if stream is not None else self.proc.stdout
        self.seen: list[dict[str, Any]] = []

    def send_bytes(self, body: bytes) -> None:
        self.writer.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        self.writer.flush()

    def send(self, message: dict[str, Any]) -> None:
        self.send_bytes(json.dumps({"jsonrpc": "2.0", **message}).encode())

    def read(self) -> dict[str, Any]:
        header = b""
        while not header.endswith(b"\r\n\r\n"):
            chunk = self.reader.read(1)
            assert chunk, "the server closed its output"
            header += chunk
        length = next(
            int(line.split(b":")[1]) for line in header.split(b"\r\n")
            if line.lower().startswith(b"content-length")
        )  # fmt: skip
        message = json.loads(self.reader.read(length))
        self.seen.append(message)
        if "method" in message and "id" in message:  # the server asks: answer as an editor does
            self.send({"id": message["id"], **answer(message, {})})
        return message

    def keep_reading(self) -> None:
        """Read (and answer) on a thread until the server closes its output, as an editor does
        until the server has exited: a request it sends on the way out is not left waiting."""

        def drain() -> None:
            try:
                while True:
                    self.read()
            except (AssertionError, OSError, ValueError):  # closed
                return

        threading.Thread(target=drain, daemon=True).start()

    def initialize(self, msg_id: int, editor: Editor, root: Path | None = None) -> dict[str, Any]:
        params: dict[str, Any] = {"capabilities": editor.capabilities_json()}
        if root is not None:
            params["rootUri"] = root.as_uri()
        self.send({"id": msg_id, "method": "initialize", "params": params})
        return self.reply_to(msg_id)

    def reply_to(self, msg_id: int) -> dict[str, Any]:
        while True:
            message = self.read()
            if message.get("id") == msg_id and "method" not in message:
                return message


def test_malformed_messages_get_errors_and_the_server_keeps_going(
    editor: Editor, fresh_db: str, tmp_path
) -> None:
    env = server_env(fresh_db)
    client = RawClient(env)
    try:
        assert (
            client.initialize(1, editor, tmp_path)["result"]["serverInfo"]["name"] == "codecortex"
        )
        client.send({"method": "initialized", "params": {}})

        client.send_bytes(b"{this is not json")  # not even JSON
        client.send_bytes(b"\xff\xfe\x00binary")  # not even UTF-8
        client.send({"id": 2, "method": "textDocument/hover", "params": {"nope": 1}})
        error = client.reply_to(2)["error"]
        assert error["code"] == -32602  # invalid params, answered instead of dropped

        # A huge document full of NUL bytes: opened, ignored by the engine, no crash.
        uri = (tmp_path / "huge.py").as_uri()
        client.send({"method": "textDocument/didOpen", "params": {"textDocument": {
            "uri": uri, "languageId": "python", "version": 1, "text": "\x00" * 3_000_000}}})  # fmt: skip
        client.send({"method": "codecortex/diagnostics", "params": {"uri": uri, "version": 1,
                     "diagnostics": [{"range": "bad"}]}})  # fmt: skip
        valid = {"range": {"start": {"line": 0, "character": 0}, "end": {"line": 0, "character": 1}},
                 "message": "something", "source": "x"}  # fmt: skip
        client.send({"method": "codecortex/diagnostics", "params": {"uri": uri, "version": 1,
                     "diagnostics": [valid]}})  # fmt: skip
        client.send({"id": 3, "method": "textDocument/hover", "params": {
            "textDocument": {"uri": uri}, "position": {"line": 0, "character": 0}}})  # fmt: skip
        assert client.reply_to(3)["result"] is None

        client.send({"id": 4, "method": "shutdown"})
        assert "error" not in client.reply_to(4)
        client.send({"method": "exit"})
        client.keep_reading()
        assert client.proc.wait(timeout=30) == 0
        logs = [
            m["params"]["message"] for m in client.seen if m.get("method") == "window/logMessage"
        ]
        assert any("malformed textDocument/hover" in line for line in logs)
        assert any("malformed codecortex/diagnostics" in line for line in logs)
        assert any("larger than maxFileSize" in line for line in logs)
    finally:
        if client.proc.poll() is None:
            client.proc.kill()


def test_cli_skips_binary_and_non_utf8_files_with_a_reason(
    tmp_path: Path, cli_env, fresh_db
) -> None:
    from conftest import codecortex_exe

    (tmp_path / "blob.py").write_bytes(b"\x00\x01\x02import os\n")
    (tmp_path / "latin.py").write_bytes("name = 'caf\xe9'\n".encode("latin-1"))
    env = {**cli_env, "CODECORTEX_DATABASE_URL": fresh_db}
    result = subprocess.run(
        [codecortex_exe(), "check", "--tools", "ruff", "."], cwd=tmp_path, env=env,
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert "blob.py: binary file" in result.stderr
    assert "latin.py: not UTF-8" in result.stderr
    assert "Traceback" not in result.stderr


def test_client_vanishing_without_shutdown_leaves_no_process(
    editor: Editor, fresh_db: str, tmp_path
) -> None:
    """An editor killed mid-session closes our stdin without shutdown/exit: the server (with
    its connection pool busy) must still end by itself."""
    env = server_env(fresh_db)
    for _ in range(3):
        client = RawClient(env)
        client.initialize(1, editor, tmp_path)
        client.send({"method": "initialized", "params": {}})
        while True:  # until the database is connected (the pool and the job runner are busy)
            message = client.read()
            if message.get("method") == "codecortex/status":
                if message["params"]["database"] == "connected":
                    break
        assert client.proc.stdin is not None
        client.proc.stdin.close()
        try:
            assert client.proc.wait(timeout=20) == 0
        finally:
            if client.proc.poll() is None:
                client.proc.kill()


def test_serve_over_tcp(editor: Editor, fresh_db: str) -> None:
    import socket
    import time

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = server_env(fresh_db)
    proc = subprocess.Popen(
        [sys.executable, "-m", "codecortex", "serve", "--tcp", f"127.0.0.1:{port}"],
        env=env, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                conn = socket.create_connection(("127.0.0.1", port))
                break
            except OSError:
                assert time.monotonic() < deadline, "the server never listened"
                time.sleep(0.1)
        client = RawClient(stream=conn.makefile("rwb"))
        assert client.initialize(1, editor)["result"]["serverInfo"]["name"] == "codecortex"
        client.send({"method": "initialized", "params": {}})
        for n in range(2, 200):  # until the database is up
            client.send({"id": n, "method": "workspace/executeCommand",
                         "params": {"command": "codecortex.stats", "arguments": []}})  # fmt: skip
            result = client.reply_to(n)["result"]
            if "problems" in result:
                break
            time.sleep(0.1)
        assert result["problems"] == 0
        client.send({"id": 999, "method": "shutdown"})
        client.reply_to(999)
        client.send({"method": "exit"})
        client.keep_reading()
        assert proc.wait(timeout=20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
