"""Synthesized fixes: when no past fix replays, ask the configured model for a minimal edit,
grounded in the diagnostic, the code around it, the developer's past solutions and project
knowledge (`synthesis.grounding`), and learn from what the developer accepts.

Engine layer (plain Python over `codecortex.store`). Everything here is optional: without a model
(`llm.provider` = "none") nothing calls it. The model runs through `synthesis.runner.Synthesizer`
(built from `Settings.llm_settings()`).

* `synthesize_fix(...)` - prompt, call (or cache), validate, store a `synthesized_solutions` row.
* `validate_edits(...)` - the model's edits apply to the document and parse.
* `record_action(...)` - applied / modified / rejected, tied back to the prompt execution; an
  applied fix becomes a past solution.
"""

from __future__ import annotations

import difflib
import itertools
import logging
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import psycopg

from codecortex.diagnostics import Diagnostic, Range, TextEdit, apply_edits
from codecortex.llm import LLMError
from codecortex.llm.redaction import PLACEHOLDER_RE, redact
from codecortex.memory.learning import LearnedChange, learn_change
from codecortex.store import synthesis as synth_store
from codecortex.syntax import grammars as treesitter
from codecortex.synthesis.grounding import FixRequest, build_grounding, gather_sources
from codecortex.synthesis.runner import Synthesizer, outcome_of

log = logging.getLogger(__name__)

TEMPLATE = "synthesize_fix"
ACTIONS = ("applied", "modified", "rejected")


# --- validation ------------------------------------------------------------------------------


class InvalidEdits(ValueError):
    """The model's edits cannot be offered; the message says why."""


def validate_edits(
    text: str, language: str | None, raw_edits: list[Mapping[str, Any]], redacted_lines: set[int]
) -> tuple[list[TextEdit], str]:
    """Check that the edits apply to `text` and re-parse without new syntax errors; return the
    edits and the new text, or raise InvalidEdits."""
    if not raw_edits:
        raise InvalidEdits("the model proposed no change")
    lines = text.splitlines(keepends=True)
    n = len(lines)
    edits: list[TextEdit] = []
    for e in raw_edits:
        sl, sc = int(e["start_line"]), int(e["start_character"])
        el, ec = int(e["end_line"]), int(e["end_character"])
        new_text = str(e["new_text"])
        if (el, ec) < (sl, sc):
            raise InvalidEdits(f"an edit ends (line {el}) before it starts (line {sl})")
        for line, col in ((sl, sc), (el, ec)):
            if line > n or (line == n and col > 0):
                raise InvalidEdits(f"an edit points at line {line}, but the document has {n} lines")
            if line < n and col > len(lines[line].rstrip("\r\n")):
                raise InvalidEdits(f"an edit points past the end of line {line} (column {col})")
        if redacted_lines & set(range(sl, el + 1)):
            raise InvalidEdits("an edit touches a line whose secret was redacted from the prompt")
        if PLACEHOLDER_RE.search(new_text):
            raise InvalidEdits("an edit would write a redaction placeholder into the code")
        edits.append(TextEdit(Range.of(sl, sc, el, ec), new_text))
    ordered = sorted(edits, key=lambda t: (t.range.start.line, t.range.start.character))
    for a, b in itertools.pairwise(ordered):
        if (a.range.end.line, a.range.end.character) > (
            b.range.start.line,
            b.range.start.character,
        ):
            raise InvalidEdits("the edits overlap")
    new = apply_edits(text, ordered)
    if new == text:
        raise InvalidEdits("the edits change nothing")
    lang = treesitter.normalise_language(language)
    if lang is not None:
        before = treesitter.syntax_error_count(text, lang)
        after = treesitter.syntax_error_count(new, lang)
        if after > before:
            raise InvalidEdits(
                f"the edited code does not parse ({after - before} new syntax errors)"
            )
    return ordered, new


# --- synthesize ------------------------------------------------------------------------------


@dataclass
class SynthesisResult:
    ok: bool
    message: str = ""  # why it failed (user-facing), or the model's explanation
    outcome: str = "success"
    synth_id: Any = None
    execution_id: Any = None
    edits: list[TextEdit] = field(default_factory=list)
    new_text: str = ""
    explanation: str = ""
    confidence: float = 0.0
    cached: bool = False
    model: str = ""
    sources: list[dict[str, Any]] = field(default_factory=list)


