"""Insight rules: refactor, documentation, security, performance, architecture, README, dependencies.

`run_file_rules` needs one file (its `FileAnalysis` and text) and is cheap enough for the quick
phase; `run_project_rules` looks across files (import cycles, README, dependency manifests).
Every insight carries a fingerprint that survives unrelated edits (rule id + file + enclosing
symbol path + normalised snippet, never line numbers) and a priority.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from codecortex.analysis.builder import InsightBuilder, Rule
from codecortex.analysis.code_rules import run_code_rules
from codecortex.analysis.deps import dependency_rules
from codecortex.analysis.model import FileAnalysis, Insight, Relationship
from codecortex.analysis.project import import_cycle_rule, readme_rules
from codecortex.analysis.secrets import scan_secrets
from codecortex.diagnostics import Range

__all__ = [
    "AnalysisThresholds",
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


# --------------------------------------------------------------------------- per-file rules


@dataclass(frozen=True, slots=True)
class _LimitRule:
    """Reports a function or method whose `metric` (a `SymbolInfo` field) is above the threshold
    `limit` (an `AnalysisThresholds` field). `title` and `summary` are format strings over
    name, Kind (the symbol's kind, capitalised), value and limit."""

    says: Rule
    metric: str
    limit: str
    detail_key: str  # under which `detail` holds the measured value
    title: str
    summary: str
    confidence: float
    warning_above: int = 0  # above this multiple of the limit: warning instead of info (0: never)


_REFACTOR_RULES = (
    _LimitRule(
        Rule(
            "refactor.complexity",
            "refactor",
            "hours",
            "Every branch is a path to test and to understand; complex functions hide bugs.",
            "Extract branches into well-named helpers, use early returns or lookup tables.",
        ),
        "complexity",
        "max_complexity",
        "complexity",
        "{name} is too complex (cyclomatic complexity {value})",
        "{Kind} {name} has cyclomatic complexity {value} (limit {limit}).",
        0.9,
        warning_above=2,
    ),
    _LimitRule(
        Rule(
            "refactor.long_function",
            "refactor",
            "hours",
            "Long functions mix several steps and are hard to review and reuse.",
            "Split the function into steps with one responsibility each.",
        ),
        "line_count",
        "max_function_lines",
        "lines",
        "{name} is too long ({value} lines)",
        "{name} spans {value} lines (limit {limit}).",
        0.85,
    ),
    _LimitRule(
        Rule(
            "refactor.deep_nesting",
            "refactor",
            "hours",
            "Deeply nested code is hard to follow; each level multiplies the states.",
            "Use guard clauses / early returns and extract inner loops into functions.",
        ),
        "max_nesting",
        "max_nesting",
        "nesting",
        "{name} nests {value} levels deep",
        "{name} has blocks nested {value} deep (limit {limit}).",
        0.85,
    ),
    _LimitRule(
        Rule(
            "refactor.long_parameter_list",
            "refactor",
            "hours",
            "Long parameter lists are easy to call wrongly and signal missing abstractions.",
            "Group related parameters into an object/dataclass or split the function.",
        ),
        "params",
        "max_params",
        "params",
        "{name} takes {value} parameters",
        "{name} has {value} parameters (limit {limit}).",
        0.8,
    ),
)

_MISSING_DOC = Rule(
    "documentation.missing_doc",
    "documentation",
    "minutes",
    "The rest of the module is documented; readers expect the same here.",
    "Add a docstring / doc comment saying what it does, its inputs and results.",
)
_TOO_MANY_RESPONSIBILITIES = Rule(
    "architecture.too_many_responsibilities",
    "architecture",
    "days",
    "Large modules couple unrelated code, slow reviews and cause merge conflicts.",
    "Split the module by responsibility into smaller modules inside a package.",
)


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
        for r in _REFACTOR_RULES:
            value: int = getattr(s, r.metric)
            limit: int = getattr(t, r.limit)
            if value <= limit:
                continue
            warn = r.warning_above and value > r.warning_above * limit
            fields = {"name": name, "Kind": s.kind.capitalize(), "value": value, "limit": limit}
            b.add(
                r.says,
                title=r.title.format(**fields),
                summary=r.summary.format(**fields),
                range_=header,
                severity="warning" if warn else "info",
                confidence=r.confidence,
                symbol=name,
                extra={r.detail_key: value, "limit": limit},
            )


def _documentation_rule(b: InsightBuilder, analysis: FileAnalysis, t: AnalysisThresholds) -> None:
    if analysis.is_test or analysis.doc_coverage < t.min_doc_coverage:
        return
    for s in analysis.symbols:
        if s.is_public and not s.has_doc:
            b.add(
                _MISSING_DOC,
                title=f"Public {s.kind} {s.qualified_name} has no documentation",
                summary=(
                    f"{s.qualified_name} is public but undocumented, while "
                    f"{analysis.doc_coverage:.0%} of this file's public symbols are documented."
                ),
                range_=Range.of(s.start_line, s.start_character, s.start_line, s.start_character),
                severity="info",
                confidence=0.8,
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
        _TOO_MANY_RESPONSIBILITIES,
        title=f"{analysis.path} has too many responsibilities",
        summary=f"{analysis.path} has " + " and ".join(reasons) + ".",
        range_=Range.of(0, 0, 0, 0),
        severity="info",
        confidence=0.7,
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
    root = Path(root)
    out: list[Insight] = []
    out += import_cycle_rule(analyses, list(relationships))
    out += readme_rules(root, has_sources=bool(analyses))
    out += dependency_rules(root, site_packages)
    return out
