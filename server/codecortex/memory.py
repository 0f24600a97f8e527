"""The problem memory: record diagnostics as detected problems, resolve the ones that went away
and learn their fix, and recall known fixes (replayed on the new code) for the ones still open.

Used by the language server (diagnostics forwarded by the editor) and by `codecortex check`
(diagnostics from detectors). Plain Python over `codecortex.store`; no LSP types here.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import psycopg

from codecortex import treesitter
from codecortex.analysis.context import enclosing_context
from codecortex.config import Settings
from codecortex.diagnostics import Diagnostic, Range
from codecortex.embeddings import Embedder, HashEmbedder
from codecortex.learning import LearnedChange, learn_change
from codecortex.replay import ReplayResult, replay_fix, suggestion_values
from codecortex.signatures import Signature, classify_problem_type, compute_signature
from codecortex.store import problems as problem_store
from codecortex.store import retrieval as retrieval_store
from codecortex.store import solutions as solution_store

log = logging.getLogger(__name__)

OWN_SOURCE = "codecortex"
# What applying a replayed fix costs the developer (pick the action, glance at the diff): the
# estimated time saved is the time the original fix took minus this.
REPLAY_APPLY_SECONDS = 5
MAX_FIX_CANDIDATES = 5


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

    @property
    def confidence(self) -> float:
        """Replay confidence, lowered for weakly learned fixes (learned confidence below 0.9,
        i.e. not a change on the problem's own lines) and for fixes developers rejected."""
        learned = float(self.solution.get("confidence") or 1.0)
        rejects = min(int(self.solution.get("reject_count") or 0), 3)
        return float(self.replay.confidence) * min(1.0, learned / 0.9) * (1 - 0.1 * rejects)


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
        detection_method: str = "editor",
        version: int | None = None,
    ) -> Observation:
        """Reconcile the current diagnostics of one document with its open problems.

        `tools`: the tools whose full result this is (None = every tool: the editor's full set).
        Open problems of those tools that are not reported any more are resolved, and the change
        between the last text they were seen in and `text` is learned as a past solution.
        """
        language = treesitter.normalise_language(language)
        ignored = await problem_store.ignored_signatures(conn, ident.user_id)
        current: list[tuple[Diagnostic, Signature]] = []
        for diag in diagnostics:
            if diag.source.lower() == OWN_SOURCE:
                continue
            sig = self.signature(diag, language)
            if sig.key in ignored:
                continue
            current.append((diag, sig))

        open_rows = await problem_store.open_problems(conn, ident.user_id, file_path)
        # Match against every open problem (a key holds its tool, so only the same tool's rows
        # can match), but only the tools whose full result this is can resolve: a partial set
        # (tools=set(), code action context) must find its known problems, not insert them again.
        matched, new, gone = _match(open_rows, current)
        if tools is not None:
            gone = [r for r in gone if r["tool"] in tools]

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
        for d, sig in new:
            ptype = classify_problem_type(sig, d.severity)
            context = problem_context(text, language, d.range)
            pid = await problem_store.insert_problem(
                conn,
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
                ),
            )
            views.append(ProblemView(d, sig, pid, ptype))

        resolved: list[Resolved] = []
        deferred = False
        if gone:
            if language and treesitter.syntax_error_count(text, language) > 0:
                # Mid-edit: the problem may be hidden by a syntax error. Decide later.
                deferred = True
            else:
                snapshot = await problem_store.get_snapshot(conn, ident.user_id, file_path, "*")
                before_text = snapshot[0] if snapshot else None
                for row in gone:
                    resolved.append(
                        await self._resolve(conn, ident, row, before_text, text, language)
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
    ) -> Resolved:
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
        )
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
    ) -> None:
        """Fill `history`, `fixes` (replayed on `text`) and `related` of each view in place."""
        if not views:
            return
        language = treesitter.normalise_language(language)
        keys = sorted({v.signature.key for v in views})
        history = await problem_store.signature_history(conn, ident.user_id, keys)
        by_sig = await solution_store.solutions_for_signatures(
            conn, ident.user_id, keys, per_signature=MAX_FIX_CANDIDATES
        )
        for view in views:
            view.history = history.get(view.signature.key, {})
            view.fixes = self.replay_candidates(
                view, by_sig.get(view.signature.key, []), text, language
            )
        if related:
            await self.fill_related(conn, ident, views)

    def replay_candidates(
        self,
        view: ProblemView,
        solutions: list[dict[str, Any]],
        text: str,
        language: str | None,
    ) -> list[FixOption]:
        """Replay each candidate solution on `text`; CPU only (no database)."""
        new_values = replay_values(
            [p.value for p in view.signature.values], view.diagnostic.message
        )
        options: list[FixOption] = []
        seen_results: set[str] = set()
        for sol in solutions:
            try:
                result = replay_fix(
                    sol["before_text"],
                    sol["after_text"],
                    [str(v) for v in (sol.get("signature_values") or [])],
                    new_values,
                    text,
                    view.diagnostic.range,
                    language,
                )
            except Exception as exc:  # a bad stored row must not break recall
                log.debug("replay failed for %s: %s", sol.get("id"), exc)
                continue
            if result is None or result.new_text in seen_results:
                continue
            seen_results.add(result.new_text)
            options.append(FixOption(sol, result))
        options.sort(key=lambda o: o.confidence, reverse=True)
        return options

    async def fill_related(
        self, conn: psycopg.AsyncConnection[Any], ident: Identity, views: list[ProblemView]
    ) -> None:
        """Similar fixes and knowledge for each view (hybrid search), logged as shown."""
        queries = [f"{v.diagnostic.message} {v.signature.template}" for v in views]
        vectors = await self.query_vectors(queries)
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
                )
            except psycopg.Error as exc:
                log.warning("retrieval failed: %s", exc)
                view.related = []
                continue
            if view.related:
                await retrieval_store.log_search_results(conn, view.problem_id, view.related)

    async def query_vectors(self, texts: list[str]) -> list[np.ndarray | None]:
        """Vectors for queries; None (keyword + signature only) when the embedder fails."""
        if not texts:
            return []
        try:
            if isinstance(self.embedder, HashEmbedder):
                return list(self.embedder.embed_array(texts))
            vectors = await asyncio.wait_for(self.embedder.embed(texts), timeout=10)
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
