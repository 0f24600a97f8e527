"""A team on one PostgreSQL server: many developers' editors streaming diagnostics at once.

One server (the embedded PostgreSQL binary, or the server of CODECORTEX_DATABASE_URL) holds a
team memory (`--solutions`, generated as in bench/common.py), the developer group role of
`codecortex team init` and one login role per developer (`team add-user`, row-level security
on: every developer reads their own and the team's rows only). The memory's rows are spread over
the developers, 60% private. Each simulated editor connects (the product's pool, as its own
role) and opens `--documents` documents of `--problems` diagnostics (`open_document`, in waves
of five editors, before the clock starts); then all run for `--seconds`, each doing what a
language server does for its editor:

- `diagnostics`: every `--diagnostics-every` seconds (jittered) one of its documents changes
  (one problem fixed, a new one appears) and its diagnostics are observed: `Memory.observe`
  (record, resolve, learn the fix, embed it), then the recall's reads (signature history,
  candidate fixes) for the problems not recalled in the last 15 s (as the server keeps the
  others' results), then the related search (hybrid: signature, pgvector HNSW, full text) and
  its log. `diagnostics_to_views`: until the views are ready; `diagnostics_to_related`: until
  the related results are.
- `code_action`: every `--code-action-every` seconds: answered from the document's cached views
  (no database), and, as the server does, a background recall when those views are older than
  15 s (`code_action_refresh`, timed apart): history and candidate fixes (each signature's
  fixes kept in memory, read again only when its version changed), related knowledge searched
  again only every 300 s (service.RELATED_STALE_SECONDS).
- `apply`: now and then a past fix is applied (`record_applied`: reuse count, trigger row).
- `search`: now and then a free-text search (`Memory.search`).

The editors run in `--processes` processes (4; each holds its share of the developers, so the
client side is not what limits the figures: one process for all 20 got too little CPU to read
its results in an earlier version). Each takes its connections as the language server does
(`Database.connection`: while all of an editor's 4 connections are in use it waits for one, up
to 120 s; `pool_wait` times that wait). What runs on each developer's own machine is not
simulated: replaying candidate fixes and
re-running ruff on them (CPU in the editor's language server, measured by bench/retrieval.py
and bench/diagnostics_to_hint.py) — this bench measures the shared server. Its CPU is read
from /proc (the postmaster and its backends) when the server is the embedded one.

    .venv/bin/python bench/team_load.py [--developers 20] [--seconds 120] [--solutions 20000]

Prints one JSON object: p50/p95/p99 per request kind, errors (must be 0), requests per second,
the server's CPU (cores busy on average) and the load average.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import sys
import time
import traceback
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (
    Occurrence,
    connection,
    database,
    log,
    percentiles,
    plan,
    seed_memory,
    vary,
    vocabularies,
)
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from codecortex.config import load_settings
from codecortex.diagnostics import Diagnostic, Range
from codecortex.memory.identity import Identity
from codecortex.memory.problem_memory import Memory
from codecortex.memory.views import FixOption, ProblemView
from codecortex.session.database import _acquire as acquire_connection
from codecortex.session.documents import RELATED_STALE_SECONDS, STALE_AFTER_SECONDS
from codecortex.store import identity as identity_store
from codecortex.store import team as team_store
from codecortex.store.embedded import DatabaseTarget, DatabaseUnavailable
from codecortex.store.pool import open_pool


class ServerSideMemory(Memory):
    """The product's Memory without the work done on the developer's own machine (replaying
    candidates and verifying them): every database statement of recall stays."""

    def replay_candidates(
        self,
        view: ProblemView,
        solutions: list[dict[str, Any]],
        text: str,
        language: str | None,
        *,
        prepared: Any = None,
    ) -> list[FixOption]:
        self.candidates_seen = getattr(self, "candidates_seen", 0) + len(solutions)
        return []


@dataclass
class Document:
    path: str
    problems: list[Occurrence]
    version: int = 0
    views: list[ProblemView] = field(default_factory=list)
    recalled_at: float = 0.0
    recalled: dict[str, float] = field(default_factory=dict)
    related_at: float = field(default_factory=time.monotonic)  # opened: related searched

    def text(self) -> str:
        body = "".join(f"    {p.statement}\n" for p in self.problems)
        return f"def handler(request):\n{body}    return None\n"

    def diagnostics(self) -> list[Diagnostic]:
        return [
            Diagnostic(p.tool, p.code, p.message, Range.of(i + 1, 4, i + 1, 4 + len(p.statement)))
            for i, p in enumerate(self.problems)
        ]


@dataclass
class Stats:
    times: dict[str, list[float]] = field(default_factory=dict)
    errors: Counter[str] = field(default_factory=Counter)
    examples: list[str] = field(default_factory=list)
    connect_retries: int = 0

    def add(self, kind: str, ms: float) -> None:
        self.times.setdefault(kind, []).append(ms)

    def fail(self, kind: str, exc: BaseException) -> None:
        self.errors[kind] += 1
        if len(self.examples) < 5:
            self.examples.append(f"{kind}: {exc!r}")
            log("".join(traceback.format_exception(exc))[-800:])


def _url_as(admin_url: str, role: str, password: str) -> str:
    params = conninfo_to_dict(admin_url)
    params.update(user=role, password=password)
    return make_conninfo(**params)


class Developer:
    def __init__(
        self,
        n: int,
        url: str,
        user_id: Any,
        repo_id: Any,
        args: argparse.Namespace,
        stats: Stats,
        rng: random.Random,
    ) -> None:
        self.n = n
        self.url = url
        self.ident = Identity(user_id, f"dev{n}", repo_id, "private")
        self.args = args
        self.stats = stats
        self.rng = rng
        self.memory = ServerSideMemory(load_settings({"databaseUrl": url}, env={}))
        self.documents: list[Document] = []
        self.background: set[asyncio.Task[Any]] = set()
        self.recalled = 0  # problems recalled (looked up again) by diagnostics

    @contextlib.asynccontextmanager
    async def connection(self) -> AsyncIterator[Any]:
        """A pooled connection as the language server takes one (`Database.connection`: while
        all of the editor's connections are in use it waits for one, up to 120 s); the wait is
        timed (`pool_wait`)."""
        t0 = time.perf_counter()
        conn = await acquire_connection(self.pool)
        self.stats.add("pool_wait", (time.perf_counter() - t0) * 1000)
        try:
            async with conn:
                yield conn
        finally:
            await self.pool.putconn(conn)

    def new_problem(self) -> Occurrence:
        p = plan()
        group = self.rng.choice(p.groups)
        return vary(self.rng.choice(p.query_rows[group]), QUERY_VOCAB, self.rng, p.keys[group])

    async def open(self) -> None:
        """Connect (the product's pool, as this developer's role) and open the documents."""
        target = DatabaseTarget(self.url, embedded=False)
        for attempt in range(10):  # an editor retries too (database.py's reconnect loop)
            try:
                self.pool = await open_pool(target, min_size=1, max_size=4)
                break
            except DatabaseUnavailable as exc:
                self.stats.connect_retries += 1
                if attempt == 9:
                    raise
                log(f"dev{self.n}: {exc}; retrying")
                await asyncio.sleep(1)
        for d in range(self.args.documents):
            doc = Document(
                f"/home/dev{self.n}/project/module_{d}.py",
                [self.new_problem() for _ in range(self.args.problems)],
            )
            self.documents.append(doc)
            t0 = time.perf_counter()
            await self.diagnostics(doc, change=False, kind="open_document")
            self.stats.add("open_document", (time.perf_counter() - t0) * 1000)

    async def run(self, until: float) -> None:
        await asyncio.gather(
            self.loop(until, self.args.diagnostics_every, self.edit),
            self.loop(until, self.args.code_action_every, self.code_action),
            self.loop(until, self.args.apply_every, self.apply),
            self.loop(until, self.args.search_every, self.search),
        )
        if self.background:
            await asyncio.wait(self.background, timeout=30)

    async def loop(self, until: float, every: float, action: Any) -> None:
        await asyncio.sleep(self.rng.uniform(0, every))
        while time.monotonic() < until:
            await action()
            await asyncio.sleep(every * self.rng.uniform(0.5, 1.5))

    async def edit(self) -> None:
        doc = self.rng.choice(self.documents)
        await self.diagnostics(doc, change=True)

    async def diagnostics(self, doc: Document, *, change: bool, kind: str = "") -> None:
        if change:  # one problem fixed (its statement changed), sometimes a new one
            i = self.rng.randrange(len(doc.problems))
            fixed = doc.problems.pop(i)
            doc.problems.append(self.new_problem())
            del fixed
        doc.version += 1
        text, diags = doc.text(), doc.diagnostics()
        t0 = time.perf_counter()
        try:
            async with self.connection() as conn:
                async with conn.transaction():
                    obs = await self.memory.observe(
                        conn, self.ident, doc.path, text, "python", diags, version=doc.version
                    )
                # as the server does: problems recalled less than 15 s ago keep their results
                now = time.monotonic()
                fresh = {
                    str(v.problem_id): v
                    for v in doc.views
                    if now - doc.recalled.get(str(v.problem_id), 0.0) < STALE_AFTER_SECONDS
                }
                todo = [v for v in obs.views if str(v.problem_id) not in fresh]
                for v in obs.views:
                    if str(v.problem_id) in fresh:
                        old = fresh[str(v.problem_id)]
                        v.history, v.fixes, v.related = old.history, old.fixes, old.related
                await self.memory.recall(conn, self.ident, text, "python", todo, related=False)
                t1 = time.perf_counter()
                await self.memory.fill_related(conn, self.ident, todo, log_results=False)
                t2 = time.perf_counter()
                await self.memory.log_related(conn, todo)
        except Exception as exc:
            self.stats.fail(kind or "diagnostics", exc)
            return
        if not kind:
            self.stats.add("diagnostics_to_views", (t1 - t0) * 1000)
            self.stats.add("diagnostics_to_related", (t2 - t0) * 1000)
        self.recalled += len(todo)
        doc.views = obs.views
        done = time.monotonic()
        doc.recalled.update((str(v.problem_id), done) for v in todo)
        doc.recalled_at = min(doc.recalled.get(str(v.problem_id), 0.0) for v in doc.views)

    async def code_action(self) -> None:
        doc = self.rng.choice(self.documents)
        t0 = time.perf_counter()
        line = self.rng.randrange(1, len(doc.problems) + 1)
        _views = [v for v in doc.views if v.diagnostic.range.start.line == line]
        self.stats.add("code_action", (time.perf_counter() - t0) * 1000)
        if doc.views and time.monotonic() - doc.recalled_at >= STALE_AFTER_SECONDS:
            doc.recalled_at = time.monotonic()
            task = asyncio.ensure_future(self.refresh(doc))
            self.background.add(task)
            task.add_done_callback(self.background.discard)

    async def refresh(self, doc: Document) -> None:
        views = doc.views
        related = time.monotonic() - doc.related_at >= RELATED_STALE_SECONDS  # as the server
        t0 = time.perf_counter()
        try:
            async with self.connection() as conn:
                await self.memory.recall(
                    conn, self.ident, doc.text(), "python", views, related=related
                )
        except Exception as exc:
            self.stats.fail("code_action_refresh", exc)
            return
        self.stats.add("code_action_refresh", (time.perf_counter() - t0) * 1000)
        if related:
            doc.related_at = time.monotonic()
        done = time.monotonic()
        doc.recalled.update((str(v.problem_id), done) for v in views)

    async def apply(self) -> None:
        doc = self.rng.choice(self.documents)
        related = [r for v in doc.views for r in v.related if r["kind"] == "solution"]
        if not related:
            return
        t0 = time.perf_counter()
        try:
            async with self.connection() as conn:
                await self.memory.record_applied(conn, self.rng.choice(related))
        except Exception as exc:
            self.stats.fail("apply", exc)
            return
        self.stats.add("apply", (time.perf_counter() - t0) * 1000)

    async def search(self) -> None:
        query = self.new_problem().message
        t0 = time.perf_counter()
        try:
            async with self.connection() as conn:
                await self.memory.search(conn, self.ident, query, limit=10)
        except Exception as exc:
            self.stats.fail("search", exc)
            return
        self.stats.add("search", (time.perf_counter() - t0) * 1000)


QUERY_VOCAB = vocabularies()[1]


def server_cpu_seconds(data_dir: Path | None) -> float | None:
    """utime + stime of the embedded postmaster and its live backends, plus what it reaped."""
    if data_dir is None:
        return None
    try:
        postmaster = (data_dir / "pgdata" / "postmaster.pid").read_text().split()[0]
    except (OSError, IndexError):
        return None
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            stat = (proc / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        pid, ppid = proc.name, fields[1]
        if pid == postmaster:
            total += sum(int(x) for x in fields[11:15])  # utime stime cutime cstime
        elif ppid == postmaster:
            total += int(fields[11]) + int(fields[12])
    return total / ticks


async def setup(admin_url: str, args: argparse.Namespace) -> list[tuple[str, Any, Any]]:
    """Seed the memory, create the roles, spread the rows over the developers."""
    async with connection(admin_url) as conn:
        seeded = await seed_memory(conn, args.solutions, seed=args.seed)
        log(f"seeded {seeded.solutions} solutions")
        await team_store.setup_developer_group(conn)
        devs = []
        for n in range(args.developers):
            role, password = f"cc_load_dev{n}", f"pw-{n}-{random.Random(n).random()}"
            user_id = await team_store.create_developer(conn, f"dev{n}@example.com", role, password)
            devs.append((_url_as(admin_url, role, password), user_id))
        repo_id = await identity_store.ensure_repo(conn, "/home/dev/project", name="project")
        ids = [d[1] for d in devs]
        for table in ("past_solutions", "detected_problems", "items"):
            await conn.execute(
                f"UPDATE {table} SET user_id = (%s::uuid[])[1 + abs(hashtext(id::text)) %% %s]",
                (ids, len(ids)),
            )
        await conn.execute("VACUUM ANALYZE")
        cur = await conn.execute(
            "SELECT COUNT(*) FILTER (WHERE visibility = 'team') AS team, COUNT(*) AS n"
            " FROM past_solutions"
        )
        row = await cur.fetchone()
        log(f"{len(devs)} developer roles; {row['team']} of {row['n']} solutions shared")
        cur = await conn.execute(
            "SELECT relrowsecurity FROM pg_class WHERE relname = 'past_solutions'"
        )
        assert (await cur.fetchone())["relrowsecurity"], "row-level security is off"
        total = int(row["n"])
    async with connection(devs[0][0]) as conn:  # RLS at work: dev0 sees its own + team rows
        cur = await conn.execute("SELECT COUNT(*) AS n FROM past_solutions")
        visible = int((await cur.fetchone())["n"])
    log(f"dev0 sees {visible} of {total} solutions")
    args.visible_to_dev0 = visible
    return [(url, user_id, repo_id) for url, user_id in devs]


async def run_editors(
    args: argparse.Namespace,
    devs: list[tuple[int, str, Any, Any, float]],
    ready: Any,
    go: Any,
) -> tuple[Stats, list[Developer], float]:
    """Open the editors of `devs` ((n, url, user id, repo id, seed)), call `ready()`, wait for
    `go()` to give the seconds to run, then run them. Returns their stats, the editors and the
    CPU seconds this process used while they ran."""
    stats = Stats()
    developers = [
        Developer(n, url, uid, rid, args, stats, random.Random(seed))
        for n, url, uid, rid, seed in devs
    ]
    for group in range(0, len(developers), 5):  # editors start in waves, not all at once
        await asyncio.gather(*(d.open() for d in developers[group : group + 5]))
    await ready()
    seconds = await go()
    own0 = time.process_time()
    until = time.monotonic() + seconds
    try:
        await asyncio.gather(*(d.run(until) for d in developers))
    finally:
        for d in developers:
            await d.pool.close()
    return stats, developers, time.process_time() - own0


async def worker(args: argparse.Namespace) -> None:
    """One editor process (`--worker`): its developers as JSON on stdin's first line, "go" on
    the next once every process is ready; prints its stats as JSON."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    devs = [
        (int(n), str(url), uuid.UUID(uid), uuid.UUID(rid), float(seed))
        for n, url, uid, rid, seed in json.loads(await reader.readline())
    ]

    async def ready() -> None:
        print("ready", flush=True)

    async def go() -> float:
        return float((await reader.readline()).decode().split()[1])

    stats, developers, cpu = await run_editors(args, devs, ready, go)
    print(
        json.dumps(
            {
                "times": stats.times,
                "errors": dict(stats.errors),
                "examples": stats.examples,
                "connect_retries": stats.connect_retries,
                "recalled": sum(d.recalled for d in developers),
                "cpu_seconds": cpu,
            }
        ),
        flush=True,
    )


