"""Finding a stored fix's mapped "before" code near a new problem, token by token: the segments
searched (the problem's lines +-3 and its enclosing function, whole up to 400 lines, else its
header), identifiers and literals bound one-to-one, and the best match (on the problem's lines,
then whole, then coverage, then nearness), whole or partial."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from codecortex.diagnostics import Range
from codecortex.memory.tokens import Token, line_of, map_text, tokenize
from codecortex.syntax import grammars as treesitter

SEARCH_MARGIN_LINES = 3
MIN_PARTIAL_COVERAGE = 0.5
MIN_PARTIAL_CONTEXT = 3  # tokens matched around the edit, when coverage is lower
MAX_FUNCTION_LINES = 400  # larger enclosing functions: only their header is searched too


@dataclass(frozen=True, slots=True)
class Pattern:
    text: str
    tokens: tuple[Token, ...]
    anchored: tuple[bool, ...]


def pattern_of(text: str, mapping: dict[str, str], language: str) -> Pattern:
    return _mapped_pattern(text, tuple(mapping.items()), language)


@lru_cache(maxsize=2048)
def _mapped_pattern(text: str, mapping: tuple[tuple[str, str], ...], language: str) -> Pattern:
    """A stored fix's code with the new placeholder values mapped in, tokenized: remembered
    (each candidate is replayed on every problem of its signature, with the same values)."""
    mapped, spans = map_text(text, dict(mapping))
    tokens = tuple(t for t in tokenize(mapped, language) if t.kind != "comment")
    anchored = tuple(any(s < t.end and t.start < e for s, e in spans) for t in tokens)
    return Pattern(mapped, tokens, anchored)


class Binder:
    """One-to-one renaming of non-anchored identifiers/literals from old code to new code."""

    def __init__(self, keywords: frozenset[str]) -> None:
        self.keywords = keywords
        self.forward: dict[tuple[str, str], str] = {}
        self.backward: dict[tuple[str, str], str] = {}
        self.renamed = 0

    def wildcard(self, tok: Token, anchored: bool) -> bool:
        if anchored:
            return False
        if tok.kind == "ident":
            return tok.text not in self.keywords
        return tok.kind in ("number", "string")

    def match(self, old: Token, anchored: bool, new: Token) -> bool:
        if not self.wildcard(old, anchored):
            return old.kind == new.kind and old.text == new.text
        if old.kind != new.kind or (new.kind == "ident" and new.text in self.keywords):
            return False
        key_f, key_b = (old.kind, old.text), (new.kind, new.text)
        bound = self.forward.get(key_f)
        if bound is not None:
            return bound == new.text
        if key_b in self.backward:
            return False
        self.forward[key_f] = new.text
        self.backward[key_b] = old.text
        return True

    def count(self, old: Token, new: Token) -> None:
        if old.text != new.text:
            self.renamed += 1

    def rename(self, tok: Token, anchored: bool) -> str:
        if self.wildcard(tok, anchored):
            bound = self.forward.get((tok.kind, tok.text))
            if bound is not None:
                return bound
            if tok.kind == "string":
                # a string the fix made from a renamed name (`dict(arg=1)` -> `{"arg": 1}`)
                m = re.fullmatch(r"([rRbBuUfF]{0,2})(['\"])([^\W\d]\w*)\2", tok.text)
                if m and ("ident", m.group(3)) in self.forward:
                    new = self.forward[("ident", m.group(3))]
                    return f"{m.group(1)}{m.group(2)}{new}{m.group(2)}"
        return tok.text


@dataclass(slots=True)
class Match:
    q: int  # index in new tokens aligned with pattern index c1
    left: int
    right: int
    binder: Binder
    full: bool
    overlap: bool
    distance: int
    coverage: float
    confidence: float
    kind: str

    def key(self) -> tuple[float, ...]:
        """Preference: on the problem's lines, whole, coverage, nearness."""
        return (float(self.overlap), float(self.full), self.coverage, -float(self.distance))


_FUNCTION_NODES = frozenset(
    {
        "function_definition",
        "function_declaration",
        "function_expression",
        "arrow_function",
        "method_definition",
        "method_declaration",
        "constructor_declaration",
        "function_item",
        "generator_function_declaration",
        "func_literal",
    }
)


def enclosing_function_lines(
    text: str, language: str, line: int, column: int
) -> tuple[int, int, int] | None:
    """(first line, last line, first body line) of the innermost function around (line, column).

    0-based; None when the position is not inside a function.
    """
    tree = treesitter.parse_recent(text, language)
    lines = text.splitlines(keepends=True)
    if not lines:
        return None
    line = min(line, len(lines) - 1)
    col_bytes = len(lines[line][:column].encode("utf-8"))
    node = tree.root_node.descendant_for_point_range((line, col_bytes), (line, col_bytes))
    while node is not None:
        if node.type in _FUNCTION_NODES:
            body = node.child_by_field_name("body")
            body_line = body.start_point[0] if body is not None else node.start_point[0]
            return (node.start_point[0], node.end_point[0], body_line)
        node = node.parent
    return None


