"""Observing a document: its diagnostics reconciled with the open problems (recorded, touched),
the ones gone resolved and their fix learned and stored as a past solution (`Observing`, the
observe half of `Memory`)."""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections import defaultdict
from typing import Any

import psycopg

from codecortex.config import Settings
from codecortex.diagnostics import Diagnostic, Range
from codecortex.knowledge.embeddings import Embedder, HashEmbedder
from codecortex.llm.redaction import scrub_async
from codecortex.memory.fix_options import replay_values
from codecortex.memory.identity import Identity
from codecortex.memory.learning import LearnedChange, NoSolution, learn_change
from codecortex.memory.real_fix import not_a_fix
from codecortex.memory.signatures import Signature, classify_problem_type, compute_signature
from codecortex.memory.views import Observation, ProblemView, Resolved
from codecortex.store import problems as problem_store
from codecortex.store import solutions as solution_store
from codecortex.syntax import grammars as treesitter
from codecortex.syntax.context import enclosing_context

log = logging.getLogger(__name__)

OWN_SOURCE = "codecortex"
# What applying a replayed fix costs the developer (pick the action, glance at the diff): the
# estimated time saved is the time the original fix took minus this.
REPLAY_APPLY_SECONDS = 5
# Every stored fix of a signature is replayed and ranked by how well it fits (up to this many,


def content_sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def range_of(row: dict[str, Any]) -> Range:
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


def solution_text(error_pattern: str, description: str, diff: str) -> str:
    """What is embedded for a past solution."""
    return f"{error_pattern}\n{description}\n{diff}"


class Observing:
    """Records problems and learns their fixes; `Memory` supplies the settings and embedder."""

    settings: Settings
    embedder: Embedder

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
        matched, new, gone = match_problems(open_rows, current)
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
            range_of(row),
            language,
            max_diff_lines=self.settings.max_diff_lines,
            symbol_hint=(row.get("context") or {}).get("symbol_path"),
            names=[str(v) for v in row.get("signature_values") or []],
        )
        if isinstance(learned, LearnedChange):
            why_not = not_a_fix(
                learned,
                before_text,
                range_of(row),
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


def match_problems(
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
