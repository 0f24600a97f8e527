"""The fix options of an open problem: every stored fix of its signature replayed on the new code
(token replay, fix patterns, templates generalised from all of them), the same edited text kept
once and ranked by fit; and offered fixes replayed again on a newer text. CPU only."""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

from codecortex.diagnostics import Range, TextEdit, apply_edits
from codecortex.memory.candidates import Candidates
from codecortex.memory.moved import LineMap
from codecortex.memory.patterns import replay_pattern
from codecortex.memory.replay import ReplayResult, replay_fix
from codecortex.memory.template_replay import replay_template
from codecortex.memory.templates import generalise, learn_template
from codecortex.memory.tokens import build_value_mapping, suggestion_values, tokenize
from codecortex.memory.views import FixOption, ProblemView
from codecortex.syntax import grammars as treesitter

log = logging.getLogger(__name__)

# Replayed per problem, the solutions most like the problem's code first (closest): on the
# 100,000-solution benchmark the best fit and the share of problems with a fix were the same
# as with 40 at a sixth of the replay time.
MAX_REPLAYED_CANDIDATES = 8


def replay_values(values: list[str], message: str) -> list[str]:
    """Placeholder values plus the names the message suggests ("Did you mean 'length'?"):
    signatures leave suggestions out of the key, but a rename fix needs them mapped."""
    return [str(v) for v in values] + suggestion_values(message)


def replayed(
    sol: dict[str, Any],
    old_values: list[str],
    new_values: list[str],
    text: str,
    rng: Range,
    language: str | None,
) -> list[ReplayResult]:
    """Each way one stored change replays at the problem: the token replay and, for Python, the
    fix patterns (comments, imports, statement suffixes) and the change's own template; all
    try, and verification decides between their results. A way that fails is skipped: a bad
    stored row must not break recall."""
    before, after = sol["before_text"], sol["after_text"]

    def tokens() -> ReplayResult | None:
        return replay_fix(before, after, old_values, new_values, text, rng, language)

    def pattern() -> ReplayResult | None:
        mapping = build_value_mapping(old_values, new_values)
        if mapping is None:
            return None
        return replay_pattern(before, after, mapping, new_values, text, rng)

    def template() -> ReplayResult | None:
        learned = learn_template(before, after)
        if learned is None:
            return None
        return replay_template(learned, old_values, new_values, text, rng)

    ways = [tokens]
    if treesitter.normalise_language(language) == "python":
        ways += [pattern, template]
    results = []
    for way in ways:
        try:
            result = way()
        except Exception as exc:
            log.debug("replay failed for %s: %s", sol.get("id"), exc)
            continue
        if result is not None:
            results.append(result)
    return results


class FixOptions:
    """The replay half of `Memory`: stateless, so a mixin of it."""

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
            options.extend(generalised(view, prepared, new_values, text))
        if len(solutions) > MAX_REPLAYED_CANDIDATES:
            solutions = closest(prepared, new_values, text, view.diagnostic.range, language)
        for sol in solutions:
            old_values = [str(v) for v in (sol.get("signature_values") or [])]
            pair = (sol["before_text"], sol["after_text"], tuple(old_values))
            if pair in seen_pairs:
                continue  # the same learned change stored twice (teammates, history + live)
            seen_pairs.add(pair)
            for result in replayed(
                sol, old_values, new_values, text, view.diagnostic.range, language
            ):
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
            change = change_of(fix.replay.edits, old_text)
            option = next(
                (
                    o
                    for o in self.replay_candidates(view, [fix.solution], text, language)
                    if change_of(o.replay.edits, text) == change
                ),
                None,
            )
            if option is None:
                continue
            option.verified, option.verification = fix.verified, fix.verification
            option.support = fix.support
            again.append(option)
        return again


def closest(
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


def generalised(
    view: ProblemView, candidates: Candidates, new_values: list[str], text: str
) -> list[FixOption]:
    """Fix patterns generalised from all stored fixes of the signature (`templates`), applied
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


def change_of(edits: list[TextEdit], text: str) -> list[tuple[str, str]]:
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