def search_segments(
    text: str, language: str, n_lines: int, new_range: Range
) -> list[tuple[int, int]]:
    """Line ranges (inclusive) to search: the problem +-margin and its enclosing function (whole
    when small, else its header, where signature fixes such as return types go)."""
    start_line = min(new_range.start.line, n_lines - 1)
    end_line = min(max(new_range.end.line, start_line), n_lines - 1)
    lo = max(0, start_line - SEARCH_MARGIN_LINES)
    hi = min(n_lines - 1, end_line + SEARCH_MARGIN_LINES)
    func = enclosing_function_lines(text, language, start_line, new_range.start.character)
    if func is None:
        return [(lo, hi)]
    fs, fe, body = func
    if fe - fs <= MAX_FUNCTION_LINES:
        return [(min(lo, fs), max(hi, fe))]
    header = (fs, min(body, fs + SEARCH_MARGIN_LINES))
    if header[1] + 1 >= lo:
        return [(min(lo, header[0]), hi)]
    return [header, (lo, hi)]


def find_match(
    before: Pattern,
    after: Pattern,
    core: tuple[int, int],
    placeholder_only: bool,
    new_tokens: list[Token],
    starts: Sequence[int],
    new_range: Range,
    keywords: frozenset[str],
) -> Match | None:
    c1, c2 = core
    n = len(before.tokens)
    core_len = c2 - c1
    rs, re_ = new_range.start.line, max(new_range.start.line, new_range.end.line)
    best: Match | None = None
    best_key: tuple[float, ...] | None = None
    m = len(new_tokens)
    last_q = m - core_len
    for q in range(0, last_q + 1):
        binder = Binder(keywords)
        ok = True
        for k in range(core_len):
            if not binder.match(before.tokens[c1 + k], before.anchored[c1 + k], new_tokens[q + k]):
                ok = False
                break
        if not ok:
            continue
        left = 0
        while (
            c1 - left - 1 >= 0
            and q - left - 1 >= 0
            and binder.match(
                before.tokens[c1 - left - 1],
                before.anchored[c1 - left - 1],
                new_tokens[q - left - 1],
            )
        ):
            left += 1
        right = 0
        while (
            c2 + right < n
            and q + core_len + right < m
            and binder.match(
                before.tokens[c2 + right],
                before.anchored[c2 + right],
                new_tokens[q + core_len + right],
            )
        ):
            right += 1
        wlen = left + core_len + right
        if wlen == 0:
            continue
        first_new, last_new = new_tokens[q - left], new_tokens[q + core_len + right - 1]
        l0, l1 = (
            line_of(starts, first_new.start),
            line_of(starts, max(first_new.start, last_new.end - 1)),
        )
        overlap = l0 <= re_ and rs <= l1
        distance = 0 if overlap else min(abs(l0 - re_), abs(rs - l1))
        coverage = wlen / n
        full = wlen == n
        for k in range(-left, core_len + right):
            binder.count(before.tokens[c1 + k], new_tokens[q + k])
        anchored_window = any(before.anchored[c1 - left : c2 + right])
        if full and not (anchored_window or overlap):
            continue  # a whole match elsewhere, tied to nothing of the problem: wrong target
        if full:
            if binder.renamed == 0:
                confidence, kind = 0.95, "exact token match"
            else:
                confidence = 0.9 - 0.1 * min(1.0, binder.renamed / n)
                kind = f"whole match with {binder.renamed} renamed token(s)"
        elif placeholder_only and overlap and wlen > core_len:
            confidence = 0.9 - 0.05 * (1 - coverage)
            kind = f"placeholder swap, {wlen}/{n} tokens matched"
        elif (
            (coverage >= MIN_PARTIAL_COVERAGE or left + right >= MIN_PARTIAL_CONTEXT)
            and (anchored_window or overlap)
            and wlen >= 2
            # the learned edit's neighbours: at least one side matches (`b"".join([x for x in
            # s])` -> `b"".join(s)` is not a fix of `parts = [x for x in s]`)
            and (left > 0 or right > 0 or c1 == 0 or c2 == n)
        ):
            at_edge = c1 - left == 0 or c2 + right == n  # matched through one end of "before"
            lo_e, hi_e = max(c1 - left, c1 - 1), min(c2 + right, c2 + 1)
            anchored_edit = any(before.anchored[lo_e:hi_e])  # the edit touches a placeholder
            confidence = min(
                0.85,
                0.6
                + 0.2 * coverage
                + (0.05 if anchored_window else 0)
                + (0.05 if anchored_edit else 0)
                + (0.05 if overlap else 0)
                + (0.05 if at_edge else 0),
            )
            kind = f"partial match, {wlen}/{n} tokens"
        else:
            continue
        cand = Match(q, left, right, binder, full, overlap, distance, coverage, confidence, kind)
        if best_key is None or cand.key() > best_key:
            best_key, best = cand.key(), cand
    return best
