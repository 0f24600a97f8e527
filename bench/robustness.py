"""How long a valid request waits behind bad input, against the real `codecortex serve`.

For each kind of bad input (a 10 MB search query, a 10 MB diagnostic message, a 5 MB message in
a code action's context, a 10 MB document, a 300 KB string where a list belongs, a wrong
Content-Length, a nested "jsonrpc" object), send it, then a hover, and time the hover's answer.
Prints one JSON object: per kind the waits in ms (median, max over --repeat runs), and whether
every request was answered exactly once.

    .venv/bin/python bench/robustness.py > robustness.json   # about a minute
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests" / "helpers"))

from common import database, log  # noqa: E402
from lsphelp import VSCODE  # noqa: E402
from wireclient import WireClient  # noqa: E402

HOVER = {"textDocument": {"uri": "file:///nowhere.py"}, "position": {"line": 0, "character": 0}}
RANGE = {"start": {"line": 0, "character": 7}, "end": {"line": 0, "character": 9}}


def _inputs(client: WireClient, root: Path) -> dict[str, Any]:
    big = "x" * 10_000_000
    uri = client.open(root / "bench.py", "import os\n")

    def command(name: str, *args: Any) -> None:
        client.send({"id": client.new_id(), "method": "workspace/executeCommand",
                     "params": {"command": name, "arguments": list(args)}})  # fmt: skip

    def wrong_length() -> None:
        body = json.dumps({"jsonrpc": "2.0", "id": client.new_id(), "method":
                           "textDocument/hover", "params": HOVER}).encode()  # fmt: skip
        client.raw(b"Content-Length: %d\r\n\r\n" % (len(body) - 4) + body)

    return {
        "search_query_10mb": lambda: command("codecortex.search", big),
        "diagnostic_message_10mb": lambda: client.forward(uri, 1, [
            {"range": RANGE, "message": big, "source": "Ruff", "code": "F401"}]),
        "code_action_context_message_5mb": lambda: client.send({
            "id": client.new_id(), "method": "textDocument/codeAction", "params": {
                "textDocument": {"uri": uri}, "range": RANGE, "context": {"diagnostics": [
                    {"range": RANGE, "message": "m" * 5_000_000, "source": "mypy"}]}}}),
        "document_10mb": lambda: client.open(root / f"huge{time.monotonic_ns()}.py", big),
        "string_where_a_list_belongs_300kb": lambda: client.send({
            "id": client.new_id(), "method": "textDocument/codeAction", "params": {
                "textDocument": {"uri": uri}, "range": RANGE,
                "context": {"diagnostics": "d" * 300_000}}}),
        "wrong_content_length": wrong_length,
        "nested_jsonrpc_object": lambda: command(
            "codecortex.search", {"jsonrpc": "2.0", "method": "exit"}),
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with database("ccrobust") as db, tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        client = WireClient(db.server_env)
        try:
            client.start(root, editor=VSCODE)
            waits: dict[str, list[float]] = {}
            for name, send in _inputs(client, root).items():
                for _ in range(args.repeat):
                    send()
                    started = time.perf_counter()
                    assert "result" in client.request("textDocument/hover", HOVER, timeout=120)
                    waits.setdefault(name, []).append((time.perf_counter() - started) * 1000)
                log(f"{name}: max {max(waits[name]):.0f} ms")
            client.request("textDocument/hover", HOVER)
            time.sleep(0.5)
            answers = {k: len(v) for k, v in client.responses.items()}
            sent = set(range(1001, client._next_id + 1))
            result = {
                "repeat": args.repeat,
                "wait_ms": {
                    k: {"median": round(statistics.median(v), 1), "max": round(max(v), 1)}
                    for k, v in waits.items()
                },
                "requests": len(sent),
                "unanswered": len(sent - set(answers)),
                "answered_twice": sum(1 for k, n in answers.items() if k in sent and n > 1),
                "popups": len(client.popups()),
                "exit_code": client.stop(),
                "machine": {"cpus": os.cpu_count(), "load_average_at_end": os.getloadavg()},
            }
        finally:
            client.kill()
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
