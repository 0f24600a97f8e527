"""Insight rules: refactor, documentation, security, performance, architecture, README, dependencies.

`run_file_rules` needs one file (its `FileAnalysis` and text) and is cheap enough for the quick
phase; `run_project_rules` looks across files (import cycles, README, dependency manifests).
Every insight carries a fingerprint that survives unrelated edits (rule id + file + enclosing
symbol path + normalised snippet, never line numbers) and a priority.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from codecortex.analysis._text import normalise_snippet, sha256_hex
from codecortex.analysis.model import FileAnalysis, Insight, Priority, Relationship, SymbolInfo
from codecortex.diagnostics import Range, TextEdit

__all__ = [
    "AnalysisThresholds",
    "InsightBuilder",
    "prioritise",
    "run_file_rules",
    "run_project_rules",
]


@dataclass(frozen=True, slots=True)
class AnalysisThresholds:
    """Limits above which the refactor / architecture / documentation rules report."""

    max_complexity: int = 10
    max_function_lines: int = 80
    max_nesting: int = 4
    max_params: int = 6
    min_doc_coverage: float = 0.5
    max_top_level_definitions: int = 15
    max_file_lines: int = 1000


# --------------------------------------------------------------------------- priority

_SEVERITY_BASE = {"critical": 88.0, "warning": 62.0, "info": 38.0}
_TYPE_BONUS = {
    "security_issue": 10.0,
    "stale_dep": 0.0,
    "performance": 0.0,
    "architecture": -4.0,
    "refactor": -6.0,
    "documentation": -10.0,
    "readme_quality": -10.0,
}
_EFFORT_ACTIONABILITY = {"minutes": 80.0, "hours": 62.0, "days": 42.0, "weeks": 25.0}


def prioritise(
    type_: str,
    severity: str,
    confidence: float,
    effort: str,
    *,
    has_fix: bool = False,
    is_test: bool = False,
) -> Priority:
    """Score (0-100), category, effort, impact and actionability of an insight."""
    score = _SEVERITY_BASE[severity] * (0.6 + 0.4 * confidence) + _TYPE_BONUS.get(type_, 0.0)
    if has_fix:
        score += 5.0
    if is_test:
        score -= 15.0
    score = round(max(0.0, min(100.0, score)), 1)
    if score >= 75:
        category = "immediate"
    elif score >= 55:
        category = "this_sprint"
    elif score >= 35:
        category = "backlog"
    else:
        category = "nice_to_have"
    if severity == "critical":
        impact = "critical" if type_ == "security_issue" else "high"
    elif severity == "warning":
        impact = "high" if type_ == "security_issue" else "medium"
    else:
        impact = "low"
    actionability = 95.0 if has_fix else _EFFORT_ACTIONABILITY[effort]
    actionability = round(actionability * (0.7 + 0.3 * confidence), 1)
    return Priority(
        score=score,
        category=category,
        effort=effort,
        impact=impact,
        actionability=actionability,
        factors={
            "severity": severity,
            "confidence": confidence,
            "type": type_,
            "has_fix": has_fix,
            "is_test": is_test,
        },
    )


# --------------------------------------------------------------------------- building insights


class InsightBuilder:
    """Collects insights for one file (or the project) and finalises their fingerprints."""

    def __init__(self, file: str, symbols: list[SymbolInfo] | None = None, is_test: bool = False):
        self.file = file
        self.is_test = is_test
        self.insights: list[Insight] = []
        self._keys: list[str] = []
        syms = sorted(symbols or [], key=lambda s: (s.start_line, -s.end_line))
        self._symbols = syms
        self._starts = [s.start_line for s in syms]

    def symbol_at(self, line: int) -> SymbolInfo | None:
        """Innermost symbol whose range contains `line`."""
        best: SymbolInfo | None = None
        idx = bisect_right(self._starts, line)
        for s in self._symbols[:idx]:
            if s.start_line <= line <= s.end_line:
                if best is None or s.start_line >= best.start_line:
                    best = s
        return best

    def add(
        self,
        *,
        type_: str,
        rule: str,
        title: str,
        summary: str,
        range_: Range,
        severity: str,
        confidence: float,
        effort: str,
        why: str,
        how: str,
        snippet: str = "",
        symbol: str | None = None,
        use_symbol_at: bool = True,
        fix: list[TextEdit] | None = None,
        extra: Mapping[str, Any] | None = None,
        file: str | None = None,
    ) -> Insight:
        if symbol is None and use_symbol_at:
            sym = self.symbol_at(range_.start.line)
            symbol = sym.qualified_name if sym is not None else None
        file = file or self.file
        key = sha256_hex(rule, file, symbol or "", normalise_snippet(snippet))
        detail: dict[str, Any] = {"rule": rule, "why": why, "how_to_fix": how}
        if extra:
            detail.update(extra)
        priority = prioritise(
            type_, severity, confidence, effort, has_fix=bool(fix), is_test=self.is_test
        )
        insight = Insight(
            type=type_,
            rule=rule,
            title=title,
            summary=summary,
            detail=detail,
            file=file,
            range=range_,
            severity=severity,
            confidence=round(confidence, 2),
            fingerprint=key,
            priority=priority,
            symbol=symbol,
            fix=fix,
        )
        self.insights.append(insight)
        self._keys.append(key)
        return insight

    def finish(self) -> list[Insight]:
        """Disambiguate identical findings (same rule/symbol/snippet) by their order of occurrence."""
        seen: dict[str, int] = {}
        for insight, key in zip(self.insights, self._keys, strict=True):
            n = seen.get(key, 0)
            seen[key] = n + 1
            if n:
                insight.fingerprint = sha256_hex(key, str(n))
        return self.insights


# --------------------------------------------------------------------------- per-file rules


def _refactor_rules(b: InsightBuilder, analysis: FileAnalysis, t: AnalysisThresholds) -> None:
    max_complexity, max_lines = t.max_complexity, t.max_function_lines
    max_nesting, max_params = t.max_nesting, t.max_params
    for s in analysis.symbols:
        if (
            s.complexity <= max_complexity
            and s.line_count <= max_lines
            and s.max_nesting <= max_nesting
            and s.params <= max_params
        ) or s.kind not in ("function", "method"):
            continue  # nothing to report (most symbols)
        header = Range.of(s.start_line, s.start_character, s.start_line, s.start_character)
        name = s.qualified_name
        if s.complexity > t.max_complexity:
            severity = "warning" if s.complexity > 2 * t.max_complexity else "info"
            b.add(
                type_="refactor",
                rule="refactor.complexity",
                title=f"{name} is too complex (cyclomatic complexity {s.complexity})",
                summary=(
                    f"{s.kind.capitalize()} {name} has cyclomatic complexity {s.complexity} "
                    f"(limit {t.max_complexity})."
                ),
                range_=header,
                severity=severity,
                confidence=0.9,
                effort="hours",
                why="Every branch is a path to test and to understand; complex functions hide bugs.",
                how="Extract branches into well-named helpers, use early returns or lookup tables.",
                symbol=name,
                extra={"complexity": s.complexity, "limit": t.max_complexity},
            )
        if s.line_count > t.max_function_lines:
            b.add(
                type_="refactor",
                rule="refactor.long_function",
                title=f"{name} is too long ({s.line_count} lines)",
                summary=f"{name} spans {s.line_count} lines (limit {t.max_function_lines}).",
                range_=header,
                severity="info",
                confidence=0.85,
                effort="hours",
                why="Long functions mix several steps and are hard to review and reuse.",
                how="Split the function into steps with one responsibility each.",
                symbol=name,
                extra={"lines": s.line_count, "limit": t.max_function_lines},
            )
        if s.max_nesting > t.max_nesting:
            b.add(
                type_="refactor",
                rule="refactor.deep_nesting",
                title=f"{name} nests {s.max_nesting} levels deep",
                summary=f"{name} has blocks nested {s.max_nesting} deep (limit {t.max_nesting}).",
                range_=header,
                severity="info",
                confidence=0.85,
                effort="hours",
                why="Deeply nested code is hard to follow; each level multiplies the states.",
                how="Use guard clauses / early returns and extract inner loops into functions.",
                symbol=name,
                extra={"nesting": s.max_nesting, "limit": t.max_nesting},
            )
        if s.params > t.max_params:
            b.add(
                type_="refactor",
                rule="refactor.long_parameter_list",
                title=f"{name} takes {s.params} parameters",
                summary=f"{name} has {s.params} parameters (limit {t.max_params}).",
                range_=header,
                severity="info",
                confidence=0.8,
                effort="hours",
                why="Long parameter lists are easy to call wrongly and signal missing abstractions.",
                how="Group related parameters into an object/dataclass or split the function.",
                symbol=name,
                extra={"params": s.params, "limit": t.max_params},
            )


def _documentation_rule(b: InsightBuilder, analysis: FileAnalysis, t: AnalysisThresholds) -> None:
    if analysis.is_test or analysis.doc_coverage < t.min_doc_coverage:
        return
    for s in analysis.symbols:
        if s.is_public and not s.has_doc:
            b.add(
                type_="documentation",
                rule="documentation.missing_doc",
                title=f"Public {s.kind} {s.qualified_name} has no documentation",
                summary=(
                    f"{s.qualified_name} is public but undocumented, while "
                    f"{analysis.doc_coverage:.0%} of this file's public symbols are documented."
                ),
                range_=Range.of(s.start_line, s.start_character, s.start_line, s.start_character),
                severity="info",
                confidence=0.8,
                effort="minutes",
                why="The rest of the module is documented; readers expect the same here.",
                how="Add a docstring / doc comment saying what it does, its inputs and results.",
                symbol=s.qualified_name,
                extra={"doc_coverage": round(analysis.doc_coverage, 3)},
            )


def _responsibility_rule(b: InsightBuilder, analysis: FileAnalysis, t: AnalysisThresholds) -> None:
    reasons = []
    if analysis.top_level_definitions > t.max_top_level_definitions:
        reasons.append(
            f"{analysis.top_level_definitions} top-level definitions "
            f"(limit {t.max_top_level_definitions})"
        )
    if analysis.line_count > t.max_file_lines:
        reasons.append(f"{analysis.line_count} lines (limit {t.max_file_lines})")
    if not reasons:
        return
    b.add(
        type_="architecture",
        rule="architecture.too_many_responsibilities",
        title=f"{analysis.path} has too many responsibilities",
        summary=f"{analysis.path} has " + " and ".join(reasons) + ".",
        range_=Range.of(0, 0, 0, 0),
        severity="info",
        confidence=0.7,
        effort="days",
        why="Large modules couple unrelated code, slow reviews and cause merge conflicts.",
        how="Split the module by responsibility into smaller modules inside a package.",
        symbol=None,
        use_symbol_at=False,
        extra={
            "top_level_definitions": analysis.top_level_definitions,
            "lines": analysis.line_count,
        },
    )


def run_file_rules(
    analysis: FileAnalysis,
    text: str,
    thresholds: AnalysisThresholds | None = None,
    *,
    src: bytes | None = None,
) -> list[Insight]:
    """All single-file rules for one analysed file (`src`: `text` in UTF-8, when at hand)."""
    from codecortex.analysis.code_rules import (
        run_code_rules,  # local import: code_rules imports this module
    )
    from codecortex.analysis.secrets import scan_secrets

    t = thresholds or AnalysisThresholds()
    b = InsightBuilder(analysis.path, analysis.symbols, analysis.is_test)
    _refactor_rules(b, analysis, t)
    _documentation_rule(b, analysis, t)
    _responsibility_rule(b, analysis, t)
    scan_secrets(b, text)
    if analysis.language:
        run_code_rules(b, analysis, text, src)
    return b.finish()


# --------------------------------------------------------------------------- project rules


def run_project_rules(
    root: Path | str,
    analyses: Mapping[str, FileAnalysis],
    relationships: Iterable[Relationship],
    thresholds: AnalysisThresholds | None = None,
    *,
    site_packages: list[Path] | None = None,
) -> list[Insight]:
    """Rules across files: import cycles, README quality, dependency drift.

    `site_packages` are the directories whose installed distributions the declared Python
    dependencies are compared with; by default the project's own virtualenv (`.venv`, `venv`,
    `env` under root) when there is one.
    """
    from codecortex.analysis.deps import dependency_rules
    from codecortex.analysis.project import import_cycle_rule, readme_rules

    root = Path(root)
    out: list[Insight] = []
    out += import_cycle_rule(analyses, list(relationships))
    out += readme_rules(root, has_sources=bool(analyses))
    out += dependency_rules(root, site_packages)
    return out
