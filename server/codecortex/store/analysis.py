"""Analysis results: code items, relationships, insights (+ priorities) and analysis sessions.

Rows in, plain dicts out; the engine's types are converted by `codecortex.analysis.rows`.
Over 400 lines: the queries of the five analysis tables, which change together.
Lines are 0-based (like LSP and the engine).

Insights are upserted by fingerprint: a finding seen again keeps its row, its id and an
`ignored` status; `open` findings that a new run no longer reports become `expired` (kept for
history, purged 90 days after they were last seen); an `expired` or `applied` finding reported
again is `open` again.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

AGENT = "codecortex-rules"
STATUSES = ("open", "ignored", "applied", "expired")


def fingerprint_sha(repo_id: Any, fingerprint: str) -> str:
    """The globally unique `code_insights.fingerprint_sha` of an engine fingerprint in a repo."""
    return hashlib.sha256(f"{repo_id}:{fingerprint}".encode()).hexdigest()


# --------------------------------------------------------------------------- code items


async def stored_files(
    conn: psycopg.AsyncConnection[Any], repo_id: Any
) -> dict[str, tuple[str, str]]:
    """file path -> (sha256, rules key) of every analysed file of the repository."""
    cur = await conn.execute(
        "SELECT file_path, content_hash, dependencies ->> 'rules' AS rules FROM codecortex_items"
        " WHERE repo_id = %s AND code_type = 'module'",
        (repo_id,),
    )
    return {
        r["file_path"]: (r["content_hash"] or "", r["rules"] or "") for r in await cur.fetchall()
    }


async def load_analyses(
    conn: psycopg.AsyncConnection[Any], repo_id: Any, paths: Sequence[str] | None = None
) -> dict[str, dict[str, Any]]:
    """file path -> stored FileAnalysis JSON (all files, or those in `paths`)."""
    cur = await conn.execute(
        "SELECT file_path, analysis FROM codecortex_items"
        " WHERE repo_id = %s AND code_type = 'module' AND analysis IS NOT NULL"
        " AND (%s::text[] IS NULL OR file_path = ANY(%s::text[]))",
        (repo_id, None if paths is None else list(paths), None if paths is None else list(paths)),
    )
    return {r["file_path"]: r["analysis"] for r in await cur.fetchall()}


_ITEM_COLUMNS = (
    "file_path text, file_type text, language text, code_type text, name text,"
    " qualified_name text, parent_name text, complexity_score float8,"
    " documentation_score float8, imports text[], exports text[], dependencies jsonb,"
    " content_hash text, line_start int, line_end int, analysis jsonb"
)


async def replace_files(
    conn: psycopg.AsyncConnection[Any], repo_id: Any, rows: list[dict[str, Any]]
) -> None:
    """Replace the item rows (file row + symbol rows) of every file that appears in `rows`."""
    if not rows:
        return
    paths = sorted({r["file_path"] for r in rows})
    await conn.execute(
        "DELETE FROM codecortex_items WHERE repo_id = %s AND file_path = ANY(%s)",
        (repo_id, paths),
    )
    await conn.execute(
        f"""
        INSERT INTO codecortex_items (repo_id, file_path, file_type, language, code_type, name,
            qualified_name, parent_name, complexity_score, documentation_score, imports, exports,
            dependencies, content_hash, line_start, line_end, analysis, last_modified)
        SELECT %s, r.file_path, r.file_type, r.language, r.code_type, r.name, r.qualified_name,
            r.parent_name, r.complexity_score, r.documentation_score, r.imports, r.exports,
            COALESCE(r.dependencies, '{{}}'), r.content_hash, r.line_start, r.line_end,
            r.analysis, NOW()
        FROM jsonb_to_recordset(%s) AS r({_ITEM_COLUMNS})
        """,
        (repo_id, Jsonb(rows)),
    )


async def delete_files(
    conn: psycopg.AsyncConnection[Any], repo_id: Any, paths: Sequence[str]
) -> None:
    """A file is gone: its items and relationships go, its open file insights expire."""
    if not paths:
        return
    paths = list(paths)
    await conn.execute(
        "DELETE FROM codecortex_items WHERE repo_id = %s AND file_path = ANY(%s)", (repo_id, paths)
    )
    await conn.execute(
        "DELETE FROM code_relationships WHERE repo_id = %s"
        " AND (source_file = ANY(%s) OR target_file = ANY(%s))",
        (repo_id, paths, paths),
    )
    await conn.execute(
        "UPDATE code_insights SET status = 'expired', status_changed_at = NOW()"
        " WHERE repo_id = %s AND scope = 'file' AND status = 'open' AND file_path = ANY(%s)",
        (repo_id, paths),
    )


async def item_updates(
    conn: psycopg.AsyncConnection[Any], repo_id: Any
) -> dict[str, tuple[str, Any]]:
    """file path -> (content hash, updated_at) of each file row (tests, diagnostics)."""
    cur = await conn.execute(
        "SELECT file_path, content_hash, updated_at, created_at FROM codecortex_items"
        " WHERE repo_id = %s AND code_type = 'module'",
        (repo_id,),
    )
    return {
        r["file_path"]: (r["content_hash"], max(r["updated_at"], r["created_at"]))
        for r in await cur.fetchall()
    }


# --------------------------------------------------------------------------- relationships


async def replace_relationships(
    conn: psycopg.AsyncConnection[Any],
    repo_id: Any,
    rows: list[dict[str, Any]],
    sources: Sequence[str] | None = None,
) -> None:
    """Replace the relationships whose source is in `sources` (all of the repo when None)."""
    if sources is None:
        await conn.execute("DELETE FROM code_relationships WHERE repo_id = %s", (repo_id,))
    else:
        await conn.execute(
            "DELETE FROM code_relationships WHERE repo_id = %s AND source_file = ANY(%s)",
            (repo_id, list(sources)),
        )
    if not rows:
        return
    await conn.execute(
        """
        INSERT INTO code_relationships (repo_id, source_file, source_type, target_file,
            target_type, relationship_type, relationship_metadata, confidence, discovered_by)
        SELECT %s, r.source_file, 'file', r.target_file, 'file', r.type, r.metadata,
            r.confidence, %s
        FROM jsonb_to_recordset(%s) AS r(source_file text, target_file text, type text,
            metadata jsonb, confidence float8)
        """,
        (repo_id, AGENT, Jsonb(rows)),
    )


async def load_relationships(
    conn: psycopg.AsyncConnection[Any], repo_id: Any
) -> list[dict[str, Any]]:
    cur = await conn.execute(
        "SELECT source_file, target_file, relationship_type AS type,"
        " relationship_metadata AS metadata, confidence FROM code_relationships"
        " WHERE repo_id = %s ORDER BY source_file, target_file, relationship_type",
        (repo_id,),
    )
    return [dict(r) for r in await cur.fetchall()]


# --------------------------------------------------------------------------- insights

_INSIGHT_COLUMNS = (
    "fingerprint text, fingerprint_sha text, type text, rule text, title text, summary text,"
    " detail jsonb, file_path text, line_start int, line_end int, severity text,"
    " confidence float8, score float8, category text, effort text, impact text,"
    " actionability float8, factors jsonb"
)


async def upsert_insights(
    conn: psycopg.AsyncConnection[Any],
    repo_id: Any,
    rows: list[dict[str, Any]],
    *,
    scope: str,
    job_id: str | None = None,
) -> int:
    """Insert or refresh insights (keyed by fingerprint) and their priorities. Returns how many.

    Each row: fingerprint, type, rule, title, summary, detail, file_path, line_start, line_end,
    severity, confidence, score, category, effort, impact, actionability, factors.
    """
    unique: dict[str, dict[str, Any]] = {}
    for r in rows:
        unique[r["fingerprint"]] = {
            **r,
            "fingerprint_sha": fingerprint_sha(repo_id, r["fingerprint"]),
        }
    if not unique:
        return 0
    cur = await conn.execute(
        f"""
        WITH rows AS (SELECT * FROM jsonb_to_recordset(%(rows)s) AS r({_INSIGHT_COLUMNS})),
        up AS (
            INSERT INTO code_insights (repo_id, job_id, type, title, summary, detail, file_path,
                line_start, line_end, fingerprint_sha, fingerprint, rule, scope, severity,
                ai_agent, confidence_score)
            SELECT %(repo)s, %(job)s, type, title, summary, detail, file_path, line_start,
                line_end, fingerprint_sha, fingerprint, rule, %(scope)s, severity, %(agent)s,
                LEAST(GREATEST(confidence, 0), 1)
            FROM rows
            ON CONFLICT (fingerprint_sha) DO UPDATE SET
                type = EXCLUDED.type, title = EXCLUDED.title, summary = EXCLUDED.summary,
                detail = EXCLUDED.detail, file_path = EXCLUDED.file_path,
                line_start = EXCLUDED.line_start, line_end = EXCLUDED.line_end,
                rule = EXCLUDED.rule, scope = EXCLUDED.scope, severity = EXCLUDED.severity,
                confidence_score = EXCLUDED.confidence_score,
                job_id = COALESCE(EXCLUDED.job_id, code_insights.job_id),
                last_seen_at = NOW(), expires_at = NOW() + INTERVAL '90 days',
                status = CASE WHEN code_insights.status IN ('expired', 'applied')
                    THEN 'open' ELSE code_insights.status END,
                status_changed_at = CASE WHEN code_insights.status IN ('expired', 'applied')
                    THEN NOW() ELSE code_insights.status_changed_at END
            RETURNING id, fingerprint_sha
        )
        INSERT INTO insight_priorities (insight_id, priority_score, priority_category,
            effort_estimate, business_impact, actionability_score, quality_factors)
        SELECT up.id, LEAST(GREATEST(rows.score, 0), 100), rows.category, rows.effort,
            rows.impact, LEAST(GREATEST(rows.actionability, 0), 100),
            COALESCE(rows.factors, '{{}}')
        FROM up JOIN rows USING (fingerprint_sha)
        ON CONFLICT (insight_id) DO UPDATE SET priority_score = EXCLUDED.priority_score,
            priority_category = EXCLUDED.priority_category,
            effort_estimate = EXCLUDED.effort_estimate,
            business_impact = EXCLUDED.business_impact,
            actionability_score = EXCLUDED.actionability_score,
            quality_factors = EXCLUDED.quality_factors, calculated_at = NOW()
        """,
        {
            "rows": Jsonb(list(unique.values())),
            "repo": repo_id,
            "job": job_id,
            "scope": scope,
            "agent": AGENT,
        },
    )
    return cur.rowcount if cur.rowcount >= 0 else len(unique)


async def expire_missing(
    conn: psycopg.AsyncConnection[Any],
    repo_id: Any,
    *,
    scope: str,
    keep: Iterable[str],
    files: Sequence[str] | None = None,
    rules: Sequence[str] | None = None,
) -> set[str]:
    """Expire the open insights of `scope` (in `files` / of `rules` when given) whose engine
    fingerprint is not in `keep`. Returns the files of the expired insights."""
    cur = await conn.execute(
        "UPDATE code_insights SET status = 'expired', status_changed_at = NOW()"
        " WHERE repo_id = %s AND scope = %s AND status = 'open' AND fingerprint IS NOT NULL"
        " AND (%s::text[] IS NULL OR file_path = ANY(%s::text[]))"
        " AND (%s::text[] IS NULL OR rule = ANY(%s::text[]))"
        " AND NOT (fingerprint = ANY(%s::text[])) RETURNING file_path",
        (
            repo_id,
            scope,
            None if files is None else list(files),
            None if files is None else list(files),
            None if rules is None else list(rules),
            None if rules is None else list(rules),
            list(keep),
        ),
    )
    return {r["file_path"] for r in await cur.fetchall() if r["file_path"]}


async def mark_scope(
    conn: psycopg.AsyncConnection[Any], insight_ids: Sequence[Any], scope: str
) -> None:
    """Claim rows written by another writer (the deep phase) for a scope."""
    if insight_ids:
        await conn.execute(
            "UPDATE code_insights SET scope = %s, fingerprint = COALESCE(fingerprint,"
            " fingerprint_sha) WHERE id = ANY(%s)",
            (scope, list(insight_ids)),
        )


async def purge_expired(conn: psycopg.AsyncConnection[Any], repo_id: Any) -> int:
    """Delete expired insights not seen for longer than their retention (`expires_at`)."""
    cur = await conn.execute(
        "DELETE FROM code_insights WHERE repo_id = %s AND status = 'expired'"
        " AND expires_at < NOW()",
        (repo_id,),
    )
    return max(cur.rowcount, 0)


_SELECT_INSIGHT = """
    SELECT i.id, i.repo_id, i.type, i.rule, i.scope, i.title, i.summary, i.detail, i.file_path,
        i.line_start, i.line_end, i.fingerprint, i.fingerprint_sha, i.severity, i.status,
        i.ai_agent, i.confidence_score, i.created_at, i.last_seen_at, i.expires_at,
        p.priority_score, p.priority_category, p.effort_estimate, p.business_impact,
        p.actionability_score, p.quality_factors, r.root_path
    FROM code_insights i
    LEFT JOIN insight_priorities p ON p.insight_id = i.id
    LEFT JOIN github_repos r ON r.id = i.repo_id
