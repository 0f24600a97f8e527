"""Hybrid retrieval in one query: exact signature, pgvector cosine (HNSW) and full-text search,
fused by reciprocal rank, over past solutions and knowledge items visible to the user.
"""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

import numpy as np
import psycopg
from psycopg import sql

RRF_K = 60
# Nearest neighbours always exist; below this cosine similarity they are noise, not matches.
MIN_SIMILARITY = 0.2
CANDIDATES = 40
# Keyword matches ranked per query: enough for relevance, bounded for very common words.
KEYWORD_POOL = 200
# Words too common in diagnostics and docs to say anything (the 'simple' config keeps them).
STOPWORDS = frozenset(
    "a an and are as at be but by can for from has have if in into is it its may must no not of"
    " on or should that the then there these this to was were will with".split()
)
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]{1,40}")


def tsquery_text(text: str, max_terms: int = 24) -> str:
    """An OR of the words in `text`, safe for to_tsquery('simple', ...)."""
    seen: list[str] = []
    for word in _WORD.findall(text.lower()):
        if word not in seen and word not in STOPWORDS:
            seen.append(word)
        if len(seen) >= max_terms:
            break
    return " | ".join(seen)


def _query(dimension: int, kinds: tuple[str, ...]) -> sql.Composed:
    dim = sql.Literal(int(dimension))
    parts: list[sql.Composable] = []
    if "solution" in kinds:
        # Each leg contributes its best CANDIDATES (keyword: 200): a signature with thousands of
        # solutions must not drag all of them through the fusion and the joins.
        parts.append(
            sql.SQL(
                """
        SELECT 'solution'::text AS kind, s.id, 1.0 / ({k} + ROW_NUMBER() OVER (
                ORDER BY s.merit DESC, s.confidence DESC, s.created_at DESC)) AS score,
            'signature'::text AS why, NULL::float AS similarity
        FROM (SELECT s.id, s.reuse_count - 2 * s.reject_count AS merit, s.confidence,
                     s.created_at
              FROM past_solutions s
              WHERE %(signature)s::text IS NOT NULL AND s.problem_signature = %(signature)s
                AND (s.user_id = %(user)s OR s.visibility = 'team')
              ORDER BY (s.reuse_count - 2 * s.reject_count) DESC, s.confidence DESC,
                       s.created_at DESC
              LIMIT {n}) s
        """
            ).format(k=sql.Literal(RRF_K), n=sql.Literal(CANDIDATES))
        )
        parts.append(
            sql.SQL(
                """
        SELECT 'solution', c.id, 1.0 / ({k} + ROW_NUMBER() OVER (ORDER BY c.rank DESC)),
            'keyword', NULL
        FROM (SELECT s.id, ts_rank_cd(s.search_tsv, q) AS rank
              FROM (SELECT s.id, s.search_tsv FROM past_solutions s,
                           to_tsquery('simple', %(tsquery)s) q
                    WHERE %(tsquery)s <> '' AND s.search_tsv @@ q
                      AND (s.user_id = %(user)s OR s.visibility = 'team')
                    LIMIT {pool}) s, to_tsquery('simple', %(tsquery)s) q
              ORDER BY rank DESC LIMIT {n}) c
        """
            ).format(
                k=sql.Literal(RRF_K), n=sql.Literal(CANDIDATES), pool=sql.Literal(KEYWORD_POOL)
            )
        )
    if "knowledge" in kinds:
        parts.append(
            sql.SQL(
                """
        SELECT 'knowledge', c.id, 1.0 / ({k} + ROW_NUMBER() OVER (ORDER BY c.rank DESC)),
            'keyword', NULL
        FROM (SELECT i.id, ts_rank_cd(i.search_tsv, q) AS rank
              FROM (SELECT i.id, i.search_tsv FROM items i, to_tsquery('simple', %(tsquery)s) q
                    WHERE %(tsquery)s <> '' AND i.search_tsv @@ q
                      AND (i.user_id = %(user)s OR i.visibility = 'team')
                    LIMIT {pool}) i, to_tsquery('simple', %(tsquery)s) q
              ORDER BY rank DESC LIMIT {n}) c
        """
            ).format(
                k=sql.Literal(RRF_K), n=sql.Literal(CANDIDATES), pool=sql.Literal(KEYWORD_POOL)
            )
        )
    parts.append(
        sql.SQL(
            """
        SELECT CASE v.owner_kind WHEN 'item' THEN 'knowledge' ELSE 'solution' END, v.owner_id,
            1.0 / ({k} + ROW_NUMBER() OVER (ORDER BY v.distance)), 'semantic', 1 - v.distance
        FROM (SELECT e.owner_kind, e.owner_id,
                     e.embedding::vector({dim}) <=> %(vector)s::vector({dim}) AS distance
              FROM embeddings e
              WHERE %(vector)s::vector IS NOT NULL AND e.dimension = {dim}
                AND e.model = %(model)s AND e.owner_kind = ANY(%(owner_kinds)s)
              ORDER BY e.embedding::vector({dim}) <=> %(vector)s::vector({dim})
              LIMIT {n}) v
        WHERE v.distance <= %(max_distance)s
        """
        ).format(k=sql.Literal(RRF_K), dim=dim, n=sql.Literal(CANDIDATES))
    )
    union = sql.SQL(" UNION ALL ").join(parts)
    # Fused and ranked on the narrow columns (visibility, repository) first; only the `limit`
    # winners are joined to their full rows (code, diff, content: detoasting ~100 candidates'
    # text cost more than the rest of the query).
    return sql.SQL(
        """
        WITH hits AS ({union}),
        fused AS (
            SELECT kind, id, SUM(score) AS score, ARRAY_AGG(DISTINCT why) AS why,
                MAX(similarity) AS similarity
            FROM hits GROUP BY kind, id
        ),
        ranked AS (
            SELECT f.kind, f.id, f.why, f.similarity, f.score
                    + CASE WHEN COALESCE(s.repo_id, i.repo_id) = %(repo)s THEN 0.002 ELSE 0 END
                    AS score
            FROM fused f
            LEFT JOIN past_solutions s ON f.kind = 'solution' AND s.id = f.id
            LEFT JOIN items i ON f.kind = 'knowledge' AND i.id = f.id
            WHERE (s.id IS NOT NULL AND (s.user_id = %(user)s OR s.visibility = 'team'))
               OR (i.id IS NOT NULL AND (i.user_id = %(user)s OR i.visibility = 'team')
                   AND (NOT %(this_repo_only)s
                        -- for a problem: this repository's knowledge, items shared with the
                        -- team on purpose (docs of other repositories are not), own notes
                        -- without one
                        OR i.repo_id = %(repo)s
                        OR (i.kind <> 'doc' AND i.visibility = 'team')
                        OR (i.repo_id IS NULL AND i.user_id = %(user)s)))
            ORDER BY score DESC, f.kind, f.id
            LIMIT %(limit)s
        )
        SELECT r.kind, r.id, r.score, r.why, r.similarity,
            s.problem_signature, s.error_pattern, s.problem_description, s.diff, s.before_text,
            s.after_text, s.signature_values, s.language, s.reuse_count, s.reject_count,
            s.time_to_solve_seconds, s.confidence, s.source, s.file_path AS solution_file,
            s.created_at AS solution_created_at,
            i.kind AS item_kind, i.title, i.content, i.source_path, i.line_start, i.tags,
            COALESCE(su.name, iu.name) AS owner,
            COALESCE(s.visibility, i.visibility) AS visibility,
            COALESCE(s.created_at, i.created_at) AS created_at
        FROM ranked r
        LEFT JOIN past_solutions s ON r.kind = 'solution' AND s.id = r.id
        LEFT JOIN items i ON r.kind = 'knowledge' AND i.id = r.id
        LEFT JOIN users su ON su.id = s.user_id
        LEFT JOIN users iu ON iu.id = i.user_id
        ORDER BY r.score DESC, r.kind, r.id
        """
    ).format(union=union)


