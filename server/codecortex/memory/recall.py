"""Recall for open problems: their history, the fixes of their signature replayed, checked by
the reporting detector and ranked, and related fixes and knowledge (hybrid search); free-text
search (`Recalling`, the recall half of `Memory`)."""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import psycopg

from codecortex.knowledge.embeddings import Embedder, HashEmbedder
from codecortex.memory.candidates import CandidateCache
from codecortex.memory.fix_options import FixOptions
from codecortex.memory.formatting import configured_formatter, format_replay
from codecortex.memory.identity import Identity
from codecortex.memory.verify import (
    Verifier,
    edit_touches_problem,
    runnable_tool,
    unexplained_names,
)
from codecortex.memory.views import FixOption, ProblemView
from codecortex.store import problems as problem_store
from codecortex.store import retrieval as retrieval_store
from codecortex.syntax import grammars as treesitter

log = logging.getLogger(__name__)

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
RECALL_STEP = 8  # problems replayed together; their checks run while the next ones replay
FIRST_RECALL_STEP = 2  # the first step is small: its hints show while the rest replay


class Recalling(FixOptions):
    """Fills the views of open problems; `Memory` supplies the embedder, verifier and cache."""

    embedder: Embedder
    verifier: Verifier
    candidates: CandidateCache

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