def _uuid(value: Any) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


def _change(request: FixRequest, new_text: str) -> tuple[str, str, str]:
    """(before, after, diff) of the region the fix changes, secrets redacted."""
    learned = learn_change(
        request.text, new_text, request.diagnostic.range, request.language, max_diff_lines=400
    )
    if isinstance(learned, LearnedChange):
        before, after, diff = learned.before, learned.after, learned.diff
    else:
        diff = "".join(
            difflib.unified_diff(
                request.text.splitlines(keepends=True),
                new_text.splitlines(keepends=True),
                "before",
                "after",
                n=2,
            )
        )
        before, after = request.text, new_text
    return redact(before)[0], redact(after)[0], redact(diff)[0]


async def synthesize_fix(
    conn: psycopg.AsyncConnection[Any],
    synth: Synthesizer,
    request: FixRequest,
    *,
    user_id: Any,
    repo_id: Any = None,
    solutions: Sequence[Mapping[str, Any]] | None = None,
    knowledge: Sequence[Mapping[str, Any]] | None = None,
    still_current: Callable[[], bool] | None = None,
    progress: Callable[[str], Any] | None = None,
) -> SynthesisResult:
    """Ask the model (or the cache) for a fix of `request`, validate it against the document and
    store it as a `synthesized_solutions` row. Never raises for model or validation failures:
    the result carries `ok=False` and a message for the developer."""
    if not synth.enabled:
        problems = synth.settings.validate()
        return SynthesisResult(
            False,
            "no model is configured"
            + (f" ({'; '.join(problems)})" if problems and synth.settings.enabled else ""),
            "not_configured",
        )
    grounding = build_grounding(request, list(solutions or []), list(knowledge or []))
    if progress:
        progress(f"asking {synth.model}")
    try:
        run = await synth.run_template(
            conn,
            TEMPLATE,
            grounding.values,
            user_id=user_id,
            repo_id=repo_id,
            problem_id=request.problem.get("id"),
        )
    except LLMError as err:
        return SynthesisResult(False, err.message, outcome_of(err), model=synth.model)
    if progress:
        progress("validating the edit")
    data = run.data
    explanation = str(data.get("explanation") or "").strip()
    try:
        if still_current is not None and not still_current():
            raise InvalidEdits("the document changed while the fix was being synthesized")
        edits, new_text = validate_edits(
            request.text, request.language, list(data.get("edits") or []), grounding.redacted_lines
        )
    except (InvalidEdits, KeyError, TypeError, ValueError) as exc:
        reason = str(exc) if isinstance(exc, InvalidEdits) else f"malformed edit ({exc})"
        if explanation and "no change" in reason:
            reason += f": {explanation}"
        await synth.reject(conn, run, reason)
        return SynthesisResult(
            False,
            f"the proposed fix was discarded: {reason}",
            "invalid_output",
            execution_id=run.execution_id,
            cached=run.cached,
            model=run.model,
        )
    await synth.remember(conn, run)
    before, after, diff = _change(request, new_text)
    confidence = float(data.get("confidence") or 0.0)
    sources = grounding.sources
    synth_id = await synth_store.insert_synthesis(
        conn,
        synth_store.NewSynthesis(
            problem_id=request.problem.get("id"),
            user_id=user_id,
            execution_id=run.execution_id,
            edits=[{"range": e.range.to_json(), "new_text": e.new_text} for e in edits],
            explanation=redact(explanation)[0] or "(no explanation)",
            confidence=confidence,
            primary_agent=run.model,
            contributing_agents=[f"{run.template.name}@v{run.template.version}"],
            contributing_sources=sources,
            primary_source_id=next(
                (u for s in sources if s["kind"] == "solution" and (u := _uuid(s["id"]))), None
            ),
            related_items=[
                u for s in sources if s["kind"] == "knowledge" and (u := _uuid(s["id"]))
            ],
            file_path=request.problem.get("file_path") or request.path,
            document_version=request.version,
            language=request.language,
            solution_code=after,
            before_text=before,
            after_text=after,
            diff=diff,
        ),
    )
    return SynthesisResult(
        True,
        explanation,
        "cached" if run.cached else "success",
        synth_id=synth_id,
        execution_id=run.execution_id,
        edits=edits,
        new_text=new_text,
        explanation=explanation,
        confidence=confidence,
        cached=run.cached,
        model=run.model,
        sources=sources,
    )


