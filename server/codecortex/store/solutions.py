"""Past solutions, their embeddings and what users did with them (dict-row connections)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb

from codecortex.llm.redaction import scrub, scrub_value

VISIBLE = "(s.user_id = %(user)s OR s.visibility = 'team')"
# What replaying, ranking and showing a candidate fix reads (not its search vector, context or
# counters of time saved: up to 300 candidates are read per signature on every recall).
CANDIDATE_COLUMNS = (
    "s.id, s.user_id, s.repo_id, s.problem_signature, s.signature_values, s.problem_type,"
    " s.problem_description, s.error_pattern, s.tool, s.code, s.language, s.file_path,"
    " s.before_text, s.after_text, s.diff, s.source, s.commit_sha, s.author, s.confidence,"
    " s.visibility, s.time_to_solve_seconds, s.reuse_count, s.reject_count, s.created_at,"
    " cardinality(s.learned_in) + 1 AS learned_places"
)
MAX_LEARNED_PLACES = 50  # other places one stored change remembers it was learned in


@dataclass
class NewSolution:
    user_id: Any
    repo_id: Any
    problem_id: Any
    signature: str
    values: list[str]
    problem_type: str
    description: str
    error_pattern: str
    tool: str
    code: str
    language: str | None
    file_path: str | None
    before_text: str
    after_text: str
    diff: str
    context: dict[str, Any]
    source: str
    confidence: float
    visibility: str
    time_to_solve_seconds: int | None
    content_hash: str
    commit_sha: str | None = None
    author: str | None = None


async def insert_solution(conn: psycopg.AsyncConnection[Any], s: NewSolution) -> tuple[Any, bool]:
    """Insert unless the same user already has this exact change; returns (id, created)."""
    cur = await conn.execute(
        """
        INSERT INTO past_solutions (user_id, repo_id, problem_id, problem_signature,
            signature_values, problem_type, problem_description, error_pattern, tool, code,
            language, file_path, before_text, after_text, diff, context, source, confidence,
            visibility, time_to_solve_seconds, content_hash, commit_sha, author)
        VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s,
            %s, %s, %s)
        ON CONFLICT (user_id, content_hash) DO NOTHING
        RETURNING id
        """,
        (
            s.user_id,
            s.repo_id,
            s.problem_id,
            s.signature,
            Jsonb(s.values),
            s.problem_type,
            scrub(s.description),
            scrub(s.error_pattern),
            s.tool,
            s.code,
            s.language,
            s.file_path,
            scrub(s.before_text),
            scrub(s.after_text),
            scrub(s.diff),
            Jsonb(scrub_value(s.context)),
            s.source,
            s.confidence,
            s.visibility,
            s.time_to_solve_seconds,
            s.content_hash,
            s.commit_sha,
            s.author,
        ),
    )
    row = await cur.fetchone()
    if row is not None:
        return row["id"], True
    # the same change, learned again: in another place (file and enclosing definition) it
    # records that place (up to MAX_LEARNED_PLACES)
    place = scrub(f"{s.file_path or ''}#{(s.context or {}).get('symbol_path') or ''}")
    cur = await conn.execute(
        """
        UPDATE past_solutions SET learned_in = array_append(learned_in, %(place)s)
        WHERE user_id IS NOT DISTINCT FROM %(user)s AND content_hash = %(hash)s
            AND %(place)s <> concat(file_path, '#', context->>'symbol_path')
            AND NOT %(place)s = ANY(learned_in) AND cardinality(learned_in) < %(most)s
        RETURNING id
        """,
        {"place": place, "user": s.user_id, "hash": s.content_hash, "most": MAX_LEARNED_PLACES},
    )
    row = await cur.fetchone()
    if row is None:
        cur = await conn.execute(
            "SELECT id FROM past_solutions"
            " WHERE user_id IS NOT DISTINCT FROM %s AND content_hash = %s",
            (s.user_id, s.content_hash),
        )
        row = await cur.fetchone()
    assert row is not None
    return row["id"], False


async def get_solution(
    conn: psycopg.AsyncConnection[Any], solution_id: Any
) -> dict[str, Any] | None:
    cur = await conn.execute(
        "SELECT s.*, u.name AS user_name FROM past_solutions s LEFT JOIN users u ON u.id = s.user_id"
        " WHERE s.id = %s",
        (solution_id,),
    )
    row = await cur.fetchone()
    return dict(row) if row else None


async def solutions_for_signatures(
    conn: psycopg.AsyncConnection[Any], user_id: Any, signatures: list[str], per_signature: int = 5
) -> dict[str, list[dict[str, Any]]]:
    """Exact-signature solutions visible to the user, best first (fewest rejections, most reuse)."""
    if not signatures:
        return {}
    # One index range scan per signature (idx_past_solutions_signature_rank), never a read of
    # every solution of a frequent signature.
    cur = await conn.execute(
        f"""
        SELECT s.*, u.name AS user_name
        FROM unnest(%(sigs)s::text[]) AS sig(signature)
        CROSS JOIN LATERAL (
            SELECT {CANDIDATE_COLUMNS} FROM past_solutions s
            WHERE s.problem_signature = sig.signature AND {VISIBLE}
            ORDER BY (s.reuse_count - 2 * s.reject_count) DESC, s.confidence DESC,
                     s.created_at DESC
            LIMIT %(n)s
        ) s
        LEFT JOIN users u ON u.id = s.user_id
        """,
        {"sigs": signatures, "user": user_id, "n": per_signature},
    )
    out: dict[str, list[dict[str, Any]]] = {}
    for row in await cur.fetchall():
        out.setdefault(row["problem_signature"], []).append(dict(row))
    for rows in out.values():
        rows.sort(key=_rank_key)
    return out


async def signature_versions(
    conn: psycopg.AsyncConnection[Any], signatures: list[str]
) -> dict[str, int]:
    """The version of each signature's stored fixes (migration 013: raised by every change
    recall could see); a signature without stored fixes has none."""
    if not signatures:
        return {}
    cur = await conn.execute(
        "SELECT problem_signature, version FROM solution_signature_versions"
        " WHERE problem_signature = ANY(%s)",
        (signatures,),
    )
    return {r["problem_signature"]: int(r["version"]) for r in await cur.fetchall()}


def _rank_key(row: dict[str, Any]) -> tuple[float, float, float]:
    merit = int(row["reuse_count"] or 0) - 2 * int(row["reject_count"] or 0)
    return (-merit, -float(row["confidence"] or 0), -row["created_at"].timestamp())


async def record_reuse(
    conn: psycopg.AsyncConnection[Any], solution_id: Any, time_saved_seconds: int
) -> None:
    await conn.execute(
        "UPDATE past_solutions SET reuse_count = reuse_count + 1, last_reused_at = NOW(),"
        " time_saved_seconds = time_saved_seconds + GREATEST(%s, 0) WHERE id = %s",
        (time_saved_seconds, solution_id),
    )


async def record_reject(conn: psycopg.AsyncConnection[Any], solution_id: Any) -> None:
    await conn.execute(
        "UPDATE past_solutions SET reject_count = reject_count + 1 WHERE id = %s", (solution_id,)
    )


async def set_visibility(
    conn: psycopg.AsyncConnection[Any], solution_id: Any, user_id: Any, visibility: str
) -> bool:
    cur = await conn.execute(
        "UPDATE past_solutions SET visibility = %s WHERE id = %s AND user_id = %s RETURNING id",
        (visibility, solution_id, user_id),
    )
    return await cur.fetchone() is not None


# --- embeddings -----------------------------------------------------------------------------


async def ensure_vector_index(conn: psycopg.AsyncConnection[Any], dimension: int) -> None:
    """One HNSW expression index per embedding dimension (384 ships in migration 001)."""
    name = sql.Identifier(f"idx_embeddings_hnsw_{int(dimension)}")
    await conn.execute(
        sql.SQL(
            "CREATE INDEX IF NOT EXISTS {} ON embeddings USING hnsw "
            "((embedding::vector({dim})) vector_cosine_ops) WHERE dimension = {dim}"
        ).format(name, dim=sql.Literal(int(dimension)))
    )


async def upsert_embeddings(
    conn: psycopg.AsyncConnection[Any],
    owner_kind: str,
    rows: list[tuple[Any, np.ndarray, str | None]],
    model: str,
) -> None:
    """(owner_id, vector, content_hash) rows for one model."""
    if not rows:
        return
    dimension = len(rows[0][1])
    async with conn.cursor() as cur:
        await cur.executemany(
            "INSERT INTO embeddings (owner_kind, owner_id, model, dimension, embedding,"
            " content_hash) VALUES (%s, %s, %s, %s, %s, %s)"
            " ON CONFLICT (owner_kind, owner_id, model) DO UPDATE SET"
            " embedding = EXCLUDED.embedding, dimension = EXCLUDED.dimension,"
            " content_hash = EXCLUDED.content_hash, created_at = NOW()",
            [
                (owner_kind, owner_id, model, dimension, np.asarray(vec, dtype=np.float32), chash)
                for owner_id, vec, chash in rows
            ],
        )
    if owner_kind == "past_solution":
        await conn.execute(
            "UPDATE past_solutions s SET embed_vector_id = e.id FROM embeddings e"
            " WHERE e.owner_kind = 'past_solution' AND e.owner_id = s.id AND e.model = %s"
            " AND s.id = ANY(%s)",
            (model, [r[0] for r in rows]),
        )


async def missing_embeddings(
    conn: psycopg.AsyncConnection[Any], model: str, limit: int = 500
) -> list[dict[str, Any]]:
    """Solutions and items that have no vector for `model` yet (for the backfill job)."""
    cur = await conn.execute(
        """
        SELECT 'past_solution' AS owner_kind, s.id, s.content_hash,
            concat_ws(E'\\n', s.error_pattern, s.problem_description, s.diff) AS text
        FROM past_solutions s
        WHERE NOT EXISTS (SELECT 1 FROM embeddings e WHERE e.owner_kind = 'past_solution'
                          AND e.owner_id = s.id AND e.model = %(model)s)
        UNION ALL
        SELECT 'item', i.id, i.content_hash, concat_ws(E'\\n', i.title, i.content)
        FROM items i
        WHERE NOT EXISTS (SELECT 1 FROM embeddings e WHERE e.owner_kind = 'item'
                          AND e.owner_id = i.id AND e.model = %(model)s)
        LIMIT %(limit)s
        """,
        {"model": model, "limit": limit},
    )
    return [dict(r) for r in await cur.fetchall()]
