"""Benchmark the language server over stdio against the floor of the protocol itself.

Seeds 100,000 past solutions (bench/common.py) plus one fix learned through the real engine
(`Memory.observe`: an unused import reported by real ruff, then the file without it), reused a few
times so that it ranks among the candidates of its signature. Then:

- cold start: spawns `codecortex serve` (stdio, pytest-lsp's client), and measures from sending
  `initialize` to the first `codeAction` answer holding an "apply past fix" action for a new
  unused import in a freshly opened document with 50 forwarded ruff diagnostics (the client
  asks every 10 ms). The database is the already running embedded PostgreSQL, joined as a second
  editor window would (or CODECORTEX_DATABASE_URL).
- `codeAction` and `hover` latency (client round trip, p50/p95/p99) over N requests each at the
  50 diagnostics' ranges, with the diagnostic in the code action context as an editor sends it,
  next to the same client and requests against bench/floor_server.py (a pygls server answering
  empty results): the floor. Real and floor requests alternate in blocks so that background
  load hits both alike.
- peak RSS (VmHWM) of the server process; PostgreSQL runs in its own processes (not counted).

    .venv/bin/python bench/lsp_latency.py [--solutions 100000] [--requests 1000]

Prints one JSON object on stdout; progress on stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests" / "helpers"))

from common import connection, database, log, percentiles, seed_memory  # noqa: E402
from lsphelp import _fix_code_action_parsing, forward, open_doc, ruff_diagnostics  # noqa: E402
from lsprotocol import types  # noqa: E402
from pytest_lsp import ClientServerConfig, LanguageClient, client_capabilities  # noqa: E402

from codecortex.config import load_settings  # noqa: E402
from codecortex.diagnostics import Diagnostic, Range  # noqa: E402
from codecortex.memory.identity import Identity  # noqa: E402
from codecortex.memory.problem_memory import Memory  # noqa: E402
from codecortex.store import solutions as solution_store  # noqa: E402

USER = "bench-dev"
TARGETS = {"p95_ms": 10.0, "ratio_to_floor": 2.0, "cold_start_s": 1.5, "rss_mb": 250.0}
FIX_TITLE = "apply past fix"


def document() -> str:
    """50 ruff (E,F) findings: 10 each of F401, F841, E711, F821, E712."""
    mods = ["os", "sys", "json", "re", "abc", "csv", "glob", "heapq", "shutil", "socket"]
    lines = [f"import {m}" for m in mods] + [""]
    for i in range(10):
        lines += [
            "",
            "",
            f"def handler_{i}(value):",
            f"    unused_{i} = value * 2",
            "    if value == None:",
            f"        return missing_{i}",
            "    return value == True",
        ]
    return "\n".join(lines) + "\n"


def to_diagnostic(d: dict[str, Any]) -> Diagnostic:
    r = d["range"]
    return Diagnostic(
        d["source"],
        d["code"],
        d["message"],
        Range.of(r["start"]["line"], r["start"]["character"], r["end"]["line"], r["end"]["character"]),
        d.get("severity", 1),
    )  # fmt: skip


async def learn_fix(url: str, user_id: Any, repo_id: Any, folder: Path) -> Any:
    """An unused import fixed in an editor, learned by the real engine; reused 6 times."""
    memory = Memory(load_settings({"databaseUrl": url}, env={}))
    ident = Identity(user_id, USER, repo_id, "private")
    path = folder / "learned.py"
    before = "import os\nimport sys\n\nprint(sys.argv)\n"
    after = "import sys\n\nprint(sys.argv)\n"
    async with connection(url) as conn:
        diags = [to_diagnostic(d) for d in ruff_diagnostics(path, before)]
        await memory.observe(conn, ident, str(path), before, "python", diags, version=1)
        obs = await memory.observe(conn, ident, str(path), after, "python", [], version=2)
        (resolved,) = obs.resolved
        assert resolved.solution_id is not None, resolved.reason
        for _ in range(6):
            await solution_store.record_reuse(conn, resolved.solution_id, 30)
        return resolved.solution_id


async def start(command: list[str], env: dict[str, str], root: Path) -> tuple[LanguageClient, dict[str, float]]:  # fmt: skip
    marks = {"spawn": time.perf_counter()}
    client = await ClientServerConfig(server_command=command, server_env=env).start()
    assert isinstance(client, LanguageClient)
    _fix_code_action_parsing(client)
    client.feature("codecortex/status")(lambda params: None)
    events: list[tuple[float, str]] = []
    client.events = events  # type: ignore[attr-defined]

    features = client.protocol.fm.features  # pytest-lsp's own handler keeps working
    keep = features.get(types.WINDOW_LOG_MESSAGE)

    def on_log(*args: Any) -> Any:
        events.append((time.perf_counter(), getattr(args[-1], "message", "")))
        return keep(*args) if keep else None

    features[types.WINDOW_LOG_MESSAGE] = on_log

    marks["initialize_sent"] = time.perf_counter()
    await client.initialize_session(
        types.InitializeParams(
            capabilities=client_capabilities("visual-studio-code"),
            root_uri=root.as_uri(),
            workspace_folders=[types.WorkspaceFolder(uri=root.as_uri(), name=root.name)],
            initialization_options={"codecortex": {}},
        )
    )
    marks["initialized"] = time.perf_counter()
    return client, marks


def action_params(uri: str, d: dict[str, Any]) -> types.CodeActionParams:
    r = d["range"]
    rng = types.Range(start=types.Position(**r["start"]), end=types.Position(**r["end"]))
    lsp_diag = types.Diagnostic(
        range=rng, message=d["message"], severity=types.DiagnosticSeverity(d["severity"]),
        source=d["source"], code=d["code"],
    )  # fmt: skip
    return types.CodeActionParams(
        text_document=types.TextDocumentIdentifier(uri=uri),
        range=rng,
        context=types.CodeActionContext(diagnostics=[lsp_diag]),
    )


def hover_params(uri: str, d: dict[str, Any]) -> types.HoverParams:
    return types.HoverParams(
        text_document=types.TextDocumentIdentifier(uri=uri),
        position=types.Position(**d["range"]["start"]),
    )


async def first_fix(client: LanguageClient, uri: str, target: dict[str, Any], timeout: float) -> float:  # fmt: skip
    deadline = time.perf_counter() + timeout
    params = action_params(uri, target)
    while time.perf_counter() < deadline:
        actions = await client.text_document_code_action_async(params) or []
        if any(FIX_TITLE in a.title for a in actions):
            return time.perf_counter()
        await asyncio.sleep(0.01)
    raise RuntimeError(f"no '{FIX_TITLE}' action within {timeout}s")


async def measure(
    client: LanguageClient, uri: str, diags: list[dict[str, Any]], order: list[int], stats: dict[str, Any]
) -> None:  # fmt: skip
    for n in order:
        d = diags[n]
        t0 = time.perf_counter()
        actions = await client.text_document_code_action_async(action_params(uri, d))
        t1 = time.perf_counter()
        hover = await client.text_document_hover_async(hover_params(uri, d))
        t2 = time.perf_counter()
        stats["code_action"].append((t1 - t0) * 1000)
        stats["hover"].append((t2 - t1) * 1000)
        stats["actions"] += len(actions or [])
        stats["hovers"] += hover is not None


def peak_rss_mb(pid: int) -> dict[str, float]:
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmHWM", "VmRSS"):
            out[key] = round(int(value.split()[0]) / 1024, 1)
    return out


async def bench(args: argparse.Namespace, url: str, server_env: dict[str, str]) -> dict[str, Any]:
    async with connection(url) as conn:
        t0 = time.perf_counter()
        seeded = await seed_memory(conn, args.solutions, seed=args.seed, user=USER)
        seed_seconds = time.perf_counter() - t0
    root = Path(tempfile.mkdtemp(prefix="ccbench-ws-"))
    await learn_fix(url, seeded.user_id, seeded.repo_id, root)
    log("learned one replayable fix (unused import) through Memory.observe")

    path = root / "app.py"
    text = document()
    path.write_text(text)
    diags = ruff_diagnostics(path, text)
    assert len(diags) == 50, len(diags)
    target = next(d for d in diags if d["code"] == "F401")
    env = {**server_env, "CODECORTEX_USER": USER}

    log("cold start of codecortex serve")
    real, marks = await start([sys.executable, "-m", "codecortex", "serve"], env, root)
    uri = open_doc(real, path, text)
    forward(real, uri, 1, diags)
    fixed_at = await first_fix(real, uri, target, timeout=60)
    cold = {
        "initialize_to_first_fix_s": round(fixed_at - marks["initialize_sent"], 3),
        "initialize_response_s": round(marks["initialized"] - marks["initialize_sent"], 3),
        "spawn_to_first_fix_s": round(fixed_at - marks["spawn"], 3),
        "database": "CODECORTEX_DATABASE_URL" if "CODECORTEX_DATABASE_URL" in env else
        "embedded PostgreSQL already running (joined, as a second editor window)",
    }  # fmt: skip
    for at, message in real.events:  # type: ignore[attr-defined]
        if message.startswith(("database connected", "learned", "could not")):
            cold.setdefault("log", []).append(
                f"{at - marks['initialize_sent']:.3f}s {message[:80]}"
            )
    log(f"  {cold}")

    # The views of all 50 problems are cached at once (one observation), so they are all ready.
    floor, _ = await start([sys.executable, str(HERE / "floor_server.py")], env, root)
    floor_uri = open_doc(floor, path, text)
    forward(floor, floor_uri, 1, diags)

    rng = random.Random(args.seed)
    real_stats: dict[str, Any] = {"code_action": [], "hover": [], "actions": 0, "hovers": 0}
    floor_stats: dict[str, Any] = {"code_action": [], "hover": [], "actions": 0, "hovers": 0}
    warm = [rng.randrange(50) for _ in range(100)]
    await measure(real, uri, diags, warm, {"code_action": [], "hover": [], "actions": 0, "hovers": 0})  # fmt: skip
    await measure(floor, floor_uri, diags, warm, {"code_action": [], "hover": [], "actions": 0, "hovers": 0})  # fmt: skip
    block = 100
    log(f"timing {args.requests} codeAction + {args.requests} hover requests per server")
    for _ in range(0, args.requests, block):
        order = [rng.randrange(50) for _ in range(block)]
        await measure(real, uri, diags, order, real_stats)
        await measure(floor, floor_uri, diags, order, floor_stats)
    rss = peak_rss_mb(real._server.pid)  # type: ignore[union-attr]
    floor_rss = peak_rss_mb(floor._server.pid)  # type: ignore[union-attr]
    await floor.shutdown_session()
    await real.shutdown_session()
    shutil.rmtree(root, ignore_errors=True)

    out: dict[str, Any] = {}
    for kind in ("code_action", "hover"):
        r, f = percentiles(real_stats[kind]), percentiles(floor_stats[kind])
        out[kind] = {
            "server": r,
            "floor": f,
            "ratio_p50": round(r["p50_ms"] / f["p50_ms"], 2),
            "ratio_p95": round(r["p95_ms"] / f["p95_ms"], 2),
        }
    n = len(real_stats["code_action"])
    out["code_action"]["actions_per_request"] = round(real_stats["actions"] / n, 2)
    out["hover"]["non_empty_share"] = round(real_stats["hovers"] / n, 3)
    met = {
        kind: out[kind]["server"]["p95_ms"] < TARGETS["p95_ms"]
        and out[kind]["ratio_p95"] <= TARGETS["ratio_to_floor"]
        for kind in ("code_action", "hover")
    }
    met["cold_start"] = cold["initialize_to_first_fix_s"] < TARGETS["cold_start_s"]
    met["rss"] = rss["VmHWM"] < TARGETS["rss_mb"]
    return {
        "benchmark": "lsp_latency",
        "machine": {"cpus": os.cpu_count(), "load_average_at_end": os.getloadavg()},
        "seed": {"solutions": seeded.solutions, "seconds": round(seed_seconds, 1)},
        "document": {"diagnostics": len(diags), "codes": sorted({d["code"] for d in diags})},
        "requests_each": n,
        **out,
        "cold_start": cold,
        "server_rss_mb": {"peak": rss["VmHWM"], "at_end": rss["VmRSS"]},
        "floor_rss_mb": {"peak": floor_rss["VmHWM"]},
        "targets": {**TARGETS, "met": met},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--solutions", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    with database("ccbench-lsp") as db:
        result = asyncio.run(bench(args, db.url, db.server_env))
    print(json.dumps(result, indent=2, default=str))


if __name__ == "__main__":
    main()
