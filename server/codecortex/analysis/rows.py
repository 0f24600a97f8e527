"""Analysis results as database rows: `codecortex_items` rows of an analysed file and its
symbols, `code_insights` + `insight_priorities` rows, relationships to and from rows."""

from __future__ import annotations

from typing import Any

from codecortex.analysis.model import FileAnalysis, Insight, Relationship

__all__ = ["insight_row", "item_rows", "relationship_from_row", "relationship_row"]


def item_rows(a: FileAnalysis, key: str) -> list[dict[str, Any]]:
    """`codecortex_items` rows of one analysed file: the file row, then its symbols."""
    imports = list(dict.fromkeys(i.module for i in a.imports))
    rows = [
        {
            "file_path": a.path,
            "file_type": a.file_type,
            "language": a.language,
            "code_type": "module",
            "name": a.path.rsplit("/", 1)[-1],
            "qualified_name": a.path,
            "parent_name": None,
            "complexity_score": float(a.max_complexity),
            "documentation_score": round(a.doc_coverage, 4),
            "imports": imports,
            "exports": list(a.exports),
            "dependencies": {
                "rules": key,
                "lines": a.line_count,
                "size_bytes": a.size_bytes,
                "syntax_errors": a.has_syntax_errors,
            },
            "content_hash": a.sha256,
            "line_start": 0,
            "line_end": max(a.line_count - 1, 0),
            "analysis": a.to_json(),
        }
    ]
    for s in a.symbols:
        rows.append(
            {
                "file_path": a.path,
                "file_type": a.file_type,
                "language": a.language,
                "code_type": s.kind,
                "name": s.name,
                "qualified_name": s.qualified_name,
                "parent_name": s.parent,
                "complexity_score": float(s.complexity),
                "documentation_score": 1.0 if s.has_doc else 0.0,
                "imports": None,
                "exports": None,
                "dependencies": {
                    "params": s.params,
                    "max_nesting": s.max_nesting,
                    "line_count": s.line_count,
                    "is_public": s.is_public,
                    "bases": list(s.bases),
                },
                "content_hash": a.sha256,
                "line_start": s.start_line,
                "line_end": s.end_line,
                "analysis": None,
            }
        )
    return rows


def insight_row(i: Insight) -> dict[str, Any]:
    """A `code_insights` + `insight_priorities` row for `store.upsert_insights`."""
    detail = dict(i.detail)
    detail["range"] = i.range.to_json()
    detail["symbol"] = i.symbol
    if i.fix:
        detail["fix"] = [{"range": e.range.to_json(), "new_text": e.new_text} for e in i.fix]
    p = i.priority
    return {
        "fingerprint": i.fingerprint,
        "type": i.type,
        "rule": i.rule,
        "title": i.title,
        "summary": i.summary,
        "detail": detail,
        "file_path": i.file,
        "line_start": i.range.start.line,
        "line_end": i.range.end.line,
        "severity": i.severity,
        "confidence": i.confidence,
        "score": p.score,
        "category": p.category,
        "effort": p.effort,
        "impact": p.impact,
        "actionability": p.actionability,
        "factors": p.factors,
    }


def relationship_row(r: Relationship) -> dict[str, Any]:
    return r.to_json()


def relationship_from_row(row: dict[str, Any]) -> Relationship:
    return Relationship(
        source_file=row["source_file"],
        target_file=row["target_file"],
        type=row["type"],
        metadata=dict(row.get("metadata") or {}),
        confidence=float(row["confidence"] if row.get("confidence") is not None else 1.0),
    )
