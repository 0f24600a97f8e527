"""Moving memory between databases: `codecortex export` writes the developer's problems, notes,
snippets and solutions as NDJSON (one JSON object a line); `codecortex import` reads them into
another database (another machine, or the embedded database -> a team server).

Rows keep their ids, timestamps, counters and every column, so an import is lossless and a second
import of the same file adds nothing. Imported rows belong to the importing developer; their
repositories are matched by root path. Private rows are exported only when asked.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import IO, Any

import psycopg

from codecortex.knowledge.docs import embed_items
from codecortex.llm.redaction import scrub_value
from codecortex.memory.identity import Identity
from codecortex.memory.observe import solution_text
from codecortex.memory.problem_memory import Memory
from codecortex.store import identity as identity_store
from codecortex.store import portability as store

FORMAT = "codecortex-export"
VERSION = 1
KINDS = {
    "github_repos": "repo",
    "detected_problems": "problem",
    "items": "item",
    "past_solutions": "solution",
}
TABLE_OF = {v: k for k, v in KINDS.items()}
ORDER = ("github_repos", "detected_problems", "items", "past_solutions")
# Columns that only mean something in the database they came from.
LOCAL_COLUMNS = {"embed_vector_id", "job_id"}
LINE = "__line"  # where a parsed row came from (for errors; never a column)


class ImportFormatError(ValueError):
    pass


def _jsonable(value: Any) -> Any:
    if isinstance(value, (uuid.UUID, Decimal)):
        return str(value)
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


async def export_ndjson(
    conn: psycopg.AsyncConnection[Any],
    ident: Identity,
    out: IO[str],
    *,
    include_private: bool = False,
) -> dict[str, int]:
    """Write the developer's rows; returns counts per kind."""
    rows = await store.export_rows(conn, ident.user_id, include_private)
    header = {
        "type": FORMAT,
        "version": VERSION,
        "exportedAt": datetime.now(UTC).isoformat(),
        "user": ident.user_name,
        "private": include_private,
    }
    out.write(json.dumps(header) + "\n")
    counts: dict[str, int] = {}
    for table in ORDER:
        kind = KINDS[table]
        for row in rows[table]:
            record = scrub_value({k: v for k, v in row.items() if k not in LOCAL_COLUMNS})
            out.write(json.dumps({"type": kind, "row": _jsonable(record)}) + "\n")
        counts[kind] = len(rows[table])
    return counts


def parse_ndjson(lines: Iterable[str]) -> dict[str, list[dict[str, Any]]]:
    """Records per table, validated (header first, known kinds, a row with an id each)."""
    out: dict[str, list[dict[str, Any]]] = {t: [] for t in ORDER}
    header_seen = False
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ImportFormatError(f"line {n}: not JSON ({exc.msg})") from None
        if not header_seen:
            if not isinstance(record, dict) or record.get("type") != FORMAT:
                raise ImportFormatError("not a CodeCortex export (first line is no header)")
            version = record.get("version", 0)
            if not isinstance(version, int) or isinstance(version, bool):
                raise ImportFormatError(f"line {n}: the version must be a number, not {version!r}")
            if version > VERSION:
                raise ImportFormatError(f"export version {version} is newer than this")
            header_seen = True
            continue
        kind = record.get("type") if isinstance(record, dict) else None
        row = record.get("row") if isinstance(record, dict) else None
        if kind not in TABLE_OF or not isinstance(row, dict) or "id" not in row:
            raise ImportFormatError(f"line {n}: unknown record")
        for key in ("root_path", "name", "remote_url", "default_branch", "head_sha"):
            if kind == "repo" and row.get(key) is not None and not isinstance(row[key], str):
                raise ImportFormatError(f"line {n}: {key} must be a string, not {row[key]!r}")
        row[LINE] = n
        out[TABLE_OF[kind]].append(row)
    if not header_seen:
        raise ImportFormatError("empty export")
    return out


async def import_ndjson(
    conn: psycopg.AsyncConnection[Any],
    ident: Identity,
    lines: Iterable[str],
    memory: Memory,
) -> dict[str, dict[str, int]]:
    """Import an export as the developer `ident`; returns {kind: {"added", "skipped"}}.
    Runs in one transaction: a bad file imports nothing."""
    data = parse_ndjson(lines)
    counts = {KINDS[t]: {"added": 0, "skipped": 0} for t in ORDER}
    repo_map: dict[str, Any] = {}
    new_solutions: list[tuple[Any, str]] = []
    new_items: list[tuple[Any, str, str]] = []
    async with conn.transaction():
        for repo in data["github_repos"]:
            repo.pop(LINE, None)
            if not repo.get("root_path"):
                counts["repo"]["skipped"] += 1
                continue
            repo_map[str(repo["id"])] = await identity_store.ensure_repo(
                conn,
                repo["root_path"],
                name=repo.get("name") or repo["root_path"].rstrip("/").rsplit("/", 1)[-1],
                remote_url=repo.get("remote_url"),
                default_branch=repo.get("default_branch"),
                head_sha=repo.get("head_sha"),
            )
            counts["repo"]["added"] += 1
        problems = await store.existing_ids(
            conn, "detected_problems", [r["id"] for r in data["detected_problems"]]
        )
        items = await store.existing_ids(conn, "items", [r["id"] for r in data["items"]])
        for table in ("detected_problems", "items", "past_solutions"):
            columns = await store.table_columns(conn, table)
            if table == "past_solutions":
                # Links to rows that came along (or were already there) are kept.
                problems |= await store.existing_ids(
                    conn,
                    "detected_problems",
                    [r.get("problem_id") for r in data[table] if r.get("problem_id")],
                )
                items |= await store.existing_ids(
                    conn, "items", [r.get("item_id") for r in data[table] if r.get("item_id")]
                )
            for row in data[table]:
                line = row.get(LINE)
                row = scrub_value(
                    {k: v for k, v in row.items() if k not in LOCAL_COLUMNS and k != LINE}
                )
                row["user_id"] = str(ident.user_id)
                if row.get("repo_id") is not None:
                    row["repo_id"] = repo_map.get(str(row["repo_id"]))
                if table == "past_solutions":
                    if row.get("problem_id") and str(row["problem_id"]) not in problems:
                        row["problem_id"] = None
                    if row.get("item_id") and str(row["item_id"]) not in items:
                        row["item_id"] = None
                try:
                    async with conn.transaction():  # a savepoint: the error is reported clean
                        added = await store.insert_row(conn, table, columns, row)
                except (psycopg.DataError, psycopg.ProgrammingError, TypeError) as exc:
                    # A wrong-typed field (an id that is no UUID, a date that is no date, an
                    # object as a message): name the line; the transaction imports nothing.
                    reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                    raise ImportFormatError(f"line {line}: {reason}") from None
                counts[KINDS[table]]["added" if added else "skipped"] += 1
                if not added:
                    continue
                if table == "detected_problems":
                    problems.add(str(row["id"]))
                elif table == "items":
                    items.add(str(row["id"]))
                    text = f"{row.get('title') or ''}\n{row.get('content') or ''}"
                    new_items.append((row["id"], text, row.get("content_hash") or ""))
                else:
                    new_solutions.append(
                        (
                            row["id"],
                            solution_text(
                                row.get("error_pattern") or "",
                                row.get("problem_description") or "",
                                row.get("diff") or "",
                            ),
                        )
                    )
        # Vectors are made here (local embedder) or by the backfill job (remote embedder).
        await memory.embed_solutions(conn, new_solutions)
        if new_items:
            await embed_items(conn, memory.embedder, new_items)
    return counts
