"""Time from a `codecortex/diagnostics` notification to the published hint, with verification.

The memory: `--solutions` generated past solutions (bench/common.py) plus real fixes learned
through the engine (`Memory.observe`, real ruff before and after): an unused import removed
(F401), `== None` made `is None` (E711), `== True` dropped (E712). Then `codecortex serve` runs
over stdio (pytest-lsp's client) and is sent documents of 50 real ruff diagnostics (10 each of
F401, F841, E711, F821, E712):

- cold: a document never seen (new names, so no verification result is cached) is opened and
  its 50 diagnostics forwarded; timed until the server publishes its hints for that version
  (a `codecortex` hint saying a past fix applies). Every candidate fix the server offers was
  replayed and checked by re-running ruff on the edited text first (verify.py).
- warm: the same document edited (a line added at the top, every problem moved down one line)
  and its diagnostics forwarded again; timed the same way.

The server publishes hints as soon as fixes are checked, a few problems at a time: the p50/p95
of each case time the first publish with a fix hint; `all_hints` times the publish that holds
all of them (as many as the last publish for that version, once nothing new came for 1 s).

After each published hint a `codeAction` at an F401 problem must hold "apply past fix" (the
cached code actions), else the run counts as a miss.

    .venv/bin/python bench/diagnostics_to_hint.py [--documents 20] [--edits 20] [--solutions 20000]

Prints one JSON object on stdout (p50/p95 per case, the load average); progress on stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests" / "helpers"))

from common import connection, database, log, percentiles, seed_memory  # noqa: E402
from lsp_latency import FIX_TITLE, action_params, start, to_diagnostic  # noqa: E402
from lsphelp import change_doc, forward, open_doc, ruff_diagnostics  # noqa: E402
from lsprotocol import types  # noqa: E402

from codecortex.config import load_settings  # noqa: E402
from codecortex.memory.identity import Identity  # noqa: E402
from codecortex.memory.problem_memory import Memory  # noqa: E402

USER = "bench-dev"
TARGET_P95_MS = 150.0
TEACH = [  # (before, after): fixes made by hand in an editor, learned by the engine
    ("import os\nimport sys\n\nprint(sys.argv)\n", "import sys\n\nprint(sys.argv)\n"),
    (
        "def f(x):\n    if x == None:\n        return 0\n    return x\n",
        "def f(x):\n    if x is None:\n        return 0\n    return x\n",
    ),
    ("def g(flag):\n    return flag == True\n", "def g(flag):\n    return flag\n"),
]


def document(k: int) -> str:
    """50 ruff findings (10 each of F401, F841, E711, F821, E712), names unique to `k`."""
    mods = ["os", "sys", "json", "re", "abc", "csv", "glob", "heapq", "shutil", "socket"]
    lines = [f"import {m}" for m in mods] + [""]
    for i in range(10):
        lines += [
            "",
            "",
            f"def handler_{k}_{i}(value_{k}):",
            f"    unused_{k}_{i} = value_{k} * 2",
            f"    if value_{k} == None:",
            f"        return missing_{k}_{i}",
            f"    return value_{k} == True",
        ]
    return "\n".join(lines) + "\n"


async def teach(url: str, user_id: Any, repo_id: Any, folder: Path) -> int:
    memory = Memory(load_settings({"databaseUrl": url}, env={}))
    ident = Identity(user_id, USER, repo_id, "private")
    learned = 0
    async with connection(url) as conn:
        for n, (before, after) in enumerate(TEACH):
            path = folder / f"taught_{n}.py"
            diags = [to_diagnostic(d) for d in ruff_diagnostics(path, before)]
            await memory.observe(conn, ident, str(path), before, "python", diags, version=1)
            after_diags = [to_diagnostic(d) for d in ruff_diagnostics(path, after)]
            obs = await memory.observe(
                conn, ident, str(path), after, "python", after_diags, version=2
            )
            learned += sum(1 for r in obs.resolved if r.solution_id is not None)
    return learned


class Published:
    """publishDiagnostics from the server, as (time, uri, version, diagnostics)."""

    def __init__(self, client: Any) -> None:
        self.events: list[tuple[float, str, int | None, list[Any]]] = []
        self.changed = asyncio.Event()
        features = client.protocol.fm.features
        keep = features.get(types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)

        def on_publish(*args: Any) -> Any:
            params = args[-1]
            self.events.append(
                (time.perf_counter(), params.uri, params.version, list(params.diagnostics))
            )
            self.changed.set()
            return keep(*args) if keep else None

        features[types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS] = on_publish

    async def hint(self, uri: str, version: int, after: float, timeout: float = 60) -> float:
        """When the server published hints with a past fix for `uri` at `version`."""
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline:
            for at, u, v, diags in self.events:
                if at >= after and u == uri and v == version and _fix_hints(diags):
                    return at
            self.changed.clear()
            try:
                await asyncio.wait_for(self.changed.wait(), timeout=1)
            except TimeoutError:
                pass
        raise RuntimeError(f"no hint for {uri} v{version} within {timeout}s")

    async def complete(self, uri: str, version: int, after: float, quiet: float = 1.0) -> float:
        """When the server published all of its hints for `uri` at `version`: the first publish
        holding as many fix hints as the last one, once nothing new came for `quiet` seconds
        (the server publishes each step of problems as soon as its fixes are checked)."""
        while True:
            self.changed.clear()
            try:
                await asyncio.wait_for(self.changed.wait(), timeout=quiet)
            except TimeoutError:
                break
        mine = [
            (at, _fix_hints(d))
            for at, u, v, d in self.events
            if at >= after and (u, v) == (uri, version)
        ]
        most = max(n for _, n in mine)
        return next(at for at, n in mine if n == most)


def _fix_hints(diags: list[Any]) -> int:
    return sum(1 for d in diags if d.source == "codecortex" and "past fix applies" in d.message)


async def bench(args: argparse.Namespace, url: str, server_env: dict[str, str]) -> dict[str, Any]:
    load_start = os.getloadavg()
    async with connection(url) as conn:
        seeded = await seed_memory(conn, args.solutions, seed=args.seed, user=USER)
    root = Path(tempfile.mkdtemp(prefix="ccbench-hint-"))
    learned = await teach(url, seeded.user_id, seeded.repo_id, root)
    log(f"learned {learned} fixes through Memory.observe")
    env = {**server_env, "CODECORTEX_USER": USER}
    client, _marks = await start([sys.executable, "-m", "codecortex", "serve"], env, root)
    published = Published(client)
    times: dict[str, list[float]] = {"cold": [], "warm": []}
    complete: dict[str, list[float]] = {"cold": [], "warm": []}
    hints: dict[str, list[int]] = {"cold": [], "warm": []}
    misses = {"cold": 0, "warm": 0}

    async def one(case: str, uri: str, version: int, text: str, path: Path) -> None:
        diags = ruff_diagnostics(path, text)
        assert len(diags) == 50, len(diags)
        t0 = time.perf_counter()
        forward(client, uri, version, diags)
        at = await published.hint(uri, version, t0)
        times[case].append((at - t0) * 1000)
        done = await published.complete(uri, version, t0)
        complete[case].append((done - t0) * 1000)
        last = [e for e in published.events if e[1] == uri and e[2] == version][-1]
        hints[case].append(_fix_hints(last[3]))
        target = next(d for d in diags if d["code"] == "F401")
        actions = await client.text_document_code_action_async(action_params(uri, target)) or []
        if not any(FIX_TITLE in a.title for a in actions):
            misses[case] += 1

    try:
        for k in range(args.documents + 1):  # the first one warms up the server
            path = root / f"module_{k}.py"
            text = document(k)
            path.write_text(text)
            uri = open_doc(client, path, text)
            await one("cold", uri, 1, text, path)
            for e in range(args.edits if k else 1):
                text = f"# edit {e}\n" + text
                change_doc(client, uri, text, e + 2)
                await one("warm", uri, e + 2, text, path)
            if k == 0:
                for case in times:
                    times[case].clear()
                    complete[case].clear()
                    hints[case].clear()
                    misses[case] = 0
            log(f"document {k}: cold {times['cold'][-1:]} ms" if k else "warmed up")
    finally:
        await client.shutdown_session()

    out: dict[str, Any] = {}
    for case in ("cold", "warm"):
        p = percentiles(times[case])
        out[case] = {
            **p,
            "all_hints": percentiles(complete[case]),
            "fix_hints_per_document": round(sum(hints[case]) / max(len(hints[case]), 1), 1),
            "code_action_without_fix": misses[case],
            "met": p["p95_ms"] < TARGET_P95_MS,
        }
    return {
        "benchmark": "diagnostics_to_hint",
        "machine": {
            "cpus": os.cpu_count(),
            "load_average_at_start": load_start,
            "load_average_at_end": os.getloadavg(),
        },
        "solutions": seeded.solutions,
        "learned_fixes": learned,
        "diagnostics_per_document": 50,
        "documents": args.documents,
        "edits_per_document": args.edits,
        **out,
        "target_p95_ms": TARGET_P95_MS,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--documents", type=int, default=20)
    parser.add_argument("--edits", type=int, default=5)
    parser.add_argument("--solutions", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    with database("ccbench-hint") as db:
        result = asyncio.run(bench(args, db.url, db.server_env))
    print(json.dumps(result, indent=2, default=str))


if __name__ == "__main__":
    main()
