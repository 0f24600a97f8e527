"""`codecortex search QUERY`: past solutions and knowledge, ranked, with snippets."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from codecortex import presentation
from codecortex.config import Settings
from codecortex.knowledge.docs import ingest_workspace
from codecortex.memory.identity import resolve_identity
from codecortex.memory.problem_memory import Memory
from codecortex.store.pool import connect


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("query", nargs="+")
    parser.add_argument("--limit", type=int, default=10)
    parser.add_argument("--json", action="store_true")


async def run(args: argparse.Namespace, settings: Settings) -> int:
    query = " ".join(args.query)
    async with connect(settings) as conn:
        ident, root = await resolve_identity(conn, settings, Path.cwd())
        memory = Memory(settings)
        await ingest_workspace(  # incremental: only docs whose content changed
            conn, memory.embedder, ident.repo_id, root, max_file_size=settings.max_file_size,
            user_id=ident.user_id, visibility="team" if settings.share_docs else "private",
        )  # fmt: skip
        hits = await memory.search(conn, ident, query, args.limit)
    results = [presentation.search_result_json(h, root) for h in hits]
    if args.json:
        print(json.dumps({"query": query, "results": results}, indent=2))
        return 0
    if not results:
        print(f"nothing found for {query!r}")
        return 0
    for n, r in enumerate(results, 1):
        why = "+".join(r["why"])
        owner = f" · {r['owner']}" if r.get("owner") else ""
        print(f"{n}. [{r['kind']}] {r['title']}  ({why}, score {r['score']:.4f}{owner})")
        if r.get("uri"):
            print(f"   {r['uri']}:{r['line'] + 1}")
        for line in r["snippet"].splitlines()[:8]:
            print(f"   {line}")
    return 0