async def fix_for_problem(
    conn: psycopg.AsyncConnection[Any],
    synth: Synthesizer,
    problem_id: Any,
    diagnostic: Diagnostic,
    *,
    path: str,
    language: str | None,
    text: str,
    version: int | None,
    user_id: Any,
    repo_id: Any = None,
    known_solutions: Sequence[Mapping[str, Any]] = (),
    related: Sequence[Mapping[str, Any]] = (),
    still_current: Callable[[], bool] | None = None,
    progress: Callable[[str], Any] | None = None,
) -> SynthesisResult:
    """`synthesize_fix` for a recorded problem: loads it, gathers the top past solutions and
    knowledge (the problem's replay candidates and retrieval hits first), then synthesizes."""
    problem = await synth_store.get_problem(conn, problem_id)
    if problem is None:
        return SynthesisResult(False, "the problem is no longer recorded", "error")
    if progress:
        progress("gathering past solutions")
    solutions, knowledge = await gather_sources(
        conn, user_id, problem["problem_signature"], list(known_solutions), list(related)
    )
    return await synthesize_fix(
        conn,
        synth,
        FixRequest(problem, diagnostic, path, language, text, version),
        user_id=user_id,
        repo_id=repo_id,
        solutions=solutions,
        knowledge=knowledge,
        still_current=still_current,
        progress=progress,
    )


async def synthesis_row(conn: psycopg.AsyncConnection[Any], synth_id: Any) -> dict[str, Any] | None:
    """The stored synthesized fix (edits, explanation, template name and version)."""
    return await synth_store.get_synthesis(conn, synth_id)


# --- what the developer did with it -----------------------------------------------------------


async def record_action(
    conn: psycopg.AsyncConnection[Any],
    memory: Any,
    ident: Any,
    synth_id: Any,
    action: str,
    *,
    note: str | None = None,
    modifications: str | None = None,
) -> dict[str, Any]:
    """Record applied / modified / rejected for a synthesized fix. An applied fix is stored as a
    past solution (source "synthesized") through `memory.save_solution`, so it replays next time;
    a modified one is learned by the normal loop when the problem goes away."""
    if action not in ACTIONS:
        raise ValueError(f"action must be one of {', '.join(ACTIONS)}")
    row = await synth_store.get_synthesis(conn, synth_id)
    if row is None:
        return {"recorded": False, "error": "unknown synthesized fix"}
    solution_id = row.get("past_solution_id")
    if action == "applied" and solution_id is None and row.get("problem_id") is not None:
        problem = await synth_store.get_problem(conn, row["problem_id"])
        if problem is not None and (row.get("before_text") or row.get("after_text")):
            learned = LearnedChange(
                before=row.get("before_text") or "",
                after=row.get("after_text") or "",
                diff=row.get("diff") or "",
                region_before=Range.of(
                    problem.get("line_number") or 0, 0, problem.get("end_line") or 0, 0
                ),
                language=row.get("language") or problem.get("language"),
                confidence=0.9,
                reason="synthesized by " + str(row.get("primary_agent")),
            )
            solution_id = await memory.save_solution(
                conn, ident, problem, learned, None, source="synthesized"
            )
    await synth_store.set_user_action(
        conn,
        synth_id,
        action,
        past_solution_id=solution_id,
        feedback=note,
        modifications=modifications,
    )
    return {
        "recorded": True,
        "action": action,
        "solutionId": str(solution_id) if solution_id else None,
        "template": f"{row.get('template_name')}@v{row.get('template_version')}",
    }


__all__ = [
    "ACTIONS",
    "InvalidEdits",
    "SynthesisResult",
    "fix_for_problem",
    "record_action",
    "synthesis_row",
    "synthesize_fix",
    "validate_edits",
]
