"""Benchmark retrieval for new problems over a memory of 100,000 past solutions.

Seeds past solutions generated from the signature corpus (bench/common.py: real tool messages
with new names, types, modules, paths and numbers, generated code around them; Zipf-like group
sizes; 20% private rows of teammates, invisible to the benchmark user), then times the product's
retrieval for new occurrences of the same problems:

- `recall`: `Memory.recall` for one new problem, as the language server runs it for each
  observed document: signature history, exact-signature solutions (`solutions_for_signatures`)
  replayed on the new code, the query embedded, hybrid search (signature + pgvector HNSW +
  full-text, fused by reciprocal rank) and the results logged (`knowledge_search_results`).
- `search`: `Memory.search` with the new message as free text (no signature): what
  `codecortex search` and the `codecortex.search` command do; only vectors and keywords.

Queries are held-out variants: for a group with two or more real messages one message never
seeds the memory and is the query's template; every query's names come from a vocabulary
disjoint from the seeds' (so no query text was ever stored). The right answer for a query of
group G is any visible past solution of group G: recall@5 is the share of queries with one in
the top 5 of the hybrid results (`view.related`, limit 5 as in the product), for `search` in the
top 5 of the search results. Groups are sampled uniformly, so rare problems count as much as
common ones.

For each `hnsw.ef_search` value it also reports the HNSW candidate recall: the share of the
exact 40 nearest visible-or-not vectors (the semantic leg's candidate list, numpy brute force
over all stored vectors) that the index returns.

    .venv/bin/python bench/retrieval.py [--solutions 100000] [--queries 1000]
        [--ef 20,40,64,100,200] [--sweep-queries 300]

Prints one JSON object on stdout; progress on stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

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

from codecortex.config import load_settings
from codecortex.diagnostics import Diagnostic, Range
from codecortex.memory import Identity, Memory, ProblemView
from codecortex.signatures import classify_problem_type
from codecortex.store import problems as problem_store
from codecortex.store import retrieval as retrieval_store

TARGET_P95_MS = 15.0
TARGET_RECALL = 0.95


def make_queries(n: int, seed: int) -> list[Occurrence]:
    rng = random.Random(seed + 1000)
    _, query_vocab = vocabularies()
    p = plan()
    out = []
    for i in range(n):
        group = p.groups[i % len(p.groups)]
        out.append(vary(rng.choice(p.query_rows[group]), query_vocab, rng, p.keys[group]))
    rng.shuffle(out)
    return out


def document_for(q: Occurrence) -> tuple[str, Range]:
    """A small file holding the problem's statement (what recall replays fixes on)."""
    if q.language == "python":
        text = f"def handler(request):\n    {q.statement}\n    return None\n"
    elif q.language == "rust":
        text = f"fn handler() {{\n    {q.statement};\n}}\n"
    else:
        text = f"function handler(request) {{\n    {q.statement};\n}}\n"
    return text, Range.of(1, 4, 1, 4 + len(q.statement))


async def prepare_views(
    conn: Any, ident: Identity, queries: list[Occurrence]
) -> list[tuple[Occurrence, str, ProblemView]]:
    """One open detected problem per query (as `observe` would have recorded it; untimed)."""
    out = []
    for q in queries:
        text, rng = document_for(q)
        diag = Diagnostic(q.tool, q.code, q.message, rng)
        ptype = classify_problem_type(q.signature, 1)
        pid = await problem_store.insert_problem(
            conn,
            problem_store.NewProblem(
                user_id=ident.user_id,
                repo_id=ident.repo_id,
                problem_type=ptype,
                signature=q.signature.key,
                values=q.values,
                tool=q.signature.tool,
                code=q.signature.code,
                language=q.language,
                severity=1,
                file_path=q.file_path,
                line=1,
                column=4,
                end_line=1,
                end_column=4 + len(q.statement),
                message=q.message,
                code_context=q.statement,
                context={"statement": q.statement},
                detection_method="editor",
            ),
        )
        out.append((q, text, ProblemView(diag, q.signature, pid, ptype)))
    return out