async def hybrid_search(
    conn: psycopg.AsyncConnection[Any],
    *,
    user_id: Any,
    text: str,
    vector: np.ndarray | None,
    model: str,
    signature: str | None = None,
    repo_id: Any = None,
    kinds: tuple[str, ...] = ("solution", "knowledge"),
    limit: int = 10,
    this_repo_only: bool = False,
) -> list[dict[str, Any]]:
    """`this_repo_only`: knowledge for a problem in `repo_id` (see the query's last filter);
    otherwise everything visible to the user (free-text search)."""
    dimension = len(vector) if vector is not None else 384
    params = {
        "user": user_id,
        "signature": signature,
        "tsquery": tsquery_text(text),
        "vector": np.asarray(vector, dtype=np.float32) if vector is not None else None,
        "model": model,
        "owner_kinds": [{"solution": "past_solution", "knowledge": "item"}[k] for k in kinds],
        "repo": repo_id,
        "this_repo_only": this_repo_only,
        "limit": limit,
        "max_distance": 1.0 - MIN_SIMILARITY,
    }
    cur = await conn.execute(_query(dimension, kinds), params)
    return [dict(r) for r in await cur.fetchall()]


async def log_search_results(
    conn: psycopg.AsyncConnection[Any], shown: list[tuple[Any, list[dict[str, Any]]]]
) -> None:
    """Record what retrieval showed, per problem (knowledge_search_results): one INSERT for
    every (problem id, results) pair, each pair with its own search id."""
    rows: list[tuple[Any, ...]] = []
    for problem_id, results in shown:
        if not results:
            continue
        search_id = uuid.uuid4()
        top = max(float(r["score"]) for r in results) or 1.0
        rows.extend(
            (
                problem_id,
                search_id,
                r["kind"],
                r["id"],
                r.get("source_path") or r.get("solution_file"),
                min(1.0, float(r["score"]) / top),
                "hybrid" if len(r["why"]) > 1 else r["why"][0],
                r.get("similarity"),
                (r.get("error_pattern") or r.get("title") or "")[:300],
                json.dumps({"why": r["why"]}),
            )
            for r in results
        )
    if not rows:
        return
    columns = [list(c) for c in zip(*rows, strict=True)]
    statement = (
        "INSERT INTO knowledge_search_results (problem_id, search_id, source_type, source_id,"
        " source_reference, relevance_score, match_type, similarity_score, excerpt, metadata)"
        " SELECT * FROM unnest(%s::uuid[], %s::uuid[], %s::text[], %s::uuid[], %s::text[],"
        " %s::float8[], %s::text[], %s::float8[], %s::text[], %s::jsonb[])"
    )
    if conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE and conn.autocommit:
        # A log of what was shown: commit without waiting for the WAL flush (a crash may lose
        # the last rows of this log, never corrupt anything). One round trip.
        async with conn.pipeline(), conn.transaction():
            await conn.execute("SET LOCAL synchronous_commit = off")
            await conn.execute(statement, columns)
    else:
        await conn.execute(statement, columns)
