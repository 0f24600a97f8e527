"""Which problems of a file's old version a change fixed: problems gone in the new version
(paired by signature and values, nearest line first), problems that appeared, hunks too large to
learn from, and the report's grouping of the reasons a fix was not learned."""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Sequence
from functools import lru_cache

from codecortex.diagnostics import Diagnostic, Range
from codecortex.history.filters import Op
from codecortex.memory.signatures import Signature, compute_signature


@lru_cache(maxsize=1 << 16)
def cached_signature(
    source: str, code: str | int | None, message: str, language: str | None
) -> Signature:
    """compute_signature, remembered: a report usually stays the same over many versions."""
    return compute_signature(source, code, message, language)


def last_line(rng: Range) -> int:
    el = rng.end.line
    if rng.end.character == 0 and el > rng.start.line:
        el -= 1
    return el


def gone_problems(
    old: list[tuple[Diagnostic, Signature]],
    new: list[tuple[Diagnostic, Signature]],
    ops: Sequence[Op],
) -> list[tuple[Diagnostic, Signature]]:
    """Problems of the old version with no equal problem (signature and values) in the new one,
    pairing each new problem with the old one nearest to its line mapped back to the old text."""

    def back(line: int) -> int:
        for tag, i1, _i2, j1, j2 in ops:
            if j1 <= line < j2 or (j1 == j2 == line):
                return i1 + (line - j1) if tag == "equal" else i1
        return line

    pool: dict[tuple[str, tuple[str, ...]], list[tuple[Diagnostic, Signature]]] = defaultdict(list)
    for d, s in old:
        pool[(s.key, tuple(p.value for p in s.values))].append((d, s))
    for d, s in sorted(new, key=lambda x: x[0].range.start.line):
        candidates = pool.get((s.key, tuple(p.value for p in s.values)))
        if not candidates:
            continue
        line = back(d.range.start.line)
        best = min(candidates, key=lambda x: abs(x[0].range.start.line - line))
        candidates.remove(best)
    gone = [x for xs in pool.values() for x in xs]
    gone.sort(key=lambda x: (x[0].range.start.line, x[0].range.start.character, x[1].key))
    return gone


def appeared_problems(
    old: list[tuple[Diagnostic, Signature]], new: list[tuple[Diagnostic, Signature]]
) -> list[Diagnostic]:
    """Problems of the new version that the old one did not have (more of them than before:
    every report of such a signature and values counts)."""
    count: dict[tuple[str, tuple[str, ...]], int] = defaultdict(int)
    for _d, s in old:
        count[(s.key, tuple(p.value for p in s.values))] += 1
    by_key: dict[tuple[str, tuple[str, ...]], list[Diagnostic]] = defaultdict(list)
    for d, s in new:
        by_key[(s.key, tuple(p.value for p in s.values))].append(d)
    return [d for k, ds in by_key.items() if len(ds) > count[k] for d in ds]


def hunk_too_large(ops: Sequence[Op], rng: Range, limit: int) -> str | None:
    sl, el = rng.start.line, last_line(rng)
    for tag, i1, i2, j1, j2 in ops:
        if tag == "equal":
            continue
        if i1 <= el + 1 and max(i1, i2) >= sl - 1 and (i2 - i1) + (j2 - j1) > limit:
            return "hunk too large"
    return None


def reason_kind(reason: str) -> str:
    """Group learn_change's reasons for the report (drop the numbers)."""
    return re.sub(r"\s*\(.*?\)|\d+", "", reason).strip()