def _hit(results: list[dict[str, Any]], group: str, groups: dict[str, str]) -> bool:
    return any(r["kind"] == "solution" and groups.get(str(r["id"])) == group for r in results[:5])


async def run_recall(
    conn: Any, memory: Memory, ident: Identity, views: list[tuple[Occurrence, str, ProblemView]],
    groups: dict[str, str],
) -> dict[str, Any]:  # fmt: skip
    times: list[float] = []
    hits = 0
    fixes = 0
    for q, text, view in views:
        view.history, view.fixes, view.related = {}, [], []
        t0 = time.perf_counter()
        await memory.recall(conn, ident, text, q.language, [view])
        times.append((time.perf_counter() - t0) * 1000)
        hits += _hit(view.related, q.group, groups)
        fixes += bool(view.fixes)
    return {
        **percentiles(times),
        "recall_at_5": round(hits / len(views), 4),
        "with_replayed_fix": round(fixes / len(views), 4),
    }


async def run_search(
    conn: Any, memory: Memory, ident: Identity, views: list[tuple[Occurrence, str, ProblemView]],
    groups: dict[str, str],
) -> dict[str, Any]:  # fmt: skip
    times: list[float] = []
    hits = 0
    for q, _text, _view in views:
        t0 = time.perf_counter()
        results = await memory.search(conn, ident, q.message, limit=5)
        times.append((time.perf_counter() - t0) * 1000)
        hits += _hit(results, q.group, groups)
    return {**percentiles(times), "recall_at_5": round(hits / len(views), 4)}


async def candidate_recall(
    conn: Any, memory: Memory, views: list[tuple[Occurrence, str, ProblemView]],
    matrix: np.ndarray,
) -> float:  # fmt: skip
    """Share of the semantic leg's candidates (LIMIT CANDIDATES, HNSW index scan) that belong to
    the exact nearest CANDIDATES: their distance is at most the exact CANDIDATES-th distance
    (distances, not ids, so that equally near vectors count alike)."""
    n = retrieval_store.CANDIDATES
    found = 0
    for _q, _text, view in views:
        query = f"{view.diagnostic.message} {view.signature.template}"
        (vec,) = await memory.query_vectors([query])
        assert vec is not None
        similarities = matrix @ vec
        kth = float(np.partition(-similarities, n - 1)[n - 1])  # -(n-th highest similarity)
        cur = await conn.execute(
            "SELECT e.embedding::vector(384) <=> %s::vector(384) AS d FROM embeddings e"
            " WHERE e.dimension = 384 AND e.model = %s AND e.owner_kind = ANY(%s)"
            " ORDER BY e.embedding::vector(384) <=> %s::vector(384) LIMIT %s",
            (vec, memory.embedder.name, ["past_solution", "item"], vec, n),
        )
        found += sum(1 for r in await cur.fetchall() if float(r["d"]) - 1 <= kth + 1e-5)
    return round(found / (n * len(views)), 4)


def _array(v: Any) -> np.ndarray:
    return np.asarray(v.to_numpy() if hasattr(v, "to_numpy") else v, dtype=np.float32)