"""


async def list_insights(
    conn: psycopg.AsyncConnection[Any],
    repo_id: Any = None,
    *,
    statuses: Sequence[str] = ("open",),
    files: Sequence[str] | None = None,
    limit: int | None = None,
) -> list[dict[str, Any]]:
    """Insights ranked by priority (highest first)."""
    cur = await conn.execute(
        _SELECT_INSIGHT + " WHERE (%s::uuid IS NULL OR i.repo_id = %s::uuid) AND i.status = ANY(%s)"
        " AND (%s::text[] IS NULL OR i.file_path = ANY(%s::text[]))"
        " ORDER BY p.priority_score DESC NULLS LAST, i.file_path, i.line_start, i.id"
        " LIMIT %s",
        (
            repo_id,
            repo_id,
            list(statuses),
            None if files is None else list(files),
            None if files is None else list(files),
            limit,
        ),
    )
    return [dict(r) for r in await cur.fetchall()]


async def find_insight(
    conn: psycopg.AsyncConnection[Any], id_or_prefix: str
) -> list[dict[str, Any]]:
    """Insights whose id is `id_or_prefix` or starts with it (at most 2: enough to see ambiguity)."""
    cur = await conn.execute(
        _SELECT_INSIGHT + " WHERE i.id::text LIKE %s ORDER BY i.id LIMIT 2",
        (id_or_prefix.lower().replace("%", "").replace("_", "") + "%",),
    )
    return [dict(r) for r in await cur.fetchall()]


async def set_insight_status(
    conn: psycopg.AsyncConnection[Any], insight_id: Any, status: str
) -> bool:
    if status not in STATUSES:
        raise ValueError(f"unknown insight status {status!r}")
    cur = await conn.execute(
        "UPDATE code_insights SET status = %s, status_changed_at = NOW() WHERE id = %s",
        (status, insight_id),
    )
    return cur.rowcount > 0


async def insights_summary(conn: psycopg.AsyncConnection[Any], repo_id: Any) -> dict[str, int]:
    """Open insights by severity: the session's `insights_summary`."""
    cur = await conn.execute(
        "SELECT COUNT(*) FILTER (WHERE status = 'open' AND severity = 'critical') AS critical,"
        " COUNT(*) FILTER (WHERE status = 'open' AND severity = 'warning') AS warnings,"
        " COUNT(*) FILTER (WHERE status = 'open' AND COALESCE(severity, 'info') = 'info')"
        "   AS suggestions,"
        " COUNT(*) FILTER (WHERE status = 'open') AS total,"
        " COUNT(*) FILTER (WHERE status = 'ignored') AS ignored"
        " FROM code_insights WHERE repo_id = %s",
        (repo_id,),
    )
    row = await cur.fetchone()
    assert row is not None
    return {k: int(row[k]) for k in ("critical", "warnings", "suggestions", "total", "ignored")}


