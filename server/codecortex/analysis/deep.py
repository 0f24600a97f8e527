"""The deep analysis phase (only with a model): sample the workspace within a token budget,
ask the model (template `deep_analysis`) for architecture and refactoring insights static rules
cannot see, ground them in the sampled files and store them as `code_insights` (+ priorities)
with `ai_agent` = the model name, and record the sampling in `analysis_sampling`.

Sampling ("smart_sampling"): every file is ranked by how much it says about the design (imports
in and out, size, complexity, undocumented public symbols; tests and generated files last) and
summarised (symbols, imports, size); summaries are taken in rank order until the budget is spent,
the rest is recorded as skipped.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg

from codecortex.analysis.model import FileAnalysis
from codecortex.analysis.symbols import analyze_source
from codecortex.llm import LLMError, estimate_tokens
from codecortex.store import synthesis as synth_store
from codecortex.synthesis.runner import Synthesizer

TEMPLATE = "deep_analysis"
INSIGHT_TYPES = ("architecture", "refactor")
STRATEGY = "smart_sampling"
MAX_INSIGHTS = 8
_PRIORITY = {"immediate": 90.0, "this_sprint": 70.0, "backlog": 45.0, "nice_to_have": 20.0}


@dataclass
class Sample:
    sampled: list[str]
    skipped: list[str]
    structure: str
    metrics: str
    tokens: int


def _summary(a: FileAnalysis, importers: int) -> str:
    symbols = ", ".join(
        f"{s.kind} {s.qualified_name}(cx {s.complexity}, {s.line_count} lines"
        + ("" if s.has_doc or not s.is_public else ", undocumented")
        + ")"
        for s in a.symbols[:25]
    )
    imports = ", ".join(sorted({i.module for i in a.imports}))[:400]
    return (
        f"- {a.path} [{a.language}, {a.line_count} lines, imported by {importers}]"
        f"\n  imports: {imports or '-'}\n  defines: {symbols or '-'}"
    )


def sample_files(analyses: Sequence[FileAnalysis], budget_tokens: int) -> Sample:
    """Rank and summarise files until 80% of `budget_tokens` is spent; the metrics section gets
    the rest."""
    structure_budget = int(budget_tokens * 0.8)
    modules = {a.path.rsplit(".", 1)[0].replace("/", "."): a.path for a in analyses}
    importers: Counter[str] = Counter()
    for a in analyses:
        for imp in a.imports:
            target = modules.get(imp.module.lstrip("."))
            if target and target != a.path:
                importers[target] += 1

    def score(a: FileAnalysis) -> float:
        undocumented = sum(1 for s in a.symbols if s.is_public and not s.has_doc)
        value = (
            3 * importers[a.path]
            + len(a.imports)
            + a.max_complexity
            + min(a.line_count, 600) / 60
            + undocumented / 2
        )
        return value / (4 if a.is_test else 1)

    ranked = sorted(analyses, key=lambda a: (-score(a), a.path))
    sampled: list[str] = []
    skipped: list[str] = []
    parts: list[str] = []
    used = 0
    for a in ranked:
        text = _summary(a, importers[a.path])
        cost = estimate_tokens(text) + 1
        if used + cost <= structure_budget:
            parts.append(text)
            sampled.append(a.path)
            used += cost
        else:
            skipped.append(a.path)
    hot = sorted(
        ((s.complexity, a.path, s.qualified_name) for a in analyses for s in a.symbols),
        reverse=True,
    )[:8]
    largest = sorted(analyses, key=lambda a: -a.line_count)[:5]
    metrics = (
        f"files: {len(analyses)}, lines: {sum(a.line_count for a in analyses)}\n"
        "most complex functions: "
        + ", ".join(f"{p}:{n} (cx {c})" for c, p, n in hot)
        + "\nlargest files: "
        + ", ".join(f"{a.path} ({a.line_count} lines)" for a in largest)
        + "\nmost imported: "
        + ", ".join(f"{p} ({n})" for p, n in importers.most_common(5))
    )
    metrics = metrics[: max(0, budget_tokens - used) * 4]
    return Sample(sampled, skipped, "\n".join(parts), metrics, used + estimate_tokens(metrics))


def _analyses(root: Path, files: Sequence[FileAnalysis | str]) -> list[FileAnalysis]:
    out = []
    for f in files:
        if isinstance(f, FileAnalysis):
            out.append(f)
            continue
        path = root / f
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        out.append(analyze_source(str(f), text, collect_calls=False, keep_tree=False))
    return out


def _fingerprint(kind: str, file: str, title: str) -> str:
    norm = " ".join(title.lower().split())
    return hashlib.sha256(f"llm:{kind}:{file}:{norm}".encode()).hexdigest()


async def run_deep_phase(
    conn: psycopg.AsyncConnection[Any],
    llm: Synthesizer,
    repo_id: Any,
    root: Path | str,
    files: Sequence[FileAnalysis | str],
    budget: int,
    *,
    session_id: Any = None,
    user_id: Any = None,
    job_id: str | None = None,
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Sample `files` (analyses, or paths relative to `root`) within `budget` tokens, ask the
    model and store its grounded architecture/refactor insights. Returns (insights, sampling).

    Raises LLMError when the model fails (the phase is then reported as failed; nothing partial
    is stored except the execution and sampling records)."""
    root = Path(root)
    analyses = _analyses(root, files)
    sample = sample_files(analyses, max(200, budget))
    existing = await synth_store.existing_insights(conn, repo_id)
    values = {
        "project": root.name,
        "structure": sample.structure or "(no source files)",
        "metrics": sample.metrics,
        "existing_insights": "\n".join(
            f"- {e['type']}: {e['title']} ({e['file_path'] or 'project'})" for e in existing
        )
        or "(none)",
        "max_insights": str(MAX_INSIGHTS),
    }
    sampling: dict[str, Any] = {
        "strategy": STRATEGY,
        "total_files": len(analyses),
        "files_sampled": sample.sampled,
        "files_skipped": sample.skipped,
        "token_budget": budget,
        "token_usage": sample.tokens,
    }
    run = None
    try:
        run = await llm.run_template(conn, TEMPLATE, values, user_id=user_id, repo_id=repo_id)
    finally:
        sampling["id"] = await synth_store.insert_sampling(
            conn,
            repo_id=repo_id,
            session_id=session_id,
            execution_id=run.execution_id if run else None,
            strategy=STRATEGY,
            total_files=len(analyses),
            sampled=sample.sampled,
            skipped=sample.skipped,
            metadata={"model": llm.model, "cached": bool(run and run.cached)},
            token_budget=budget,
            token_usage=sample.tokens + (run.tokens if run else 0),
        )
    lines = {a.path: a.line_count for a in analyses}
    allowed = set(sample.sampled)
    insights: list[dict[str, Any]] = []
    dropped = 0
    for raw in run.data.get("insights") or []:
        kind, file = raw.get("type"), str(raw.get("file") or "")
        if kind not in INSIGHT_TYPES or (file and file not in allowed):
            dropped += 1  # not grounded in what the model was shown, or not ours to add
            continue
        last = max(lines.get(file, 1) - 1, 0)
        start = min(max(int(raw.get("start_line") or 0), 0), last)
        end = min(max(int(raw.get("end_line") or start), start), last)
        confidence = float(raw.get("confidence") or 0.5)
        category = str(raw.get("priority_category") or "backlog")
        insight = {
            "type": kind,
            "title": str(raw.get("title") or "")[:200],
            "summary": str(raw.get("summary") or ""),
            "file": file or None,
            "start_line": start if file else None,
            "end_line": end if file else None,
            "severity": str(raw.get("severity") or "info"),
            "confidence": confidence,
            "suggestion": str(raw.get("suggestion") or ""),
            "priority_category": category,
            "effort_estimate": str(raw.get("effort_estimate") or "hours"),
            "business_impact": str(raw.get("business_impact") or "medium"),
            "ai_agent": run.model,
            "fingerprint": _fingerprint(kind, file, str(raw.get("title") or "")),
        }
        insight["id"] = await synth_store.upsert_insight(
            conn,
            synth_store.NewInsight(
                repo_id=repo_id,
                type=kind,
                title=insight["title"],
                summary=insight["summary"],
                detail={
                    "suggestion": insight["suggestion"],
                    "source": "model",
                    "execution_id": str(run.execution_id),
                    "sampling_id": str(sampling["id"]),
                },
                file_path=insight["file"],
                line_start=insight["start_line"],
                line_end=insight["end_line"],
                fingerprint=insight["fingerprint"],
                severity=insight["severity"],
                ai_agent=run.model,
                confidence=confidence,
                priority_score=_PRIORITY.get(category, 45.0) * (0.5 + confidence / 2),
                priority_category=category,
                effort_estimate=insight["effort_estimate"],
                business_impact=insight["business_impact"],
                actionability_score=100 * confidence if insight["suggestion"] else 30.0,
                quality_factors={"model": run.model},
                job_id=job_id,
            ),
        )
        insights.append(insight)
    if insights or not dropped:
        await llm.remember(conn, run)
    else:
        await llm.reject(conn, run, f"none of the {dropped} insights were grounded in the input")
    sampling["dropped_insights"] = dropped
    return insights, sampling


__all__ = ["INSIGHT_TYPES", "LLMError", "Sample", "run_deep_phase", "sample_files"]