async def bench(args: argparse.Namespace, admin_url: str, data_dir: Path | None) -> dict[str, Any]:
    devs = await setup(admin_url, args)
    rng = random.Random(args.seed)
    plan_ = [(n, url, str(uid), str(rid), rng.random()) for n, (url, uid, rid) in enumerate(devs)]
    processes = max(1, min(args.processes, len(plan_)))
    log(
        f"{len(plan_)} developers in {processes} editor processes connect and open"
        f" {args.documents} documents each"
    )
    opened = time.monotonic()
    argv = [sys.executable, str(Path(__file__).resolve()), "--worker", *sys.argv[1:]]
    procs = []
    for k in range(processes):
        proc = await asyncio.create_subprocess_exec(
            *argv, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE
        )
        assert proc.stdin is not None
        proc.stdin.write((json.dumps(plan_[k::processes]) + "\n").encode())
        await proc.stdin.drain()
        procs.append(proc)
    for proc in procs:  # every editor has opened its documents
        assert proc.stdout is not None
        line = await proc.stdout.readline()
        if line.strip() != b"ready":
            raise RuntimeError(f"an editor process failed while opening: {line!r}")
    opening_seconds = time.monotonic() - opened
    load_start = os.getloadavg()
    cpu0, wall0 = server_cpu_seconds(data_dir), time.monotonic()
    log(f"{len(plan_)} developers for {args.seconds}s")
    for proc in procs:
        assert proc.stdin is not None
        proc.stdin.write(f"go {args.seconds}\n".encode())
        await proc.stdin.drain()
    outputs = [json.loads((await proc.communicate())[0]) for proc in procs]
    wall = time.monotonic() - wall0
    cpu1 = server_cpu_seconds(data_dir)
    times: dict[str, list[float]] = {}
    errors: Counter[str] = Counter()
    for out in outputs:
        for kind, values in out["times"].items():
            times.setdefault(kind, []).extend(values)
        errors.update(out["errors"])
    requests = {k: percentiles(v) for k, v in sorted(times.items())}
    total = sum(len(v) for k, v in times.items() if k != "open_document")
    return {
        "benchmark": "team_load",
        "machine": {
            "cpus": os.cpu_count(),
            "load_average_at_start": load_start,
            "load_average_at_end": os.getloadavg(),
        },
        "developers": args.developers,
        "editor_processes": processes,
        "seconds": round(wall, 1),
        "solutions": args.solutions,
        "solutions_visible_to_one_developer": args.visible_to_dev0,
        "problems_per_document": args.problems,
        "documents_per_developer": args.documents,
        "rates_seconds": {
            "diagnostics_every": args.diagnostics_every,
            "code_action_every": args.code_action_every,
            "apply_every": args.apply_every,
            "search_every": args.search_every,
        },
        "opening_seconds": round(opening_seconds, 1),
        "connect_retries": sum(o["connect_retries"] for o in outputs),
        "requests": requests,
        "requests_per_second": round(total / wall, 1),
        "errors": sum(errors.values()),
        "errors_by_kind": dict(errors),
        "error_examples": [e for o in outputs for e in o["examples"]][:5],
        "server_cpu": {
            "cores_busy": round((cpu1 - cpu0) / wall, 2) if cpu0 is not None and cpu1 else None,
            "cpu_seconds": round(cpu1 - cpu0, 1) if cpu0 is not None and cpu1 else None,
        },
        "editor_processes_cpu_cores_busy": round(sum(o["cpu_seconds"] for o in outputs) / wall, 2),
        "problems_recalled_by_diagnostics": sum(o["recalled"] for o in outputs),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--developers", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=120)
    parser.add_argument("--solutions", type=int, default=20_000)
    parser.add_argument("--documents", type=int, default=3)
    parser.add_argument("--problems", type=int, default=30)
    parser.add_argument("--diagnostics-every", type=float, default=2.0)
    parser.add_argument("--code-action-every", type=float, default=1.0)
    parser.add_argument("--apply-every", type=float, default=30.0)
    parser.add_argument("--search-every", type=float, default=60.0)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--processes", type=int, default=4, help="editor processes the developers are spread over"
    )
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        asyncio.run(worker(args))
        return
    with database("ccbench-team") as db:
        result = asyncio.run(bench(args, db.url, db.data_dir))
    print(json.dumps(result, indent=2, default=str))


if __name__ == "__main__":
    main()