async def bench(args: argparse.Namespace, url: str) -> dict[str, Any]:
    settings = load_settings({"databaseUrl": url}, env={})
    memory = Memory(settings)
    async with connection(url) as conn:
        started = time.perf_counter()
        seeded = await seed_memory(conn, args.solutions, seed=args.seed)
        seed_seconds = time.perf_counter() - started
        log(f"seeded {seeded.solutions} solutions in {seed_seconds:.1f}s")
        ident = Identity(seeded.user_id, "bench-dev", seeded.repo_id, "private")
        # A plan of the exact same product settings the pool uses (connection.py _configure).
        from codecortex.store.connection import _configure

        await _configure(conn)
        cur = await conn.execute("SHOW hnsw.ef_search")
        product_ef = int((await cur.fetchone())["hnsw.ef_search"])

        queries = make_queries(args.queries, args.seed)
        views = await prepare_views(conn, ident, queries)
        log(f"{len(views)} held-out queries over {len({q.group for q in queries})} groups")

        log("warming up")
        await run_recall(conn, memory, ident, views[:200], seeded.solution_group)
        await run_search(conn, memory, ident, views[:200], seeded.solution_group)

        log(f"recall path, hnsw.ef_search={product_ef} (the product's setting)")
        recall = await run_recall(conn, memory, ident, views, seeded.solution_group)
        log(f"  {recall}")
        search = await run_search(conn, memory, ident, views, seeded.solution_group)
        log(f"  search {search}")

        log("loading all vectors for the exact nearest neighbours")
        cur = await conn.execute(
            "SELECT embedding::vector(384) AS v FROM embeddings WHERE model = %s",
            (memory.embedder.name,),
        )
        rows = await cur.fetchall()
        matrix = np.stack([_array(r["v"]) for r in rows])
        del rows

        sweep = []
        sample = views[: args.sweep_queries]
        for ef in args.ef:
            await conn.execute(f"SET hnsw.ef_search = {int(ef)}")
            r = await run_recall(conn, memory, ident, sample, seeded.solution_group)
            s = await run_search(conn, memory, ident, sample, seeded.solution_group)
            c = await candidate_recall(conn, memory, sample, matrix)
            row = {
                "ef_search": ef,
                "recall_p50_ms": r["p50_ms"],
                "recall_p95_ms": r["p95_ms"],
                "recall_p99_ms": r["p99_ms"],
                "recall_at_5": r["recall_at_5"],
                "search_p50_ms": s["p50_ms"],
                "search_p95_ms": s["p95_ms"],
                "search_recall_at_5": s["recall_at_5"],
                "hnsw_candidate_recall": c,
            }
            log(f"  {row}")
            sweep.append(row)
        await conn.execute("RESET hnsw.ef_search")

        cur = await conn.execute(
            "SELECT (SELECT COUNT(*) FROM past_solutions) AS solutions,"
            " (SELECT COUNT(*) FROM detected_problems) AS problems,"
            " (SELECT COUNT(*) FROM embeddings) AS embeddings,"
            " (SELECT COUNT(*) FROM items) AS items,"
            " pg_size_pretty(pg_relation_size('idx_embeddings_hnsw_384')) AS hnsw_size"
        )
        sizes = dict(await cur.fetchone())
    sizes_per_group = sorted(seeded.by_group.values())
    return {
        "benchmark": "retrieval",
        "machine": {"cpus": os.cpu_count(), "load_average_at_end": os.getloadavg()},
        "database": sizes,
        "seed": {
            "solutions": seeded.solutions,
            "visible_to_user": seeded.visible,
            "groups": len(seeded.by_group),
            "solutions_per_group": {
                "min": sizes_per_group[0],
                "median": sizes_per_group[len(sizes_per_group) // 2],
                "max": sizes_per_group[-1],
            },
            "seconds": round(seed_seconds, 1),
            "phases_seconds": seeded.seconds,
        },
        "queries": len(views),
        "ef_search": product_ef,
        "recall_path": recall,
        "search_path": search,
        "ef_search_sweep": sweep,
        "targets": {
            "p95_ms": TARGET_P95_MS,
            "recall_at_5": TARGET_RECALL,
            "met": recall["p95_ms"] < TARGET_P95_MS and recall["recall_at_5"] >= TARGET_RECALL,
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--solutions", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--sweep-queries", type=int, default=300)
    parser.add_argument(
        "--ef", type=lambda s: [int(x) for x in s.split(",")], default=[20, 40, 64, 100, 200]
    )
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    with database("ccbench-retrieval") as db:
        result = asyncio.run(bench(args, db.url))
    print(json.dumps(result, indent=2, default=str))


if __name__ == "__main__":
    main()
