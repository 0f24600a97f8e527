"""Grounding a fix request: the prompt values of `synthesize_fix` (the diagnostic, the code around
it from tree-sitter: the enclosing function and the imports, the developer's top past solutions
and project knowledge) within a token budget, secrets redacted.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import psycopg

from codecortex.analysis.symbols import analyze_source
from codecortex.diagnostics import Diagnostic
from codecortex.llm import fit_to_budget
from codecortex.llm.redaction import redact
from codecortex.store import solutions as solution_store
from codecortex.syntax import grammars as treesitter
from codecortex.syntax.context import enclosing_context

log = logging.getLogger(__name__)

PROMPT_BUDGET_TOKENS = 3000  # for the variable parts of the prompt (code, past fixes, knowledge)
MAX_FUNCTION_LINES = 150
WINDOW_LINES = 25
MAX_SOLUTIONS = 3
MAX_KNOWLEDGE = 3


@dataclass
class FixRequest:
    """One open problem in one document, as the editor has it now."""

    problem: dict[str, Any]  # the detected_problems row (id, problem_signature, tool, ...)
    diagnostic: Diagnostic
    path: str  # shown to the model (workspace-relative when known)
    language: str | None
    text: str
    version: int | None = None


@dataclass
class Grounding:
    values: dict[str, str]
    redacted_lines: set[int]
    sources: list[dict[str, Any]]


def _listing(lines: list[str], numbers: list[int]) -> str:
    return "\n".join(f"{i:>4}|{lines[i].rstrip(chr(13) + chr(10))}" for i in numbers)


def _code_lines(request: FixRequest) -> tuple[list[int], list[int], str | None]:
    """(code line numbers, import line numbers, enclosing function name)."""
    lines = request.text.splitlines(keepends=True)
    if not lines:
        return [], [], None
    rng = request.diagnostic.range
    first, last = rng.start.line, max(rng.end.line, rng.start.line)
    first, last = min(first, len(lines) - 1), min(last, len(lines) - 1)
    name: str | None = None
    lo, hi = max(0, first - WINDOW_LINES), min(len(lines) - 1, last + WINDOW_LINES)
    try:
        ctx = enclosing_context(request.text, request.language, first, rng.start.character)
        name = ctx.function_name
        fr = ctx.function_range
        if name and fr.end.line - fr.start.line + 1 <= MAX_FUNCTION_LINES:
            lo, hi = min(fr.start.line, first), max(fr.end.line, last)
        elif not name:
            lo, hi = max(0, first - WINDOW_LINES), min(len(lines) - 1, last + WINDOW_LINES)
    except Exception as exc:  # context is a help, never a reason to fail
        log.debug("enclosing context failed: %s", exc)
    imports: list[int] = []
    lang = treesitter.normalise_language(request.language)
    if lang is not None:
        try:
            analysis = analyze_source(
                request.path, request.text, lang, collect_calls=False, keep_tree=False
            )
            imports = sorted(
                {i.line for i in analysis.imports if not i.local} - set(range(lo, hi + 1))
            )
        except Exception as exc:
            log.debug("import extraction failed: %s", exc)
    return list(range(lo, hi + 1)), [i for i in imports if i < len(lines)], name


def _solution_block(n: int, sol: Mapping[str, Any]) -> tuple[str, str]:
    title = f"Past fix {n} (id {sol.get('id')}, reused {int(sol.get('reuse_count') or 0)}x)"
    body = (
        f"Problem: {sol.get('error_pattern') or ''}\n"
        f"Language: {sol.get('language') or 'unknown'}\n"
        f"Change:\n{sol.get('diff') or ''}"
    )
    return title, body


def _knowledge_block(item: Mapping[str, Any]) -> tuple[str, str]:
    where = item.get("source_path") or item.get("item_kind") or "note"
    return f"{item.get('title') or 'Untitled'} ({where})", str(item.get("content") or "")[:2000]


def build_grounding(
    request: FixRequest,
    solutions: Sequence[Mapping[str, Any]],
    knowledge: Sequence[Mapping[str, Any]],
    budget_tokens: int = PROMPT_BUDGET_TOKENS,
) -> Grounding:
    """The prompt values for `synthesize_fix`, within `budget_tokens`, secrets redacted.

    `redacted_lines` are the document lines whose listing lost a secret: an edit touching one of
    them would be computed on text the model never saw, so it is refused."""
    lines = request.text.splitlines(keepends=True)
    code_numbers, import_numbers, function_name = _code_lines(request)
    code_listing = _listing(lines, code_numbers)
    import_listing = _listing(lines, import_numbers)
    redacted_lines: set[int] = set()
    for listing, numbers in ((code_listing, code_numbers), (import_listing, import_numbers)):
        clean, count = redact(listing)
        if count:
            for i in numbers:
                if _listing(lines, [i]) not in clean:
                    redacted_lines.add(i)
    d = request.diagnostic
    rng = d.range
    diagnostic = (
        f"{d.source or 'tool'}{' ' + d.code if d.code else ''}: {d.message}\n"
        f"Range: line {rng.start.line}, character {rng.start.character} to line "
        f"{rng.end.line}, character {rng.end.character} (0-based)"
    )
    if function_name:
        diagnostic += f"\nEnclosing definition: {function_name}"
    code = fit_to_budget(
        [("Imports", import_listing, 5), ("Code", code_listing, 10)], int(budget_tokens * 0.55)
    )
    sol_sections = [
        (*_solution_block(n, s), 10 - n) for n, s in enumerate(solutions[:MAX_SOLUTIONS], 1)
    ]
    past = fit_to_budget(sol_sections, int(budget_tokens * 0.3)) or "(none recorded yet)"
    know_sections = [(*_knowledge_block(k), 5 - n) for n, k in enumerate(knowledge[:MAX_KNOWLEDGE])]
    know = fit_to_budget(know_sections, int(budget_tokens * 0.15)) or "(none)"
    sources = [
        {"kind": "solution", "id": str(s.get("id")), "title": str(s.get("error_pattern") or "")}
        for s in solutions[:MAX_SOLUTIONS]
    ] + [
        {"kind": "knowledge", "id": str(k.get("id")), "title": str(k.get("title") or "")}
        for k in knowledge[:MAX_KNOWLEDGE]
    ]
    values = {
        "language": request.language or "unknown",
        "path": request.path,
        "diagnostic": diagnostic,
        "code": code,
        "past_solutions": past,
        "knowledge": know,
    }
    return Grounding(values, redacted_lines, sources)


async def gather_sources(
    conn: psycopg.AsyncConnection[Any],
    user_id: Any,
    signature: str,
    known_solutions: list[Mapping[str, Any]],
    related: list[Mapping[str, Any]],
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Top past solutions (the problem's replay candidates, then retrieval hits, then exact
    signature matches) and knowledge chunks (retrieval hits), without duplicates."""
    solutions: list[dict[str, Any]] = []
    seen: set[str] = set()

    def add(row: Mapping[str, Any]) -> None:
        key = str(row.get("id"))
        if key not in seen and len(solutions) < MAX_SOLUTIONS:
            seen.add(key)
            solutions.append(dict(row))

    for row in known_solutions:
        add(row)
    for row in related:
        if row.get("kind") == "solution":
            add(row)
    if len(solutions) < MAX_SOLUTIONS:
        by_sig = await solution_store.solutions_for_signatures(
            conn, user_id, [signature], per_signature=MAX_SOLUTIONS
        )
        for row in by_sig.get(signature, []):
            add(row)
    knowledge = [dict(r) for r in related if r.get("kind") == "knowledge"][:MAX_KNOWLEDGE]
    return solutions, knowledge


__all__ = [
    "MAX_KNOWLEDGE",
    "MAX_SOLUTIONS",
    "PROMPT_BUDGET_TOKENS",
    "FixRequest",
    "Grounding",
    "build_grounding",
    "gather_sources",
]