# --------------------------------------------------------------------------- sessions

_SESSION_COLUMNS = (
    "id, job_id, repo_id, user_id, phases, insights_summary, status, root_path, target_phase,"
    " thresholds, error, created_at, updated_at, finished_at"
)


async def create_session(
    conn: psycopg.AsyncConnection[Any],
    *,
    job_id: str | None,
    repo_id: Any,
    user_id: Any,
    root_path: str,
    target_phase: str,
    thresholds: dict[str, Any],
    phases: dict[str, Any],
) -> dict[str, Any]:
    cur = await conn.execute(
        "INSERT INTO codecortex_analysis_sessions (job_id, repo_id, user_id, root_path,"
        " target_phase, thresholds, phases, status) VALUES (%s, %s, %s, %s, %s, %s, %s,"
        f" 'running') RETURNING {_SESSION_COLUMNS}",
        (job_id, repo_id, user_id, root_path, target_phase, Jsonb(thresholds), Jsonb(phases)),
    )
    row = await cur.fetchone()
    assert row is not None
    return dict(row)


async def session_for_job(conn: psycopg.AsyncConnection[Any], job_id: str) -> dict[str, Any] | None:
    cur = await conn.execute(
        f"SELECT {_SESSION_COLUMNS} FROM codecortex_analysis_sessions WHERE job_id = %s",
        (job_id,),
    )
    row = await cur.fetchone()
    return dict(row) if row else None


