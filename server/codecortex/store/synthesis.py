"""Model outputs: the AI cache, synthesized fixes, model insights, analysis sampling and learning
paths (dict-row connections). Over 400 lines: one query group per model output, each short."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

# --- codecortex_ai_cache ---------------------------------------------------------------------


async def cache_get(conn: psycopg.AsyncConnection[Any], cache_key: str) -> dict[str, Any] | None:
    """The cached output for `cache_key` unless it expired."""
    cur = await conn.execute(
        "SELECT output, model_used, token_count, processing_time_ms, created_at"
        " FROM codecortex_ai_cache WHERE cache_key = %s AND expires_at > NOW()",
        (cache_key,),
    )
    row = await cur.fetchone()
    return dict(row) if row else None


async def cache_put(
    conn: psycopg.AsyncConnection[Any],
    *,
    cache_key: str,
    agent: str,
    agent_version: str,
    input_hash: str,
    output: dict[str, Any],
    token_count: int,
    processing_time_ms: int,
    model: str,
    ttl_seconds: int,
) -> None:
    await conn.execute(
        """
        INSERT INTO codecortex_ai_cache (cache_key, ai_agent, agent_version, input_hash, output,
            token_count, processing_time_ms, model_used, expires_at)
        VALUES (%s, %s, %s, %s, %s, %s, %s, %s, NOW() + make_interval(secs => %s))
        ON CONFLICT (cache_key) DO UPDATE SET output = EXCLUDED.output,
            token_count = EXCLUDED.token_count, processing_time_ms = EXCLUDED.processing_time_ms,
            model_used = EXCLUDED.model_used, created_at = NOW(), expires_at = EXCLUDED.expires_at
        """,
        (
            cache_key,
            agent,
            agent_version,
            input_hash,
            Jsonb(output),
            token_count,
            processing_time_ms,
            model,
            ttl_seconds,
        ),
    )


async def cache_purge_expired(conn: psycopg.AsyncConnection[Any]) -> int:
    cur = await conn.execute("DELETE FROM codecortex_ai_cache WHERE expires_at <= NOW()")
    return cur.rowcount or 0


# --- problems ----------------------------------------------------------------------------------


async def get_problem(conn: psycopg.AsyncConnection[Any], problem_id: Any) -> dict[str, Any] | None:
    cur = await conn.execute("SELECT * FROM detected_problems WHERE id = %s", (problem_id,))
    row = await cur.fetchone()
    return dict(row) if row else None


# --- synthesized_solutions -----------------------------------------------------------------------


@dataclass
class NewSynthesis:
    problem_id: Any
    user_id: Any
    execution_id: Any
    edits: list[dict[str, Any]]
    explanation: str
    confidence: float
    primary_agent: str
    contributing_agents: list[str]
    contributing_sources: list[dict[str, Any]]
    primary_source_id: Any = None
    related_items: list[Any] = field(default_factory=list)
    file_path: str | None = None
    document_version: int | None = None
    language: str | None = None
    solution_code: str = ""
    before_text: str = ""
    after_text: str = ""
    diff: str = ""


async def insert_synthesis(conn: psycopg.AsyncConnection[Any], s: NewSynthesis) -> Any:
    cur = await conn.execute(
        """
        INSERT INTO synthesized_solutions (problem_id, user_id, execution_id, solution_code,
            edits, explanation, confidence_score, primary_agent, contributing_agents,
            primary_source_id, related_items, file_path, document_version, language,
            before_text, after_text, diff, contributing_sources)
        VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
        RETURNING id
        """,
        (
            s.problem_id,
            s.user_id,
            s.execution_id,
            s.solution_code,
            Jsonb(s.edits),
            s.explanation,
            max(0.0, min(1.0, s.confidence)),
            s.primary_agent,
            s.contributing_agents,
            s.primary_source_id,
            list(s.related_items),
            s.file_path,
            s.document_version,
            s.language,
            s.before_text,
            s.after_text,
            s.diff,
            Jsonb(s.contributing_sources),
        ),
    )
    row = await cur.fetchone()
    assert row is not None
    return row["id"]


async def get_synthesis(conn: psycopg.AsyncConnection[Any], synth_id: Any) -> dict[str, Any] | None:
    cur = await conn.execute(
        "SELECT s.*, t.name AS template_name, t.version AS template_version"
        " FROM synthesized_solutions s"
        " LEFT JOIN prompt_executions e ON e.id = s.execution_id"
        " LEFT JOIN prompt_templates t ON t.id = e.template_id WHERE s.id = %s",
        (synth_id,),
    )
    row = await cur.fetchone()
    return dict(row) if row else None


async def set_user_action(
    conn: psycopg.AsyncConnection[Any],
    synth_id: Any,
    action: str,
    *,
    past_solution_id: Any = None,
    feedback: str | None = None,
    modifications: str | None = None,
) -> bool:
    cur = await conn.execute(
        """
        UPDATE synthesized_solutions SET user_action = %s, action_at = NOW(),
            past_solution_id = COALESCE(%s, past_solution_id),
            user_feedback = COALESCE(%s, user_feedback),
            modifications_made = COALESCE(%s, modifications_made)
        WHERE id = %s RETURNING id
        """,
        (action, past_solution_id, feedback, modifications, synth_id),
    )
    return await cur.fetchone() is not None


async def syntheses_for_problem(
    conn: psycopg.AsyncConnection[Any], problem_id: Any
) -> list[dict[str, Any]]:
    cur = await conn.execute(
        "SELECT * FROM synthesized_solutions WHERE problem_id = %s ORDER BY presented_at DESC",
        (problem_id,),
    )
    return [dict(r) for r in await cur.fetchall()]


# --- model insights (code_insights + insight_priorities) ------------------------------------------


@dataclass
class NewInsight:
    repo_id: Any
    type: str
    title: str
    summary: str
    detail: dict[str, Any]
    file_path: str | None
    line_start: int | None
    line_end: int | None
    fingerprint: str
    severity: str
    ai_agent: str
    confidence: float
    priority_score: float
    priority_category: str
    effort_estimate: str
    business_impact: str
    actionability_score: float
    quality_factors: dict[str, Any] = field(default_factory=dict)
    job_id: str | None = None


async def upsert_insight(conn: psycopg.AsyncConnection[Any], i: NewInsight) -> Any:
    """Insert or refresh (same fingerprint) an insight and its priority; returns its id."""
    cur = await conn.execute(
        """
        INSERT INTO code_insights (repo_id, job_id, type, title, summary, detail, file_path,
            line_start, line_end, fingerprint_sha, severity, ai_agent, confidence_score)
        VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
        ON CONFLICT (fingerprint_sha) DO UPDATE SET title = EXCLUDED.title,
            summary = EXCLUDED.summary, detail = EXCLUDED.detail,
            line_start = EXCLUDED.line_start, line_end = EXCLUDED.line_end,
            severity = EXCLUDED.severity, ai_agent = EXCLUDED.ai_agent,
            confidence_score = EXCLUDED.confidence_score, last_seen_at = NOW(),
            expires_at = NOW() + INTERVAL '90 days'
        RETURNING id
        """,
        (
            i.repo_id,
            i.job_id,
            i.type,
            i.title,
            i.summary,
            Jsonb(i.detail),
            i.file_path,
            i.line_start,
            i.line_end,
            i.fingerprint,
            i.severity,
            i.ai_agent,
            max(0.0, min(1.0, i.confidence)),
        ),
    )
    row = await cur.fetchone()
    assert row is not None
    insight_id = row["id"]
    await conn.execute(
        """
        INSERT INTO insight_priorities (insight_id, priority_score, priority_category,
            effort_estimate, business_impact, actionability_score, quality_factors)
        VALUES (%s, %s, %s, %s, %s, %s, %s)
        ON CONFLICT (insight_id) DO UPDATE SET priority_score = EXCLUDED.priority_score,
            priority_category = EXCLUDED.priority_category,
            effort_estimate = EXCLUDED.effort_estimate,
            business_impact = EXCLUDED.business_impact,
            actionability_score = EXCLUDED.actionability_score,
            quality_factors = EXCLUDED.quality_factors, calculated_at = NOW()
        """,
        (
            insight_id,
            max(0.0, min(100.0, i.priority_score)),
            i.priority_category,
            i.effort_estimate,
            i.business_impact,
            max(0.0, min(100.0, i.actionability_score)),
            Jsonb(i.quality_factors),
        ),
    )
    return insight_id


async def existing_insights(
    conn: psycopg.AsyncConnection[Any], repo_id: Any, limit: int = 40
) -> list[dict[str, Any]]:
    cur = await conn.execute(
        "SELECT type, title, file_path, line_start, fingerprint_sha FROM code_insights"
        " WHERE repo_id = %s AND status = 'open' ORDER BY created_at DESC LIMIT %s",
        (repo_id, limit),
    )
    return [dict(r) for r in await cur.fetchall()]


async def insert_sampling(
    conn: psycopg.AsyncConnection[Any],
    *,
    repo_id: Any,
    session_id: Any,
    execution_id: Any,
    strategy: str,
    total_files: int,
    sampled: list[str],
    skipped: list[str],
    metadata: dict[str, Any],
    token_budget: int,
    token_usage: int,
) -> Any:
    cur = await conn.execute(
        """
        INSERT INTO analysis_sampling (session_id, repo_id, execution_id, sampling_strategy,
            total_files, files_sampled, files_skipped, sampling_metadata, token_budget,
            token_usage)
        VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING id
        """,
        (
            session_id,
            repo_id,
            execution_id,
            strategy,
            total_files,
            sampled,
            skipped,
            Jsonb(metadata),
            token_budget,
            token_usage,
        ),
    )
    row = await cur.fetchone()
    assert row is not None
    return row["id"]


# --- learning paths --------------------------------------------------------------------------------


async def recurring_problems(
    conn: psycopg.AsyncConnection[Any], user_id: Any, limit: int = 8, min_count: int = 2
) -> list[dict[str, Any]]:
    """The user's most frequent problem signatures (seen at least `min_count` times), with the
    median time to fix and example files and messages."""
    cur = await conn.execute(
        """
        SELECT problem_signature AS signature, MIN(problem_type) AS problem_type,
            MIN(tool) AS tool, MIN(language) AS language,
            COUNT(*) AS occurrences, SUM(seen_count) AS seen,
            COUNT(*) FILTER (WHERE status = 'resolved') AS fixed,
            percentile_cont(0.5) WITHIN GROUP (ORDER BY resolution_time_seconds)
                FILTER (WHERE status = 'resolved') AS median_fix_seconds,
            (ARRAY_AGG(DISTINCT file_path))[1:5] AS files,
            (ARRAY_AGG(error_message ORDER BY detected_at DESC))[1] AS example_message
        FROM detected_problems
        WHERE user_id = %s AND status <> 'ignored'
        GROUP BY problem_signature
        HAVING SUM(seen_count) >= %s
        ORDER BY COUNT(*) * COALESCE(percentile_cont(0.5) WITHIN GROUP
                     (ORDER BY resolution_time_seconds), 60) DESC,
                 COUNT(*) DESC, problem_signature
        LIMIT %s
        """,
        (user_id, min_count, limit),
    )
    return [dict(r) for r in await cur.fetchall()]


async def insert_learning_path(
    conn: psycopg.AsyncConnection[Any],
    *,
    user_id: Any,
    repo_id: Any,
    execution_id: Any,
    title: str,
    duration_weeks: int,
    difficulty_level: str,
    modules: list[dict[str, Any]],
    references: dict[str, Any],
) -> Any:
    cur = await conn.execute(
        """
        INSERT INTO codecortex_learning_paths (user_id, repo_id, execution_id, title,
            duration_weeks, difficulty_level, modules, user_code_references)
        VALUES (%s, %s, %s, %s, %s, %s, %s, %s) RETURNING id
        """,
        (
            user_id,
            repo_id,
            execution_id,
            title,
            duration_weeks,
            difficulty_level,
            Jsonb(modules),
            Jsonb(references),
        ),
    )
    row = await cur.fetchone()
    assert row is not None
    return row["id"]


async def get_learning_path(
    conn: psycopg.AsyncConnection[Any], path_id: Any, user_id: Any
) -> dict[str, Any] | None:
    cur = await conn.execute(
        "SELECT * FROM codecortex_learning_paths WHERE id = %s AND user_id = %s",
        (path_id, user_id),
    )
    row = await cur.fetchone()
    return dict(row) if row else None


async def latest_learning_path(
    conn: psycopg.AsyncConnection[Any], user_id: Any
) -> dict[str, Any] | None:
    cur = await conn.execute(
        "SELECT * FROM codecortex_learning_paths WHERE user_id = %s"
        " ORDER BY created_at DESC LIMIT 1",
        (user_id,),
    )
    row = await cur.fetchone()
    return dict(row) if row else None


async def list_learning_paths(
    conn: psycopg.AsyncConnection[Any], user_id: Any
) -> list[dict[str, Any]]:
    cur = await conn.execute(
        "SELECT id, title, duration_weeks, difficulty_level, progress, created_at, completed_at"
        " FROM codecortex_learning_paths WHERE user_id = %s ORDER BY created_at DESC",
        (user_id,),
    )
    return [dict(r) for r in await cur.fetchall()]


async def set_learning_progress(
    conn: psycopg.AsyncConnection[Any], path_id: Any, progress: dict[str, Any], completed: bool
) -> None:
    await conn.execute(
        "UPDATE codecortex_learning_paths SET progress = %s,"
        " completed_at = CASE WHEN %s THEN COALESCE(completed_at, NOW()) ELSE NULL END"
        " WHERE id = %s",
        (Jsonb(progress), completed, path_id),
    )
