"""The embedding backfill job: give every past solution and knowledge item a vector from the
current embedder. Scheduled when the embedder changes (and at start for remote embedders, whose
vectors are not computed inline); vectors of other models stay, side by side."""

from __future__ import annotations

from typing import Any

import numpy as np

from codecortex.jobs import JobContext
from codecortex.knowledge.embeddings import Embedder
from codecortex.store import jobs as queue
from codecortex.store import solutions as solution_store

JOB_TYPE = "embed_backfill"
BATCH = 64


async def schedule(conn: Any, embedder: Embedder) -> str:
    return await queue.enqueue(
        conn, JOB_TYPE, {"model": embedder.name}, dedupe_key=f"{JOB_TYPE}:{embedder.name}"
    )


async def run_backfill(ctx: JobContext, embedder: Embedder) -> dict[str, Any]:
    """Embed everything that has no vector for `embedder` yet, in batches, with progress."""
    if ctx.payload.get("model") not in (None, embedder.name):
        return {"skipped": f"embedder is now {embedder.name}"}
    dimension = await embedder.ensure_dimension()
    async with ctx.connection() as conn:
        await solution_store.ensure_vector_index(conn, dimension)
    done = 0
    while True:
        async with ctx.connection() as conn:
            rows = await solution_store.missing_embeddings(conn, embedder.name, limit=BATCH)
        if not rows:
            break
        vectors = await embedder.embed([r["text"] for r in rows])
        async with ctx.connection() as conn:
            for kind in ("past_solution", "item"):
                batch = [
                    (r["id"], np.asarray(v, dtype=np.float32), r["content_hash"])
                    for r, v in zip(rows, vectors, strict=True)
                    if r["owner_kind"] == kind
                ]
                await solution_store.upsert_embeddings(conn, kind, batch, embedder.name)
        done += len(rows)
        await ctx.progress(0.0 if not done else min(0.99, done / (done + BATCH)),
                           f"{done} embedded")  # fmt: skip
    return {"embedded": done, "model": embedder.name}
