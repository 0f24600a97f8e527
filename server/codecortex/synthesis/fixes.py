"""Synthesized fixes: when no past fix replays, ask the configured model for a minimal edit,
grounded in the diagnostic, the code around it (tree-sitter: enclosing function and imports), the
developer's past solutions and project knowledge, and learn from what the developer accepts.

Engine layer (plain Python over `codecortex.store`). Everything here is optional: without a model
(`llm.provider` = "none") nothing calls it.

* the model settings are `Settings.llm_settings()` (`codecortex.config`): the API key comes from
  the client or the environment (never from, nor into, the database or settings files).
* `Synthesizer` - one per process: the chat client, the shipped prompt templates and
  `run_template` (cache lookup, model call, execution bookkeeping) shared with learning paths and
  deep analysis.
* `synthesize_fix(...)` - prompt, call (or cache), validate, store a `synthesized_solutions` row.
* `record_action(...)` - applied / modified / rejected, tied back to the prompt execution; an
  applied fix becomes a past solution.
"""

from __future__ import annotations

import difflib
import hashlib
import itertools
import json
import logging
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import psycopg

from codecortex.analysis.context import enclosing_context
from codecortex.diagnostics import Diagnostic, Range, TextEdit, apply_edits
from codecortex.llm import (
    LLMAuthError,
    LLMBadResponse,
    LLMClient,
    LLMError,
    LLMNotConfigured,
    LLMRateLimited,
    LLMRefused,
    LLMRequestError,
    LLMSettings,
    LLMTimeout,
    LLMUnavailable,
    PromptTemplate,
    fit_to_budget,
    load_templates,
)
from codecortex.llm.redaction import PLACEHOLDER_RE, redact
from codecortex.memory.learning import LearnedChange, learn_change
from codecortex.store import prompts as prompt_store
from codecortex.store import solutions as solution_store
from codecortex.store import synthesis as synth_store
from codecortex.syntax import grammars as treesitter

log = logging.getLogger(__name__)

TEMPLATE = "synthesize_fix"
CACHE_TTL_SECONDS = 7 * 24 * 3600
PROMPT_BUDGET_TOKENS = 3000  # for the variable parts of the prompt (code, past fixes, knowledge)
MAX_FUNCTION_LINES = 150
WINDOW_LINES = 25
MAX_SOLUTIONS = 3
MAX_KNOWLEDGE = 3
ACTIONS = ("applied", "modified", "rejected")

_OUTCOMES: tuple[tuple[type[LLMError], str], ...] = (
    (LLMTimeout, "timeout"),
    (LLMRateLimited, "rate_limited"),
    (LLMUnavailable, "unavailable"),
    (LLMAuthError, "auth_error"),
    (LLMRequestError, "request_error"),
    (LLMBadResponse, "bad_response"),
    (LLMRefused, "refused"),
    (LLMNotConfigured, "not_configured"),
)


def outcome_of(err: LLMError) -> str:
    for cls, name in _OUTCOMES:
        if isinstance(err, cls):
            return name
    return "error"


# --- running a template: cache, model, bookkeeping ---------------------------------------------


@dataclass
class TemplateRun:
    template: PromptTemplate
    data: dict[str, Any]
    execution_id: Any
    cache_key: str
    input_hash: str
    cached: bool
    model: str
    tokens: int = 0
    latency_ms: int = 0


class Synthesizer:
    """The model client and prompt templates of one process (server or CLI command)."""

    def __init__(
        self,
        settings: LLMSettings,
        templates: dict[str, PromptTemplate] | None = None,
        client: LLMClient | None = None,
    ) -> None:
        self.settings = settings
        self.llm = client or LLMClient(settings)
        self.templates = templates or load_templates()

    @property
    def enabled(self) -> bool:
        return self.llm.enabled

    @property
    def model(self) -> str:
        return self.settings.model

    async def aclose(self) -> None:
        await self.llm.aclose()

    async def run_template(
        self,
        conn: psycopg.AsyncConnection[Any],
        name: str,
        values: dict[str, Any],
        *,
        user_id: Any = None,
        repo_id: Any = None,
        problem_id: Any = None,
        use_cache: bool = True,
    ) -> TemplateRun:
        """Render `name` with `values` (redacted here first), answer from the cache or the model,
        and record a `prompt_executions` row. Model errors are recorded and re-raised.

        The output is *not* cached yet: call `remember` once the caller validated it."""
        template = self.templates[name]
        values = {k: redact(v)[0] if isinstance(v, str) else v for k, v in values.items()}
        key = template.cache_key(self.model, **values)
        input_hash = hashlib.sha256(
            json.dumps(values, sort_keys=True, default=str).encode("utf-8")
        ).hexdigest()
        template_id = await prompt_store.register_template(conn, template)
        execution = prompt_store.NewExecution(
            template_id=template_id,
            provider=self.settings.provider,
            model=self.model,
            outcome="success",
            user_id=user_id,
            repo_id=repo_id,
            problem_id=problem_id,
            cache_key=key,
        )
        if use_cache:
            hit = await synth_store.cache_get(conn, key)
            if hit is not None:
                execution.outcome, execution.cached = "cached", True
                execution_id = await prompt_store.record_execution(conn, execution)
                return TemplateRun(
                    template, hit["output"], execution_id, key, input_hash, True, self.model
                )
        try:
            result = await self.llm.chat_json(template.render(**values), template.schema, name=name)
        except LLMError as err:
            execution.outcome, execution.error = outcome_of(err), err.message
            await prompt_store.record_execution(conn, execution)
            raise
        execution.prompt_tokens = result.prompt_tokens
        execution.completion_tokens = result.completion_tokens
        execution.latency_ms = result.latency_ms
        execution.redactions = result.redactions
        execution_id = await prompt_store.record_execution(conn, execution)
        return TemplateRun(
            template,
            result.data,
            execution_id,
            key,
            input_hash,
            False,
            self.model,
            result.prompt_tokens + result.completion_tokens,
            result.latency_ms,
        )

    async def remember(self, conn: psycopg.AsyncConnection[Any], run: TemplateRun) -> None:
        """Cache a validated model answer (cache hits are already there)."""
        if run.cached:
            return
        await synth_store.cache_put(
            conn,
            cache_key=run.cache_key,
            agent=run.template.name,
            agent_version=str(run.template.version),
            input_hash=run.input_hash,
            output=run.data,
            token_count=run.tokens,
            processing_time_ms=run.latency_ms,
            model=run.model,
            ttl_seconds=CACHE_TTL_SECONDS,
        )

    async def reject(
        self, conn: psycopg.AsyncConnection[Any], run: TemplateRun, reason: str
    ) -> None:
        """The answer was unusable: mark the execution (and never cache it)."""
        if not run.cached:
            await prompt_store.set_outcome(conn, run.execution_id, "invalid_output", reason)


# --- grounding ---------------------------------------------------------------------------------


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
            from codecortex.analysis.symbols import analyze_source

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
    "FixRequest",
    "Grounding",
    "InvalidEdits",
    "SynthesisResult",
    "Synthesizer",
    "TemplateRun",
    "build_grounding",
    "fix_for_problem",
    "gather_sources",
    "outcome_of",
    "record_action",
    "synthesis_row",
    "synthesize_fix",
    "validate_edits",
]
