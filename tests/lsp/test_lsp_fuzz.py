"""A seeded protocol fuzzer against the real server: a few hundred messages of broken JSON-RPC,
wrong types and deleted fields in the params of the main methods, bad arguments for every
advertised command, odd framing and big strings. Afterwards: the server is alive, answered
every request exactly once, learns and replays a fix, showed at most a handful of popups and
wrote no traceback."""

from __future__ import annotations

import copy
import json
import os
import random
import time
from pathlib import Path
from typing import Any

from lsphelp import Editor, server_env
from wireclient import WireClient, learn_then_replay

SEED = int(os.environ.get("FUZZ_SEED", "15"))  # another seed: FUZZ_SEED=n pytest ...
MESSAGES = int(os.environ.get("FUZZ_MESSAGES", "300"))
COMMANDS = [
    "codecortex.search", "codecortex.addNote", "codecortex.showSolutions", "codecortex.stats",
    "codecortex.recordFix", "codecortex.rejectFix", "codecortex.ignore",
    "codecortex.saveSolution", "codecortex.share", "codecortex.ignoreInsight",
    "codecortex.reopenInsight", "codecortex.insightApplied", "codecortex.learningProgress",
    "codecortex.acceptSynthesis", "codecortex.rejectSynthesis", "codecortex.synthesisFeedback",
    "codecortex.learningPath", "codecortex.nope",
]  # fmt: skip


def _skeletons(uri: str) -> list[tuple[str, bool, dict[str, Any]]]:
    """(method, is_request, valid params) for the main methods."""
    pos = {"line": 0, "character": 3}
    rng = {"start": {"line": 0, "character": 0}, "end": {"line": 0, "character": 9}}
    diag = {"range": rng, "message": "`os` imported but unused", "source": "Ruff", "code": "F401",
            "severity": 2}  # fmt: skip
    doc = {"uri": uri}
    return [
        ("textDocument/hover", True, {"textDocument": doc, "position": pos}),
        ("textDocument/codeAction", True,
         {"textDocument": doc, "range": rng, "context": {"diagnostics": [diag]}}),
        ("codeAction/resolve", True, {"title": "t", "data": {"kind": "synthesize", "uri": uri}}),
        ("workspace/executeCommand", True, {"command": "codecortex.stats", "arguments": []}),
        ("textDocument/didOpen", False,
         {"textDocument": {**doc, "languageId": "python", "version": 1, "text": "import os\n"}}),
        ("textDocument/didChange", False,
         {"textDocument": {**doc, "version": 2}, "contentChanges": [{"text": "import os\n#\n"}]}),
        ("textDocument/didSave", False, {"textDocument": doc}),
        ("textDocument/didClose", False, {"textDocument": doc}),
        ("codecortex/diagnostics", False, {"uri": uri, "version": 1, "diagnostics": [diag]}),
        ("workspace/didChangeConfiguration", False, {"settings": {"codecortex": {"hints": True}}}),
        ("$/cancelRequest", False, {"id": 3}),
    ]  # fmt: skip


def _weird(rnd: random.Random) -> Any:
    return rnd.choice([
        None, 0, -1, 2**63, 1.5, True, "", "x" * rnd.choice([1, 100, 300_000]), [], [1, "a"], {},
        {"jsonrpc": "2.0", "method": "exit"}, {"jsonrpc": "2.0", "id": 1, "result": None},
        "\x00\udcff", "file:///\x00", {"uri": 5}, "ünïcödé ✓ 🐍",
    ])  # fmt: skip


def _mutate(rnd: random.Random, value: Any, depth: int = 0) -> Any:
    """A copy of `value` with one field deleted, retyped or replaced somewhere inside."""
    value = copy.deepcopy(value)
    if not isinstance(value, (dict, list)) or not value or depth > 4 or rnd.random() < 0.2:
        return _weird(rnd)
    keys = list(value.keys()) if isinstance(value, dict) else list(range(len(value)))
    key = rnd.choice(keys)
    if isinstance(value, dict) and rnd.random() < 0.3:
        del value[key]
    else:
        value[key] = _mutate(rnd, value[key], depth + 1)
    return value


def _command_args(rnd: random.Random) -> list[Any]:
    return [_weird(rnd) for _ in range(rnd.randint(0, 4))]


def test_protocol_fuzz(editor: Editor, fresh_db: str, tmp_path: Path) -> None:
    rnd = random.Random(SEED)
    err = tmp_path / "stderr.txt"
    stderr = err.open("wb")
    client = WireClient(server_env(fresh_db), stderr=stderr)
    expected: set[Any] = set()
    try:
        client.start(tmp_path, editor=editor)
        uri = (tmp_path / "fuzz.py").as_uri()
        skeletons = _skeletons(uri)
        started = time.monotonic()
        for n in range(MESSAGES):
            method, is_request, params = rnd.choice(skeletons)
            roll = rnd.random()
            if method == "workspace/executeCommand":
                params = {"command": rnd.choice(COMMANDS), "arguments": _command_args(rnd)}
            elif roll < 0.75:
                params = _mutate(rnd, params)
            message: dict[str, Any] = {"jsonrpc": "2.0", "method": method, "params": params}
            if is_request:
                message["id"] = n
            body = json.dumps(message).encode()
            fault = rnd.random()
            if fault < 0.05:  # broken JSON (answered only when its id can be read: not counted)
                message.pop("id", None)
                body = json.dumps(message).encode()[: rnd.randint(1, 40)]
                client.send_body(body)
                continue
            if is_request:
                expected.add(n)
            if fault < 0.10:
                client.send_body(body, header="content-length")
            elif fault < 0.15:
                client.raw(b"Content-Length: %d\r\n\r\n" % (len(body) + rnd.randint(1, 9)) + body)
            elif fault < 0.20:
                client.raw(b"Content-Length: %d\r\n\r\n" % (len(body) - rnd.randint(1, 9)) + body)
            elif fault < 0.22:
                client.raw(b"garbage line\r\n")
                client.send_body(body)
            else:
                client.send_body(body)
        for msg_id in sorted(expected):
            client.reply_to(msg_id, timeout=60)
        elapsed = time.monotonic() - started
        time.sleep(0.5)
        assert client.proc.poll() is None, "the server died"
        extra = {k: len(v) for k, v in client.responses.items() if isinstance(k, int) and k < 1000}
        assert set(extra) == expected, [client.responses[k] for k in set(extra) - expected]
        assert {k: n for k, n in extra.items() if n != 1} == {}  # exactly one answer each

        assert learn_then_replay(client, tmp_path) == "import re\n\nprint(re.compile('x'))\n"
        popups = client.popups()
        assert len(popups) <= 3, popups
        print(json.dumps({"messages": MESSAGES, "requests": len(expected), "seconds":
                          round(elapsed, 2), "popups": len(popups)}))  # fmt: skip
        assert client.stop() == 0
    finally:
        client.kill()
        stderr.close()
    text = err.read_text(errors="replace")
    assert "Traceback" not in text, text[:5000]
