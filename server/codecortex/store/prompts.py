"""Prompt templates, their executions and effectiveness (sql/004_prompts.sql; dict-row
connections). Nothing here ever sees an API key."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from codecortex.llm.prompts import PromptTemplate


async def register_template(conn: psycopg.AsyncConnection[Any], template: PromptTemplate) -> Any:
    """The id of (name, version); inserted on first use, content refreshed when it changed."""
    cur = await conn.execute(
        """
        INSERT INTO prompt_templates (name, version, description, system_prompt, user_prompt,
            output_schema, variables, content_hash)
        VALUES (%s, %s, %s, %s, %s, %s, %s, %s)
        ON CONFLICT (name, version) DO UPDATE SET
            description = EXCLUDED.description, system_prompt = EXCLUDED.system_prompt,
            user_prompt = EXCLUDED.user_prompt, output_schema = EXCLUDED.output_schema,
            variables = EXCLUDED.variables, content_hash = EXCLUDED.content_hash
            WHERE prompt_templates.content_hash IS DISTINCT FROM EXCLUDED.content_hash
        RETURNING id
        """,
        (
            template.name,
            template.version,
            template.description,
            template.system,
            template.user,
            Jsonb(template.schema),
            sorted(template.placeholders),
            template.digest,
        ),
    )
    row = await cur.fetchone()
    if row is not None:
        return row["id"]
    cur = await conn.execute(
        "SELECT id FROM prompt_templates WHERE name = %s AND version = %s",
        (template.name, template.version),
    )
    row = await cur.fetchone()
    assert row is not None
    return row["id"]


@dataclass
class NewExecution:
    template_id: Any
    provider: str
    model: str
    outcome: str
    user_id: Any = None
    repo_id: Any = None
    problem_id: Any = None
    cache_key: str | None = None
    cached: bool = False
    prompt_tokens: int = 0
    completion_tokens: int = 0
    latency_ms: int = 0
    redactions: int = 0
    error: str | None = None


async def record_execution(conn: psycopg.AsyncConnection[Any], e: NewExecution) -> Any:
    cur = await conn.execute(
        """
        INSERT INTO prompt_executions (template_id, user_id, repo_id, problem_id, provider, model,
            cache_key, cached, prompt_tokens, completion_tokens, latency_ms, redactions, outcome,
            error)
        VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
        RETURNING id
        """,
        (
            e.template_id,
            e.user_id,
            e.repo_id,
            e.problem_id,
            e.provider,
            e.model,
            e.cache_key,
            e.cached,
            e.prompt_tokens,
            e.completion_tokens,
            e.latency_ms,
            e.redactions,
            e.outcome,
            (e.error or "")[:1000] or None,
        ),
    )
    row = await cur.fetchone()
    assert row is not None
    return row["id"]


async def set_outcome(
    conn: psycopg.AsyncConnection[Any], execution_id: Any, outcome: str, error: str | None
) -> None:
    await conn.execute(
        "UPDATE prompt_executions SET outcome = %s, error = %s WHERE id = %s",
        (outcome, (error or "")[:1000] or None, execution_id),
    )


async def executions(
    conn: psycopg.AsyncConnection[Any], problem_id: Any = None, limit: int = 50
) -> list[dict[str, Any]]:
    cur = await conn.execute(
        "SELECT e.*, t.name AS template_name, t.version AS template_version"
        " FROM prompt_executions e JOIN prompt_templates t ON t.id = e.template_id"
        " WHERE %(p)s::uuid IS NULL OR e.problem_id = %(p)s"
        " ORDER BY e.created_at DESC LIMIT %(n)s",
        {"p": problem_id, "n": limit},
    )
    return [dict(r) for r in await cur.fetchall()]


async def effectiveness(conn: psycopg.AsyncConnection[Any]) -> list[dict[str, Any]]:
    """Per template version that was used at least once: executions, presented fixes, actions
    and the acceptance rate ((applied + modified) / presented)."""
    cur = await conn.execute(
        "SELECT * FROM prompt_effectiveness WHERE executions > 0"
        " ORDER BY template_name, template_version"
    )
    return [dict(r) for r in await cur.fetchall()]


async def effectiveness_json(conn: psycopg.AsyncConnection[Any]) -> list[dict[str, Any]]:
    """`effectiveness` for `codecortex stats` (camelCase, rounded acceptance rate)."""
    out = []
    for r in await effectiveness(conn):
        rate = r["acceptance_rate"]
        out.append(
            {
                "template": r["template_name"],
                "version": int(r["template_version"]),
                "executions": int(r["executions"]),
                "modelAnswers": int(r["model_answers"]),
                "cacheHits": int(r["cache_hits"]),
                "failures": int(r["failures"]),
                "presented": int(r["presented"]),
                "applied": int(r["applied"]),
                "modified": int(r["modified"]),
                "rejected": int(r["rejected"]),
                "acceptanceRate": None if rate is None else round(float(rate), 3),
                "tokens": int(r["tokens"]),
            }
        )
    return out
