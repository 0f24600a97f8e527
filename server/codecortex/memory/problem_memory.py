"""The problem memory: record diagnostics as detected problems, resolve the ones that went away
and learn their fix, and recall known fixes (replayed on the new code) for the ones still open.

Used by the language server (diagnostics forwarded by the editor) and by `codecortex check`
(diagnostics from detectors). Plain Python over `codecortex.store`; no LSP types here.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import itertools
import logging
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import psycopg

from codecortex.analysis.context import enclosing_context
from codecortex.config import Settings
from codecortex.diagnostics import Diagnostic, Range, TextEdit, apply_edits
from codecortex.knowledge.embeddings import Embedder, HashEmbedder
from codecortex.llm.redaction import scrub_async
from codecortex.memory.candidates import CandidateCache, Candidates
from codecortex.memory.formatting import configured_formatter, format_replay
from codecortex.memory.learning import LearnedChange, NoSolution, learn_change, not_a_fix
from codecortex.memory.moved import LineMap
from codecortex.memory.patterns import replay_pattern
from codecortex.memory.replay import ReplayResult, replay_fix, suggestion_values, tokenize
from codecortex.memory.signatures import Signature, classify_problem_type, compute_signature
from codecortex.memory.templates import generalise, replay_template, replay_templates
from codecortex.memory.verify import (
    UNVERIFIED_CONFIDENCE,
    Verifier,
    edit_touches_problem,
    runnable_tool,
    unexplained_names,
)
from codecortex.store import problems as problem_store
from codecortex.store import retrieval as retrieval_store
from codecortex.store import solutions as solution_store
from codecortex.syntax import grammars as treesitter

log = logging.getLogger(__name__)

OWN_SOURCE = "codecortex"
# What applying a replayed fix costs the developer (pick the action, glance at the diff): the
# estimated time saved is the time the original fix took minus this.
REPLAY_APPLY_SECONDS = 5
# Every stored fix of a signature is replayed and ranked by how well it fits (up to this many,
# best by reuse first when a signature has more); the best few that pass verification are kept.
MAX_STORED_CANDIDATES = 300
MAX_OFFERED_FIXES = 3
MAX_CHECKS_PER_PROBLEM = 6  # verification runs spent on one problem's candidates
# A replay that brings in a name nothing near the problem explains (verify.unexplained_names)
# is a choice made where it was learned, and not offered — unless past fixes learned in this
# many places, replayed here, all give the same edit: then the choice is the developers' habit
# (`1 // 0` -> `raise ZeroDivisionError` in test after test), not one place's.
HABIT_SUPPORT = 2
# Replayed per problem, the solutions most like the problem's code first (_closest): on the
# 100,000-solution benchmark the best fit and the share of problems with a fix were the same
# as with 40 at a sixth of the replay time.
MAX_REPLAYED_CANDIDATES = 8
RECALL_STEP = 8  # problems replayed together; their checks run while the next ones replay
FIRST_RECALL_STEP = 2  # the first step is small: its hints show while the rest replay


@dataclass
class Identity:
    """Who is working where: rows are attributed to `user_id` and scoped to `repo_id`."""

    user_id: Any
    user_name: str
    repo_id: Any = None
    visibility: str = "private"


@dataclass
class FixOption:
    solution: dict[str, Any]
    replay: ReplayResult
    # True: the reporting detector confirmed it on the edited text; False: it could not be run
    # (offered capped and marked unverified); None: not checked yet (never offered)
    verified: bool | None = None
    verification: str = ""
    # how many places the past fixes that, replayed here, give this same edited text were
    # learned in (distinct changes, each counted with its `learned_places`)
    support: int = 1

    @property
    def fit(self) -> float:
        """Replay confidence, lowered for weakly learned fixes (learned confidence below 0.9,
        i.e. not a change on the problem's own lines) and for fixes developers rejected."""
        learned = float(self.solution.get("confidence") or 1.0)
        rejects = min(int(self.solution.get("reject_count") or 0), 3)
        return float(self.replay.confidence) * min(1.0, learned / 0.9) * (1 - 0.1 * rejects)

    @property
    def confidence(self) -> float:
        """`fit`, capped at UNVERIFIED_CONFIDENCE unless the detector confirmed the fix."""
        if self.verified is True:
            return self.fit
        return min(self.fit, UNVERIFIED_CONFIDENCE)


@dataclass
class ProblemView:
    """One open problem with everything the editor shows about it."""

    diagnostic: Diagnostic
    signature: Signature
    problem_id: Any
    problem_type: str
    history: dict[str, Any] = field(default_factory=dict)
    fixes: list[FixOption] = field(default_factory=list)
    related: list[dict[str, Any]] = field(default_factory=list)
    # the stored fixes (the candidate cache's entry) and the text `fixes` were replayed and
    # checked from: a recall with both unchanged keeps them (the background refresh)
    replayed_from: tuple[Candidates, str] | None = field(default=None, repr=False, compare=False)

    @property
    def best_fix(self) -> FixOption | None:
        return self.fixes[0] if self.fixes else None


@dataclass
class Resolved:
    problem: dict[str, Any]
    solution_id: Any | None
    reason: str
    before_text: str | None = None
    seconds: int | None = None


@dataclass
class Observation:
    views: list[ProblemView]
    new: int
    resolved: list[Resolved]
    deferred: bool = False  # the text did not parse: resolution waits for a parseable version


def content_sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def _range_of(row: dict[str, Any]) -> Range:
    return Range.of(
        row["line_number"] or 0,
        row["column_number"] or 0,
        row["end_line"] if row["end_line"] is not None else row["line_number"] or 0,
        row["end_column"] if row["end_column"] is not None else row["column_number"] or 0,
    )


def problem_context(text: str, language: str | None, rng: Range) -> dict[str, Any]:
    """The code around a problem, kept with it: enclosing statement and function (tree-sitter),
    or a window of lines where no grammar exists. Never raises: a problem is never lost to it."""
    try:
        ctx = enclosing_context(text, language or "", rng.start.line, rng.start.character)
    except Exception as exc:
        log.debug("context extraction failed: %s", exc)
        return {}
    return {
        "statement": ctx.statement_text,
        "function": ctx.function_name,
        "symbol_path": ctx.symbol_path,
        "function_text": (ctx.function_text or "")[:4000],
    }


def replay_values(values: list[str], message: str) -> list[str]:
    """Placeholder values plus the names the message suggests ("Did you mean 'length'?"):
    signatures leave suggestions out of the key, but a rename fix needs them mapped."""
    return [str(v) for v in values] + suggestion_values(message)


def solution_text(error_pattern: str, description: str, diff: str) -> str:
    """What is embedded for a past solution."""
    return f"{error_pattern}\n{description}\n{diff}"


class Memory:
    def __init__(self, settings: Settings, embedder: Embedder | None = None) -> None:
        self.settings = settings
        self.embedder: Embedder = embedder or HashEmbedder()
        self.verifier = Verifier()
        self.candidates = CandidateCache()

    # --- signatures ----------------------------------------------------------------------

    @staticmethod
    def signature(diag: Diagnostic, language: str | None) -> Signature:
        return compute_signature(diag.source, diag.code, diag.message, language)

    # --- observe: record, touch, resolve + learn -------------------------------------------

    async def observe(
        self,
        conn: psycopg.AsyncConnection[Any],
        ident: Identity,
        file_path: str,
        text: str,
        language: str | None,
        diagnostics: list[Diagnostic],
        *,
        tools: set[str] | None = None,
        not_tools: frozenset[str] = frozenset(),
        detection_method: str = "editor",
        version: int | None = None,
    ) -> Observation:
        """Reconcile the current diagnostics of one document with its open problems.

        `tools`: the tools whose full result this is (None = every tool: the editor's full set).
        Open problems of those tools that are not reported any more are resolved, and the change
        between the last text they were seen in and `text` is learned as a past solution.
        `not_tools`: tools whose problems this result says nothing about (never resolved here).
        """
        language = treesitter.normalise_language(language)
        ignored = await problem_store.ignored_signatures(conn, ident.user_id)
        theirs = [d for d in diagnostics if d.source.lower() != OWN_SOURCE]
        if len(theirs) > 200:  # CPU work on big input runs off the event loop
            sigs = await asyncio.to_thread(lambda: [self.signature(d, language) for d in theirs])
        else:
            sigs = [self.signature(d, language) for d in theirs]
        current = [(d, sig) for d, sig in zip(theirs, sigs, strict=True) if sig.key not in ignored]

        open_rows = await problem_store.open_problems(conn, ident.user_id, file_path)
        # Match against every open problem (a key holds its tool, so only the same tool's rows
        # can match), but only the tools whose full result this is can resolve: a partial set
        # (tools=set(), code action context) must find its known problems, not insert them again.
        matched, new, gone = _match(open_rows, current)
        if tools is not None:
            gone = [r for r in gone if r["tool"] in tools]
        gone = [r for r in gone if r["tool"] not in not_tools]

        await problem_store.touch_problems(
            conn,
            [
                (
                    row["id"],
                    d.range.start.line,
                    d.range.start.character,
                    d.range.end.line,
                    d.range.end.character,
                    d.message,
                )
                for row, (d, _sig) in matched
            ],
        )
        views: list[ProblemView] = []
        for row, (d, sig) in matched:
            views.append(ProblemView(d, sig, row["id"], row["problem_type"]))
        inserts: list[problem_store.NewProblem] = []
        for d, sig in new:
            ptype = classify_problem_type(sig, d.severity)
            context = problem_context(text, language, d.range)
            inserts.append(
                problem_store.NewProblem(
                    user_id=ident.user_id,
                    repo_id=ident.repo_id,
                    problem_type=ptype,
                    signature=sig.key,
                    values=[p.value for p in sig.values],
                    tool=sig.tool,
                    code=sig.code,
                    language=language,
                    severity=d.severity,
                    file_path=file_path,
                    line=d.range.start.line,
                    column=d.range.start.character,
                    end_line=d.range.end.line,
                    end_column=d.range.end.character,
                    message=d.message,
                    code_context=context.get("statement", ""),
                    context=context,
                    detection_method=detection_method,
                )
            )
        ids = await problem_store.insert_problems(conn, inserts)  # one round trip for all
        for (d, sig), pid, inserted in zip(new, ids, inserts, strict=True):
            views.append(ProblemView(d, sig, pid, inserted.problem_type))

        resolved: list[Resolved] = []
        deferred = False
        if gone:
            if language and treesitter.syntax_error_count(text, language) > 0:
                # Mid-edit: the problem may be hidden by a syntax error. Decide later.
                deferred = True
            else:
                snapshot = await problem_store.get_snapshot(conn, ident.user_id, file_path, "*")
                before_text = snapshot[0] if snapshot else None
                # The snapshot is stored redacted: compare like with like (the redaction is
                # deterministic, so only what the developer changed differs).
                after_text = await scrub_async(text)
                appeared = [d for d, _sig in new]
                for row in gone:
                    resolved.append(
                        await self._resolve(
                            conn, ident, row, before_text, after_text, language, appeared
                        )
                    )
        if not deferred and (views or gone):
            await problem_store.put_snapshot(
                conn, ident.user_id, file_path, "*", text, content_sha(text), version
            )
        return Observation(views, len(new), resolved, deferred)

    async def _resolve(
        self,
        conn: psycopg.AsyncConnection[Any],
        ident: Identity,
        row: dict[str, Any],
        before_text: str | None,
        after_text: str,
        language: str | None,
        appeared: list[Diagnostic] | None = None,
    ) -> Resolved:
        """Resolve a problem that is not reported any more; its change becomes a past solution
        only when it is a real fix (`learning.not_a_fix`), else it stays resolved without one."""
        if before_text is None:
            seconds = await problem_store.resolve_problem(conn, row["id"], "no earlier text")
            return Resolved(row, None, "no snapshot of the code before the fix", None, seconds)
        learned = learn_change(
            before_text,
            after_text,
            _range_of(row),
            language,
            max_diff_lines=self.settings.max_diff_lines,
            symbol_hint=(row.get("context") or {}).get("symbol_path"),
            names=[str(v) for v in row.get("signature_values") or []],
        )
        if isinstance(learned, LearnedChange):
            why_not = not_a_fix(
                learned,
                before_text,
                _range_of(row),
                row.get("tool") or "",
                row.get("code") or "",
                [str(v) for v in row.get("signature_values") or []],
                appeared or [],
            )
            if why_not is not None:
                learned = NoSolution(why_not)
        if not isinstance(learned, LearnedChange):
            seconds = await problem_store.resolve_problem(conn, row["id"], learned.reason)
            return Resolved(row, None, learned.reason, before_text, seconds)
        seconds = await problem_store.resolve_problem(conn, row["id"], learned.reason or None)
        solution_id = await self.save_solution(
            conn,
            ident,
            row,
            learned,
            seconds,
            source="live" if row.get("detection_method") == "editor" else "cli",
        )
        return Resolved(row, solution_id, learned.reason or "learned", before_text, seconds)

    async def save_solution(
        self,
        conn: psycopg.AsyncConnection[Any],
        ident: Identity,
        problem: dict[str, Any],
        learned: LearnedChange,
        seconds: int | None,
        *,
        source: str,
        commit_sha: str | None = None,
        author: str | None = None,
    ) -> Any:
        description = (problem.get("context") or {}).get("statement") or ""
        error_pattern = problem.get("error_message") or ""
        chash = content_sha(
            "\x00".join([problem["problem_signature"], learned.before, learned.after])
        )
        solution_id, created = await solution_store.insert_solution(
            conn,
            solution_store.NewSolution(
                user_id=ident.user_id,
                repo_id=ident.repo_id,
                problem_id=problem.get("id"),
                signature=problem["problem_signature"],
                values=replay_values(list(problem.get("signature_values") or []), error_pattern),
                problem_type=problem.get("problem_type") or "error",
                description=description,
                error_pattern=error_pattern,
                tool=problem.get("tool") or "",
                code=problem.get("code") or "",
                language=learned.language or problem.get("language"),
                file_path=problem.get("file_path"),
                before_text=learned.before,
                after_text=learned.after,
                diff=learned.diff,
                context={
                    "symbol_path": (problem.get("context") or {}).get("symbol_path"),
                    "reason": learned.reason,
                },
                source=source,
                confidence=max(0.0, min(1.0, learned.confidence)),
                visibility=ident.visibility,
                time_to_solve_seconds=seconds,
                content_hash=chash,
                commit_sha=commit_sha,
                author=author,
            ),
        )
        if created:
            await self.embed_solutions(
                conn, [(solution_id, solution_text(error_pattern, description, learned.diff))]
            )
        return solution_id

    @staticmethod
    async def record_applied(conn: psycopg.AsyncConnection[Any], solution: dict[str, Any]) -> None:
        """A past fix was applied again: count the reuse and the time it saved."""
        took = int(solution.get("time_to_solve_seconds") or 0)
        await solution_store.record_reuse(conn, solution["id"], max(0, took - REPLAY_APPLY_SECONDS))

    async def embed_solutions(
        self, conn: psycopg.AsyncConnection[Any], rows: list[tuple[Any, str]]
    ) -> None:
        """Embed now with a local embedder; a remote one is left to the backfill job."""
        if not rows or not isinstance(self.embedder, HashEmbedder):
            return
        vectors = self.embedder.embed_array([t for _, t in rows])
        await solution_store.upsert_embeddings(
            conn,
            "past_solution",
            [(rid, vec, content_sha(t)) for (rid, t), vec in zip(rows, vectors, strict=True)],
            self.embedder.name,
        )

    # --- recall: fixes and related knowledge for open problems ------------------------------

    async def recall(
        self,
        conn: psycopg.AsyncConnection[Any],
        ident: Identity,
        text: str,
        language: str | None,
        views: list[ProblemView],
        *,
        related: bool = True,
        path: str | Path | None = None,
        root: Path | None = None,
        timings: dict[str, float] | None = None,
        on_ready: Callable[[list[ProblemView]], None] | None = None,
    ) -> None:
        """Fill `history`, `fixes` and `related` of each view in place.

        Every stored fix of a view's signature is replayed on `text` and ranked by fit; the best
        ones are checked by re-running the reporting detector on the edited text (`path`/`root`:
        where the document lives, so the project's configuration applies) and only fixes that
        pass (or, for tools that cannot run on text, touch the problem) are kept.

        Views go through in steps (FIRST_RECALL_STEP, then RECALL_STEP each), in document
        order: a step's fixes are checked while the next step's are replayed (the detector runs
        in its own process), and `on_ready` is called with each step's views once their fixes
        are final, so that an editor can show them before the whole document is done.
        `timings`: seconds spent per stage are added to it (bench/retrieval.py).
        """
        if not views:
            return
        clock = _Stages(timings)
        language = treesitter.normalise_language(language)
        keys = sorted({v.signature.key for v in views})
        history = await problem_store.signature_history(conn, ident.user_id, keys)
        clock.lap("history")
        by_sig = await self.candidates.get(
            conn, ident.user_id, keys, per_signature=MAX_STORED_CANDIDATES
        )
        clock.lap("candidates")
        order = sorted(views, key=lambda v: (v.diagnostic.range.start.line, v.signature.key))
        checking: list[asyncio.Task[None]] = []

        def unchanged(view: ProblemView) -> bool:
            done = view.replayed_from
            found = by_sig[view.signature.key]
            return done is not None and done[0] is found and (done[1] is text or done[1] == text)

        def replay(step: list[ProblemView]) -> list[list[FixOption]]:
            out = []
            for view in step:
                found = by_sig[view.signature.key]
                out.append(self.replay_candidates(view, found.rows, text, language, prepared=found))
            return out

        async def check(step: list[ProblemView], ranked: list[list[FixOption]]) -> None:
            await self.verify(step, ranked, text, language, path, root)
            # history and fixes become visible together: a hint ("seen 2×") is never shown
            # before the fixes it comes with are known
            for view in step:
                view.replayed_from = (by_sig[view.signature.key], text)
                view.history = history.get(view.signature.key, {})
            if on_ready is not None:
                on_ready(step)

        try:
            # the same stored fixes on the same text: the same fixes (only history is new)
            todo = []
            for view in order:
                if unchanged(view):
                    view.history = history.get(view.signature.key, {})
                else:
                    todo.append(view)
            order = todo
            bounds = [0, *range(FIRST_RECALL_STEP, len(order), RECALL_STEP), len(order)]
            for lo, hi in itertools.pairwise(bounds if order else []):
                step = order[lo:hi]
                ranked = await asyncio.to_thread(replay, step)
                clock.lap("replay")
                checking.append(asyncio.ensure_future(check(step, ranked)))
            await asyncio.gather(*checking)
        finally:
            for task in checking:
                task.cancel()
        clock.lap("verification")
        if related:
            await self.fill_related(conn, ident, views, timings=timings)

    async def verify(
        self,
        views: list[ProblemView],
        ranked: list[list[FixOption]],
        text: str,
        language: str | None,
        path: str | Path | None,
        root: Path | None,
    ) -> None:
        """Set each view's `fixes` to its best candidates that may be offered (see verify.py)."""
        file = Path(path) if path else None
        if root is None:
            root = file.parent if file is not None and file.is_absolute() else Path.cwd()
        if file is None or file.suffix not in (".py", ".pyi"):
            file = root / "untitled.py"

        formatter = language == "python" and configured_formatter(file, root) is not None
        # Options with names nothing near the problem explains are never offered; of the rest,
        # a problem whose tool can run spends at most MAX_CHECKS_PER_PROBLEM checks, in order.
        plausible: list[list[FixOption]] = []
        for view, options in zip(views, ranked, strict=True):
            keep = []
            for option in options:
                extra = unexplained_names(
                    option.replay.edits, text, view.diagnostic.range, view.diagnostic.message
                )
                if extra and option.support < HABIT_SUPPORT:
                    option.verification = "brings in " + ", ".join(sorted(extra))
                else:  # nothing new, or what several past fixes all brought in here
                    keep.append(option)
            plausible.append(keep)

        async def formatted(option: FixOption) -> None:
            if formatter:  # the project's formatter on the edited lines, then checked
                option.replay = await format_replay(option.replay, text, file, root)

        # The texts each problem's checks will need, checked with one ruff run for the step
        # (verify.py `prefetch`, detectors/versions.py) instead of one run per text.
        heads = [
            options[:MAX_CHECKS_PER_PROBLEM]
            if runnable_tool(view.signature.tool, language) is not None
            else []
            for view, options in zip(views, plausible, strict=True)
        ]
        await asyncio.gather(*(formatted(o) for options in heads for o in options))
        # The run selects the rule codes of all the step's problems besides the configured
        # ones, and each problem's verdict reads it (one run per rule code before).
        codes: dict[str, set[str]] = {}
        for view in views:
            if (tool := runnable_tool(view.signature.tool, language)) is not None:
                codes.setdefault(tool, set()).update(
                    [view.diagnostic.code] if view.diagnostic.code else []
                )
        selects = {tool: tuple(sorted(c)) for tool, c in codes.items()}
        batches: dict[tuple[str, tuple[str, ...]], list[str]] = {}
        for view, options in zip(views, heads, strict=True):
            if options:
                tool = runnable_tool(view.signature.tool, language) or ""
                batch = batches.setdefault((tool, selects.get(tool, ())), [text])
                batch.extend(o.replay.new_text for o in options)
        await asyncio.gather(
            *(
                self.verifier.prefetch(tool, texts, file, root, select)
                for (tool, select), texts in batches.items()
            )
        )

        async def one(view: ProblemView, options: list[FixOption], ready: int) -> None:
            tool = runnable_tool(view.signature.tool, language)
            kept: list[FixOption] = []
            checks = 0
            for n, option in enumerate(options):
                if len(kept) >= MAX_OFFERED_FIXES or checks >= MAX_CHECKS_PER_PROBLEM:
                    break
                if n >= ready:
                    await formatted(option)
                if tool is not None:
                    checks += 1
                    verdict = await self.verifier.check(
                        tool,
                        view.diagnostic,
                        text,
                        option.replay.new_text,
                        file,
                        root,
                        select=selects.get(tool),
                    )
                    option.verification = verdict.reason
                    if verdict.verified is False:
                        continue
                    if verdict.verified is True:
                        option.verified = True
                        kept.append(option)
                        continue
                # the tool cannot tell: offered only when the edit touches the problem
                names = [p.value for p in view.signature.values]
                if edit_touches_problem(option.replay.edits, text, view.diagnostic.range, names):
                    option.verified = False
                    option.verification = option.verification or (
                        f"{view.signature.tool or 'the tool'} cannot check unsaved text"
                    )
                    kept.append(option)
            kept.sort(key=lambda o: (o.verified is True, o.confidence), reverse=True)
            view.fixes = kept

        await asyncio.gather(
            *(one(v, o, len(h)) for v, o, h in zip(views, plausible, heads, strict=True))
        )

    def replay_candidates(
        self,
        view: ProblemView,
        solutions: list[dict[str, Any]],
        text: str,
        language: str | None,
        *,
        prepared: Candidates | None = None,
    ) -> list[FixOption]:
        """Replay each candidate solution on `text`, best fit first; CPU only (no database).
        `prepared`: the same solutions as kept by the candidate cache (their tokens and
        templates computed once).

        Identical results (the same edited text) are kept once, from the best-fitting
        solution (ties: the one reused most)."""
        new_values = replay_values(
            [p.value for p in view.signature.values], view.diagnostic.message
        )
        prepared = prepared if prepared is not None else Candidates(None, solutions)
        options: list[FixOption] = []
        seen_pairs: set[tuple[str, str, tuple[str, ...]]] = set()
        if language == "python":
            options.extend(_generalised(view, prepared, new_values, text))
        if len(solutions) > MAX_REPLAYED_CANDIDATES:
            solutions = _closest(prepared, new_values, text, view.diagnostic.range, language)
        for sol in solutions:
            old_values = [str(v) for v in (sol.get("signature_values") or [])]
            pair = (sol["before_text"], sol["after_text"], tuple(old_values))
            if pair in seen_pairs:
                continue  # the same learned change stored twice (teammates, history + live)
            seen_pairs.add(pair)
            # the token replay and the fix patterns (comments, imports, statement suffixes)
            # both try; verification decides between their results
            for replay in (replay_fix, replay_pattern, replay_templates):
                try:
                    result = replay(
                        sol["before_text"],
                        sol["after_text"],
                        old_values,
                        new_values,
                        text,
                        view.diagnostic.range,
                        language,
                    )
                except Exception as exc:  # a bad stored row must not break recall
                    log.debug("replay failed for %s: %s", sol.get("id"), exc)
                    continue
                if result is not None:
                    options.append(FixOption(sol, result))
        options.sort(key=lambda o: (o.fit, int(o.solution.get("reuse_count") or 0)), reverse=True)
        unique: dict[str, FixOption] = {}
        sources: dict[str, dict[tuple[str, str], int]] = {}
        for option in options:
            edited = option.replay.new_text
            unique.setdefault(edited, option)
            learned = sources.setdefault(edited, {})
            change = (str(option.solution["before_text"]), str(option.solution["after_text"]))
            places = int(option.solution.get("learned_places") or 1)
            learned[change] = max(learned.get(change, 0), places)
            unique[edited].support = sum(learned.values())
        return list(unique.values())

    def replay_again(
        self, view: ProblemView, old_text: str, text: str, language: str | None
    ) -> list[FixOption]:
        """The view's offered fixes replayed on a newer `text` (the document changed since they
        were checked): kept only when they make the same change (same code replaced by the same
        code), so that what was verified is still what is offered. CPU only."""
        again: list[FixOption] = []
        moved = LineMap.between(old_text, text) if view.fixes else None
        for fix in view.fixes:
            # the lines the fix edits did not change: the same edits at their new place
            edits = moved.edits(fix.replay.edits) if moved is not None else None
            if edits is not None:
                replay = dataclasses.replace(
                    fix.replay, edits=edits, new_text=apply_edits(text, edits)
                )
                again.append(dataclasses.replace(fix, replay=replay))
                continue
            # one solution can replay several ways (token replay, patterns, templates): the one
            # that makes the verified change is kept
            change = _change_of(fix.replay.edits, old_text)
            option = next(
                (
                    o
                    for o in self.replay_candidates(view, [fix.solution], text, language)
                    if _change_of(o.replay.edits, text) == change
                ),
                None,
            )
            if option is None:
                continue
            option.verified, option.verification = fix.verified, fix.verification
            option.support = fix.support
            again.append(option)
        return again

    async def fill_related(
        self,
        conn: psycopg.AsyncConnection[Any],
        ident: Identity,
        views: list[ProblemView],
        *,
        log_results: bool = True,
        timings: dict[str, float] | None = None,
    ) -> None:
        """Similar fixes and knowledge for each view (hybrid search), logged as shown
        (`log_results=False`: the caller logs them later with `log_related`, once the views
        are published)."""
        clock = _Stages(timings)
        queries = [f"{v.diagnostic.message} {v.signature.template}" for v in views]
        vectors = await self.query_vectors(queries)
        clock.lap("embed")
        for view, query, vec in zip(views, queries, vectors, strict=True):
            try:
                view.related = await retrieval_store.hybrid_search(
                    conn,
                    user_id=ident.user_id,
                    text=query,
                    vector=vec,
                    model=self.embedder.name,
                    signature=view.signature.key,
                    repo_id=ident.repo_id,
                    limit=5,
                    this_repo_only=True,
                )
            except psycopg.Error as exc:
                log.warning("retrieval failed: %s", exc)
                view.related = []
        clock.lap("search")
        if log_results:
            await self.log_related(conn, views)
            clock.lap("log")

    @staticmethod
    async def log_related(conn: psycopg.AsyncConnection[Any], views: list[ProblemView]) -> None:
        """Record what retrieval showed for each view (knowledge_search_results), one
        statement for all of them."""
        shown = [(v.problem_id, v.related) for v in views if v.related]
        if shown:
            await retrieval_store.log_search_results(conn, shown)

    async def query_vectors(self, texts: list[str]) -> list[np.ndarray | None]:
        """Vectors for queries; None (keyword + signature only) when the embedder fails."""
        if not texts:
            return []
        try:
            if isinstance(self.embedder, HashEmbedder):
                return list(self.embedder.embed_array(texts))
            async with asyncio.timeout(10):
                vectors = await self.embedder.embed(texts)
            return [np.asarray(v, dtype=np.float32) for v in vectors]
        except Exception as exc:
            log.warning("embedding the query failed (%s); searching without vectors", exc)
            return [None] * len(texts)

    async def search(
        self, conn: psycopg.AsyncConnection[Any], ident: Identity, query: str, limit: int = 10
    ) -> list[dict[str, Any]]:
        """Free-text search over past solutions and knowledge (CLI, `codecortex.search`)."""
        (vector,) = await self.query_vectors([query])
        return await retrieval_store.hybrid_search(
            conn,
            user_id=ident.user_id,
            text=query,
            vector=vector,
            model=self.embedder.name,
            signature=None,
            repo_id=ident.repo_id,
            limit=limit,
        )


class _Stages:
    """Adds the seconds since the previous lap to `timings[stage]` (no-op without timings)."""

    def __init__(self, timings: dict[str, float] | None) -> None:
        self.timings = timings
        self.last = time.perf_counter()

    def lap(self, stage: str) -> None:
        if self.timings is not None:
            now = time.perf_counter()
            self.timings[stage] = self.timings.get(stage, 0.0) + now - self.last
            self.last = now


def _closest(
    candidates: Candidates, new_values: list[str], text: str, rng: Range, language: str | None
) -> list[dict[str, Any]]:
    """The MAX_REPLAYED_CANDIDATES solutions whose old code is most like the problem's: a cheap
    filter before the replays, which rank by fit. Compared on distinct tokens, a solution's
    placeholder values taken as the new problem's (as the replay maps them): most alike the
    problem's own lines (shared / all of both), then most present in its lines +-5, then most
    reused."""
    lines = text.splitlines()
    lo, hi = max(0, rng.start.line - 5), rng.end.line + 6
    near = {t.text for t in tokenize("\n".join(lines[lo:hi]), language)}
    own = {t.text for t in tokenize("\n".join(lines[rng.start.line : rng.end.line + 1]), language)}
    sets = candidates.token_sets(language)

    def score(i: int) -> tuple[float, float, int]:
        toks = sets[i].mapped(new_values)
        reuse = int(candidates.rows[i].get("reuse_count") or 0)
        if not toks:
            return (0.0, 0.0, reuse)
        return (len(toks & own) / len(toks | own), len(toks & near) / len(toks), reuse)

    order = sorted(range(len(sets)), key=score, reverse=True)
    return [candidates.rows[i] for i in order[:MAX_REPLAYED_CANDIDATES]]


def _generalised(
    view: ProblemView, candidates: Candidates, new_values: list[str], text: str
) -> list[FixOption]:
    """Fix patterns generalised from all stored fixes of the signature (fixtemplates), applied
    at the problem; each stands for its most reused member fix."""
    by_reuse, changes = candidates.by_reuse()
    out = []
    for template in generalise(changes):
        sol = by_reuse[template.sources[0]]
        old_values = [str(v) for v in (sol.get("signature_values") or [])]
        try:
            result = replay_template(template, old_values, new_values, text, view.diagnostic.range)
        except Exception as exc:  # a bad stored row must not break recall
            log.debug("generalised replay failed: %s", exc)
            continue
        if result is not None:
            out.append(FixOption(sol, result))
    return out


def _change_of(edits: list[TextEdit], text: str) -> list[tuple[str, str]]:
    """(replaced code, new code) of each edit, in order: an edit independent of its position."""
    lines = text.splitlines(keepends=True)
    starts = [0]
    for line in lines:
        starts.append(starts[-1] + len(line))

    def offset(line: int, character: int) -> int:
        return starts[min(line, len(lines))] + character

    out = []
    for e in sorted(edits, key=lambda e: (e.range.start.line, e.range.start.character)):
        a = offset(e.range.start.line, e.range.start.character)
        b = offset(e.range.end.line, e.range.end.character)
        out.append((text[a:b], e.new_text))
    return out


def _match(
    open_rows: list[dict[str, Any]], current: list[tuple[Diagnostic, Signature]]
) -> tuple[
    list[tuple[dict[str, Any], tuple[Diagnostic, Signature]]],
    list[tuple[Diagnostic, Signature]],
    list[dict[str, Any]],
]:
    """Pair current diagnostics with open problems: same signature and values, nearest line."""
    pool: dict[tuple[str, tuple[str, ...]], list[dict[str, Any]]] = defaultdict(list)
    for row in open_rows:
        values = tuple(str(v) for v in (row.get("signature_values") or []))
        pool[(row["problem_signature"], values)].append(row)
    matched = []
    new = []
    for diag, sig in current:
        key = (sig.key, tuple(p.value for p in sig.values))
        candidates = pool.get(key)
        if candidates:
            best = min(
                candidates, key=lambda r: abs((r["line_number"] or 0) - diag.range.start.line)
            )
            candidates.remove(best)
            matched.append((best, (diag, sig)))
        else:
            new.append((diag, sig))
    gone = [row for rows in pool.values() for row in rows]
    return matched, new, gone
