"""What every insight rule builds on: the rule spec (`Rule`: what a rule says), the priority of a
finding (`prioritise`) and the per-file collector that fingerprints findings (`InsightBuilder`).

The rule modules (insights, code_rules, secrets, project, deps) import this module; it imports
none of them.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from codecortex.analysis.model import Insight, Priority, SymbolInfo
from codecortex.diagnostics import Range, TextEdit
from codecortex.syntax.positions import normalise_snippet, sha256_hex

__all__ = ["InsightBuilder", "Rule", "prioritise"]


@dataclass(frozen=True, slots=True)
class Rule:
    """What a rule says about each of its findings: its id, insight type, the effort a fix takes,
    why it matters and how to fix it."""

    id: str
    type: str
    effort: str
    why: str
    how: str


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
        says: Rule,
        *,
        title: str,
        summary: str,
        range_: Range,
        severity: str,
        confidence: float,
        snippet: str = "",
        symbol: str | None = None,
        use_symbol_at: bool = True,
        fix: list[TextEdit] | None = None,
        extra: Mapping[str, Any] | None = None,
        file: str | None = None,
    ) -> Insight:
        """One finding of the rule `says` (its id, type, effort, why and how come from the rule)."""
        if symbol is None and use_symbol_at:
            sym = self.symbol_at(range_.start.line)
            symbol = sym.qualified_name if sym is not None else None
        file = file or self.file
        key = sha256_hex(says.id, file, symbol or "", normalise_snippet(snippet))
        detail: dict[str, Any] = {"rule": says.id, "why": says.why, "how_to_fix": says.how}
        if extra:
            detail.update(extra)
        priority = prioritise(
            says.type, severity, confidence, says.effort, has_fix=bool(fix), is_test=self.is_test
        )
        insight = Insight(
            type=says.type,
            rule=says.id,
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
