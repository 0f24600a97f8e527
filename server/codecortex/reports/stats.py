"""Figures about what CodeCortex has learned and how it helped (CLI `stats`, `report`, and the
server command `codecortex.stats`). Read only: storing the metrics and awarding achievements is
`achievements.record_progress`, called where work is recorded."""

from __future__ import annotations

from typing import Any

import psycopg

from codecortex.reports import achievements, metrics
from codecortex.store import metrics as metrics_store
from codecortex.store import prompts as prompt_store
from codecortex.store import stats as stats_store


async def collect_stats(conn: psycopg.AsyncConnection[Any], user_id: Any) -> dict[str, Any]:
    """Totals, top problems, metrics, trend, acceptance, achievements earned so far, prompts."""
    totals = await stats_store.totals(conn, user_id)
    top = await stats_store.top_signatures(conn, user_id, limit=10)
    by_source = await stats_store.solutions_by_source(conn, user_id)
    current = await metrics.current_metrics(conn, user_id)
    return {
        **totals,
        "topSignatures": top,
        "solutionsBySource": by_source,
        "metrics": metrics.metrics_json(current["metrics"]),
        "weekly": current["weekly"],
        "acceptanceBySource": await metrics_store.acceptance_by_source(conn, user_id),
        "insightStatus": await metrics_store.insight_status(conn, user_id),
        "achievements": await achievements.list_achievements(conn, user_id),
        "promptTemplates": await prompt_store.effectiveness_json(conn),
    }
