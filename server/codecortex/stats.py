"""Figures about what CodeCortex has learned and how it helped (CLI `stats`, `codecortex.stats`)."""

from __future__ import annotations

from typing import Any

import psycopg

from codecortex.store import stats as stats_store


async def collect_stats(conn: psycopg.AsyncConnection[Any], user_id: Any) -> dict[str, Any]:
    totals = await stats_store.totals(conn, user_id)
    top = await stats_store.top_signatures(conn, user_id, limit=10)
    by_source = await stats_store.solutions_by_source(conn, user_id)
    return {
        **totals,
        "topSignatures": top,
        "solutionsBySource": by_source,
    }