async def get_session(conn: psycopg.AsyncConnection[Any], session_id: Any) -> dict[str, Any] | None:
    cur = await conn.execute(
        f"SELECT {_SESSION_COLUMNS} FROM codecortex_analysis_sessions WHERE id = %s",
        (session_id,),
    )
    row = await cur.fetchone()
    return dict(row) if row else None


async def update_session(
    conn: psycopg.AsyncConnection[Any],
    session_id: Any,
    *,
    phases: dict[str, Any] | None = None,
    status: str | None = None,
    insights_summary: dict[str, Any] | None = None,
    file_hashes: dict[str, str] | None = None,
    error: str | None = None,
    finished: bool = False,
) -> None:
    await conn.execute(
        "UPDATE codecortex_analysis_sessions SET"
        " phases = COALESCE(%s, phases), status = COALESCE(%s, status),"
        " insights_summary = COALESCE(%s, insights_summary),"
        " file_hashes = COALESCE(%s, file_hashes), error = COALESCE(%s, error),"
        " finished_at = CASE WHEN %s THEN NOW() ELSE finished_at END, updated_at = NOW()"
        " WHERE id = %s",
        (
            Jsonb(phases) if phases is not None else None,
            status,
            Jsonb(insights_summary) if insights_summary is not None else None,
            Jsonb(file_hashes) if file_hashes is not None else None,
            error,
            finished,
            session_id,
        ),
    )


async def last_completed_session(
    conn: psycopg.AsyncConnection[Any], repo_id: Any, *, min_phase: str = "quick"
) -> dict[str, Any] | None:
    """The latest completed session of the repo whose phases reached `min_phase`."""
    cur = await conn.execute(
        f"SELECT {_SESSION_COLUMNS} FROM codecortex_analysis_sessions"
        " WHERE repo_id = %s AND status = 'completed'"
        " AND (phases -> %s ->> 'status') = 'completed'"
        " ORDER BY finished_at DESC NULLS LAST LIMIT 1",
        (repo_id, min_phase),
    )
    row = await cur.fetchone()
    return dict(row) if row else None
