"""Replay a past fix on a new occurrence of a similar problem.

A past solution is a pair of code fragments, the "before" and "after" of the region that changed
when the problem went away (see `codecortex.memory.learning`), plus the placeholder values of the message
it fixed. To offer it on a new problem:

1. the old placeholder values are mapped onto the new ones (old value i -> new value i, and the
   identifier parts of dotted/bracketed values pairwise, e.g. ``collections.OrderedDict`` ->
   ``itertools.chain`` also maps ``OrderedDict`` -> ``chain``); the mapping is substituted into
   the old before/after, including inside identifiers at word boundaries (``temp_total`` ->
   ``count_total`` when ``temp`` -> ``count``);
2. both are tokenised (identifiers, numbers, strings, punctuation; whitespace and comments
   ignored) and diffed token by token: that is the edit to re-apply;
3. the mapped "before" is searched near the new problem (its lines +-3 and its enclosing
   function: whole up to 400 lines, else its header), token by token; the match on the
   problem's lines wins, then a whole match, then coverage, then nearness: tokens that came from placeholder values, keywords and punctuation
   must be equal; other identifiers and literals may be renamed consistently (bound one-to-one);
   the tokens around the edit may cover only part of the old "before" (a partial match);
4. the token edit is applied on the matched new tokens, copying the spacing of the old "after"
   between the kept tokens around each change and re-indenting inserted line breaks to the new
   code's indentation;
5. the result must re-parse with no more tree-sitter syntax errors than the new document had.

A fix that replaces a placeholder-derived name by a fixed name that nothing maps (typically the
suggestion of "Did you mean 'length'?" when the values lack it) is refused: pass
`suggestion_values(message)` appended to both value lists to replay such rename fixes.

Confidence (0..1): 0.95 for an exact token match of the whole mapped "before"; 0.8-0.9 for a whole
match with renamed identifiers/literals; 0.85-0.9 for a partial match when the edit only swaps
placeholder values (e.g. a misspelled name replaced by the suggested one) on the problem's line;
0.6-0.85 for other partial matches (at least half of the old "before", or 3+ tokens around the
edit, matched, and anchored by a placeholder value or the problem's line; more with coverage, a
placeholder token in or next to the edit, overlap with the problem's lines, and a match reaching
the start or end of the old "before"). Anything weaker, ambiguous mappings, languages without a
tree-sitter grammar, and results with new syntax errors (tree-sitter ERROR/MISSING nodes; for
Python also `ast.parse`, since tree-sitter accepts empty blocks) give None.
"""

from __future__ import annotations

import ast
import bisect
import itertools
import keyword
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache, lru_cache

from cydifflib import SequenceMatcher  # difflib's matcher compiled: the same opcodes

from codecortex.diagnostics import Position, Range, TextEdit, apply_edits
from codecortex.syntax import grammars as treesitter

__all__ = [
    "ReplayResult",
    "Token",
    "build_value_mapping",
    "line_starts",
    "map_text",
    "offset_position",
    "python_parses",
    "python_tree",
    "replay_fix",
    "suggestion_values",
    "tokenize",
]

SEARCH_MARGIN_LINES = 3
MIN_PARTIAL_COVERAGE = 0.5
MIN_PARTIAL_CONTEXT = 3  # tokens matched around the edit, when coverage is lower
MAX_REGION_TOKENS = 20000
MAX_FUNCTION_LINES = 400  # larger enclosing functions: only their header is searched too


@dataclass(slots=True)
class ReplayResult:
    edits: list[TextEdit]
    confidence: float
    reason: str
    new_text: str


@dataclass(frozen=True, slots=True)
class Token:
    kind: str  # "ident" | "number" | "string" | "punct" | "comment"
    text: str
    start: int
    end: int


# --------------------------------------------------------------------------- tokeniser

_OPERATORS = [
    ">>>=",
    "...",
    "===",
    "!==",
    "**=",
    "//=",
    "<<=",
    ">>=",
    "->",
    "=>",
    "==",
    "!=",
    "<=",
    ">=",
    ":=",
    "+=",
    "-=",
    "*=",
    "/=",
    "%=",
    "&=",
    "|=",
    "^=",
    "**",
    "//",
    "<<",
    ">>",
    "&&",
    "||",
    "??",
    "?.",
    "::",
    "++",
    "--",
    "<-",
]

_STRING = (
    r"(?:[rRbBfFuU]{1,2})?(?:\"\"\"[\s\S]*?\"\"\"|'''[\s\S]*?'''"
    r"|\"(?:\\.|[^\"\\\n])*\"|'(?:\\.|[^'\\\n])*')"
    r"|`(?:\\.|[^`\\])*`"
)
_NUMBER = (
    r"(?:0[xXoObB][0-9a-fA-F_]+|(?:\d[\d_]*(?:\.[\d_]*)?|\.\d[\d_]*)(?:[eE][+-]?\d+)?)[a-zA-Z]*"
)
_IDENT = r"[^\W\d][\w$]*|\$[\w$]*"

_C_LIKE_KEYWORDS = frozenset(
    """abstract as async await break case catch chan class const continue crate debugger default
    defer delete do dyn else enum export extends false final finally fn for func function go goto
    if impl implements import in instanceof interface let loop map match mod move mut new nil null
    of package private protected pub public range readonly ref return select self Self static
    struct super switch this throw throws trait true try type typeof undefined unsafe use var void
    where while with yield keyof declare namespace""".split()
)
_PYTHON_KEYWORDS = frozenset(keyword.kwlist)


def _keywords(language: str | None) -> frozenset[str]:
    return _PYTHON_KEYWORDS if language == "python" else _C_LIKE_KEYWORDS


@cache
def _token_regex(language: str | None) -> re.Pattern[str]:
    comment = r"\#[^\n]*" if language == "python" else r"//[^\n]*|/\*[\s\S]*?\*/"
    ops = "|".join(re.escape(op) for op in _OPERATORS)
    return re.compile(
        rf"(?P<comment>{comment})|(?P<string>{_STRING})|(?P<number>{_NUMBER})"
        rf"|(?P<ident>{_IDENT})|(?P<punct>{ops}|\S)"
    )


def tokenize(text: str, language: str | None, base: int = 0) -> list[Token]:
    """Tokens of `text` (comments included, kind "comment"); offsets shifted by `base`."""
    if base == 0:
        # recall replays up to 40 candidates on one document and scores hundreds of stored
        # ones: the same texts are tokenized again and again
        return list(_tokens(text, language))
    out: list[Token] = []
    for m in _token_regex(language).finditer(text):
        kind = m.lastgroup or "punct"
        out.append(Token(kind, m.group(), m.start() + base, m.end() + base))
    return out


@lru_cache(maxsize=2048)
def _tokens(text: str, language: str | None) -> tuple[Token, ...]:
    return tuple(
        Token(m.lastgroup or "punct", m.group(), m.start(), m.end())
        for m in _token_regex(language).finditer(text)
    )


# --------------------------------------------------------------------------- value mapping

_PART = re.compile(r"[^\W\d][\w$]*|\d+|\S")


_SUGGESTION = re.compile(
    r"(?:did you mean|perhaps you meant|maybe|a similar name exists)\b[:\s]*"
    r"(?:[`'\"‘“](?P<q>[^`'\"’”]+)[`'\"’”]|(?P<bare>[A-Za-z_$][\w$.]*))",
    re.I,
)


def suggestion_values(message: str) -> list[str]:
    """Names a message suggests ("Did you mean 'length'?", "maybe \"email\"?"), in order.

    Signatures may drop such suggestions from their placeholder values so that messages with and
    without one share a key; append these to both value lists when replaying a rename fix.
    """
    return [m.group("q") or m.group("bare") for m in _SUGGESTION.finditer(message or "")]


def build_value_mapping(old_values: list[str], new_values: list[str]) -> dict[str, str] | None:
    """old value -> new value, plus pairwise identifier parts of same-shaped values.

    None when the lists differ in length or one old value would map to two new values.
    """
    if len(old_values) != len(new_values):
        return None
    full: dict[str, str] = {}
    for old, new in zip(old_values, new_values, strict=True):
        if not old.strip():
            continue
        if old in full and full[old] != new:
            return None
        full[old] = new
    parts: dict[str, str] = {}
    conflicts: set[str] = set()
    for old, new in full.items():
        op, np_ = _PART.findall(old), _PART.findall(new)
        if len(op) < 2 or len(op) != len(np_):
            continue
        pairs = list(zip(op, np_, strict=True))
        if any(
            (a[0].isalpha() or a[0] == "_") != (b[0].isalpha() or b[0] == "_") for a, b in pairs
        ):
            continue
        if any(not (a[0].isalnum() or a[0] == "_") and a != b for a, b in pairs):
            continue  # punctuation differs: not the same shape
        for a, b in pairs:
            if not (a[0].isalpha() or a[0] == "_"):
                continue
            if a in parts and parts[a] != b:
                conflicts.add(a)
            parts[a] = b
    mapping = {k: v for k, v in parts.items() if k not in conflicts and k not in full}
    mapping.update(full)
    return mapping


def _subword_spans(ident: str, old: str) -> list[int]:
    """Start indexes where `old` occurs in identifier `ident` on a word boundary."""
    found: list[int] = []
    i = ident.find(old)
    while i >= 0:
        e = i + len(old)
        start_ok = (
            i == 0
            or ident[i - 1] in "_$"
            or ident[i - 1].isdigit()
            or (old[0].isupper() and ident[i - 1].islower())
        )
        end_ok = (
            e == len(ident)
            or ident[e] in "_$"
            or ident[e].isdigit()
            or (ident[e].isupper() and not old[-1].isupper())
        )
        if start_ok and end_ok and (i, e) != (0, len(ident)):
            found.append(i)
        i = ident.find(old, i + 1)
    return found


def map_text(text: str, mapping: dict[str, str]) -> tuple[str, list[tuple[int, int]]]:
    """Substitute mapped values into `text`; returns the new text and the substituted spans."""
    if not mapping:
        return text, []
    keys = sorted(mapping, key=len, reverse=True)
    pattern = re.compile(r"(?<![\w$])(?:" + "|".join(re.escape(k) for k in keys) + r")(?![\w$])")
    replaced: list[tuple[int, int, str]] = [
        (m.start(), m.end(), mapping[m.group()]) for m in pattern.finditer(text)
    ]
    # identifiers that contain a mapped identifier value as a word part (temp_total, userName)
    variants: list[tuple[str, str]] = []
    for old, new in mapping.items():
        if len(old) >= 3 and re.fullmatch(r"[^\W\d]\w*", old) and re.fullmatch(r"\w+", new):
            variants.append((old, new))
            if old[0].islower() and new[0].isalpha():
                variants.append((old[0].upper() + old[1:], new[0].upper() + new[1:]))
    if variants:
        taken = [(s, e) for s, e, _ in replaced]
        for m in re.finditer(r"[^\W\d][\w$]*", text):
            if any(s < m.end() and m.start() < e for s, e in taken):
                continue
            ident = m.group()
            pieces: list[tuple[int, int, str]] = []
            for old, new in variants:
                for i in _subword_spans(ident, old):
                    if not any(i < pe and ps < i + len(old) for ps, pe, _ in pieces):
                        pieces.append((i, i + len(old), new))
            replaced.extend((m.start() + s, m.start() + e, new) for s, e, new in pieces)
    replaced.sort()
    out: list[str] = []
    spans: list[tuple[int, int]] = []
    pos = 0
    length = 0
    for s, e, new in replaced:
        out.append(text[pos:s])
        length += s - pos
        out.append(new)
        spans.append((length, length + len(new)))
        length += len(new)
        pos = e
    out.append(text[pos:])
    return "".join(out), spans


# --------------------------------------------------------------------------- matching


@dataclass(frozen=True, slots=True)
class _Pattern:
    text: str
    tokens: tuple[Token, ...]
    anchored: tuple[bool, ...]


def _pattern(text: str, mapping: dict[str, str], language: str) -> _Pattern:
    return _mapped_pattern(text, tuple(mapping.items()), language)


@lru_cache(maxsize=2048)
def _mapped_pattern(text: str, mapping: tuple[tuple[str, str], ...], language: str) -> _Pattern:
    """A stored fix's code with the new placeholder values mapped in, tokenized: remembered
    (each candidate is replayed on every problem of its signature, with the same values)."""
    mapped, spans = map_text(text, dict(mapping))
    tokens = tuple(t for t in tokenize(mapped, language) if t.kind != "comment")
    anchored = tuple(any(s < t.end and t.start < e for s, e in spans) for t in tokens)
    return _Pattern(mapped, tokens, anchored)


class _Binder:
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
class _Match:
    q: int  # index in new tokens aligned with pattern index c1
    left: int
    right: int
    binder: _Binder
    full: bool
    overlap: bool
    distance: int
    coverage: float
    confidence: float
    kind: str

    def key(self) -> tuple[float, ...]:
        """Preference: on the problem's lines, whole, coverage, nearness."""
        return (float(self.overlap), float(self.full), self.coverage, -float(self.distance))


@lru_cache(maxsize=64)
def line_starts(text: str) -> tuple[int, ...]:
    """Offsets at which each line of `text` starts (plus its end). Remembered for recent texts
    (every candidate replayed on a document asks for the document's)."""
    starts = [0]
    for line in text.splitlines(keepends=True):
        starts.append(starts[-1] + len(line))
    return tuple(starts)


def offset_position(starts: Sequence[int], offset: int) -> Position:
    """The line/column (code points) of `offset`, given `line_starts(text)`."""
    line = max(0, bisect.bisect_right(starts, offset) - 1)
    return Position(line, offset - starts[line])


def _line_of(starts: Sequence[int], offset: int) -> int:
    return max(0, bisect.bisect_right(starts, offset) - 1)


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


def _search_segments(
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


def _find_match(
    before: _Pattern,
    after: _Pattern,
    core: tuple[int, int],
    placeholder_only: bool,
    new_tokens: list[Token],
    starts: Sequence[int],
    new_range: Range,
    keywords: frozenset[str],
) -> _Match | None:
    c1, c2 = core
    n = len(before.tokens)
    core_len = c2 - c1
    rs, re_ = new_range.start.line, max(new_range.start.line, new_range.end.line)
    best: _Match | None = None
    best_key: tuple[float, ...] | None = None
    m = len(new_tokens)
    last_q = m - core_len
    for q in range(0, last_q + 1):
        binder = _Binder(keywords)
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
            _line_of(starts, first_new.start),
            _line_of(starts, max(first_new.start, last_new.end - 1)),
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
        cand = _Match(q, left, right, binder, full, overlap, distance, coverage, confidence, kind)
        if best_key is None or cand.key() > best_key:
            best_key, best = cand.key(), cand
    return best


def _indent_of(text: str, offset: int) -> str:
    line_start = text.rfind("\n", 0, offset) + 1
    m = re.match(r"[ \t]*", text[line_start:])
    return m.group() if m else ""


def _reindent(fragment: str, old_indent: str, new_indent: str) -> str:
    if "\n" not in fragment or old_indent == new_indent:
        return fragment

    def fix(m: re.Match[str]) -> str:
        ws = m.group(2)
        if ws.startswith(old_indent):
            ws = new_indent + ws[len(old_indent) :]
        return m.group(1) + ws

    return re.sub(r"(\n)([ \t]*)", fix, fragment)


def _unmapped_parts(
    before: str, old_values: list[str], mapping: dict[str, str], language: str
) -> bool:
    """Whether a dotted old value (``typing.cast``) is written in parts in the old code
    (``from typing import cast``) that the mapping cannot carry to the new value: the fix then
    edits code of a shape the new problem does not have."""
    idents = {t.text for t in tokenize(before, language) if t.kind == "ident"}
    for value in old_values:
        parts = re.findall(r"[^\W\d][\w$]*", value)
        if len(parts) < 2 or value in before:
            continue
        if all(p in idents for p in parts) and not all(p in mapping for p in parts):
            return True
    return False


# tokens that continue an expression after (or, but for brackets, before) a matched window
_CONTINUES_AFTER = frozenset(
    "+ - * / % ** // . ( [ == != < > <= >= | & ^ @ << >> and or if in is not else".split()
)
_CONTINUES_BEFORE = _CONTINUES_AFTER - {"(", "[", "not", "else", "if"}


def _cuts_an_expression(
    opcodes: Sequence[tuple[str, int, int, int, int]],
    n: int,
    w1: int,
    w2: int,
    match: _Match,
    core_len: int,
    new_tokens: list[Token],
) -> bool:
    """Whether the edit sits at an end of the learned code where the new code's expression
    goes on: learned on `assert False, "a"` (-> `raise AssertionError("a")`), the new
    `assert False, "a" + name` would become `raise AssertionError("a") + name`."""
    after_window = match.q + core_len + match.right
    if w2 == n and opcodes[-1][2] == n and after_window < len(new_tokens):
        if new_tokens[after_window].text in _CONTINUES_AFTER:
            return True
    before_window = match.q - match.left - 1
    if w1 == 0 and opcodes[0][1] == 0 and before_window >= 0:
        if new_tokens[before_window].text in _CONTINUES_BEFORE:
            return True
    return False


def _layout_flaws(line: str, language: str) -> list[tuple[int, int, str]]:
    """(start, end, replacement) spans of a line's code that a formatter would never leave:
    a doubled space between two tokens, a comma right after an opening bracket or another
    comma, a comma right before a closing bracket on the same line, trailing spaces."""
    tokens = tokenize(line, language)
    flaws: list[tuple[int, int, str]] = []
    for a, b in itertools.pairwise(tokens):
        gap = line[a.end : b.start]
        if b.kind == "comment":
            continue
        if len(gap) >= 2 and gap.strip(" ") == "" and "\n" not in gap:
            flaws.append((a.end, b.start, " "))
        elif a.text == "," and b.text == ",":
            flaws.append((a.start, b.start, ""))
        elif a.text in "([{" and b.text == ",":
            flaws.append((b.start, b.end + (1 if line[b.end : b.end + 1] == " " else 0), ""))
        elif a.text == "," and b.text in ")]}" and "\n" not in gap:
            flaws.append((a.start, b.start, ""))
    code = line.rstrip("\r\n")
    if code != code.rstrip() and code.strip():
        flaws.append((len(code.rstrip()), len(code), ""))
    return flaws


def _tidy(original: str, result: str, language: str) -> tuple[list[TextEdit], str] | None:
    """Clean the layout of the lines a replay changed (doubled spaces, stray commas) where the
    original lines were clean; the new edits replace the changed lines. None: nothing to do."""
    a, b = original.splitlines(keepends=True), result.splitlines(keepends=True)
    ops = SequenceMatcher(None, a, b, autojunk=False).get_opcodes()
    changed = False
    out = list(b)
    for tag, i1, i2, j1, j2 in ops:
        if tag == "equal":
            continue
        had = any(_layout_flaws(line, language) for line in a[i1:i2])
        if had:
            continue
        for j in range(j1, j2):
            flaws = _layout_flaws(out[j], language)
            for start, end, rep in reversed(flaws):
                out[j] = out[j][:start] + rep + out[j][end:]
                changed = True
    if not changed:
        return None
    tidied = "".join(out)
    ops = SequenceMatcher(None, a, out, autojunk=False).get_opcodes()
    edits = [
        TextEdit(Range.of(i1, 0, i2, 0), "".join(out[j1:j2]))
        for tag, i1, i2, j1, j2 in ops
        if tag != "equal"
    ]
    if apply_edits(original, edits) != tidied:
        return None
    return edits, tidied


_AST_LOCK = threading.Lock()


@lru_cache(maxsize=256)
def python_parses(text: str) -> bool:
    """Whether `text` is valid Python (`ast.parse`), safe to call from several threads:
    CPython 3.11's parser state is not (concurrent calls can fail with SystemError).
    Remembered for recent texts (every candidate replayed on a document asks for it)."""
    try:
        with _AST_LOCK:
            ast.parse(text)
    except (SyntaxError, ValueError, SystemError, RecursionError, MemoryError):
        return False
    return True


def python_tree(text: str) -> ast.Module | None:
    """`ast.parse(text)` under the same lock, or None when it does not parse."""
    try:
        with _AST_LOCK:
            return ast.parse(text)
    except (SyntaxError, ValueError, SystemError, RecursionError, MemoryError):
        return None


_python_parses = python_parses


def replay_fix(
    change_before: str,
    change_after: str,
    old_values: list[str],
    new_values: list[str],
    new_text: str,
    new_range: Range,
    language: str | None,
) -> ReplayResult | None:
    """Re-apply a learned change (change_before -> change_after) at a new problem.

    old_values/new_values: placeholder values of the old and the new diagnostic message, in the
    same order. new_text: the whole new document; new_range: the new diagnostic's range in it.
    Returns the edits (relative to new_text), a confidence and the resulting document, or None
    when the mapped "before" does not match near the problem, the mapping is ambiguous, the
    language has no grammar, or the result would add syntax errors.
    """
    lang = treesitter.normalise_language(language)
    if lang is None:
        return None
    mapping = build_value_mapping(old_values, new_values)
    if mapping is None or _unmapped_parts(change_before, old_values, mapping, lang):
        return None
    before = _pattern(change_before, mapping, lang)
    after = _pattern(change_after, mapping, lang)
    if not before.tokens:
        return None
    btexts = [t.text for t in before.tokens]
    # diffed with the placeholder marks: after mapping, a kept name and the removed placeholder
    # value may read the same (`cast, Any` -> `Any` with cast -> Any) and must not be confused
    bkeys = list(zip(btexts, before.anchored, strict=True))
    akeys = [(t.text, a) for t, a in zip(after.tokens, after.anchored, strict=True)]
    opcodes = [
        op
        for op in SequenceMatcher(None, bkeys, akeys, autojunk=False).get_opcodes()
        if op[0] != "equal"
    ]
    if not opcodes:
        return None
    c1, c2 = opcodes[0][1], opcodes[-1][2]
    placeholder_only = all(
        all(before.anchored[i1:i2]) and all(after.anchored[j1:j2]) for _, i1, i2, j1, j2 in opcodes
    )

    # search region: the problem's lines +-margin and its enclosing function
    lines = new_text.splitlines(keepends=True)
    if not lines:
        return None
    starts = line_starts(new_text)
    keywords = _keywords(lang)
    found: list[tuple[tuple[float, ...], _Match, list[Token], list[Token]]] = []
    for seg_lo, seg_hi in _search_segments(new_text, lang, len(lines), new_range):
        base = starts[seg_lo]
        all_tokens = tokenize(new_text[base : starts[seg_hi + 1]], lang, base)
        seg_tokens = [t for t in all_tokens if t.kind != "comment"]
        if len(seg_tokens) > MAX_REGION_TOKENS:
            return None
        seg_match = _find_match(
            before, after, (c1, c2), placeholder_only, seg_tokens, starts, new_range, keywords
        )
        if seg_match is not None:
            found.append(
                (
                    seg_match.key(),
                    seg_match,
                    seg_tokens,
                    [t for t in all_tokens if t.kind == "comment"],
                )
            )
    if not found:
        return None
    _, match, new_tokens, comments = max(found, key=lambda f: f[0])

    # A fix that rewrites a placeholder-derived name into a fixed name we cannot map (e.g. the
    # suggestion of "Did you mean 'length'?" missing from the values) would be wrong elsewhere.
    for tag, i1, i2, j1, j2 in opcodes:
        if tag == "replace" and any(before.anchored[i1:i2]):
            for j in range(j1, j2):
                tok = after.tokens[j]
                if (
                    tok.kind == "ident"
                    and tok.text not in keywords
                    and not after.anchored[j]
                    and ("ident", tok.text) not in match.binder.forward
                    and tok.text not in btexts
                ):
                    return None

    n, m_after = len(before.tokens), len(after.tokens)
    w1, w2 = c1 - match.left, c2 + match.right
    if _cuts_an_expression(opcodes, n, w1, w2, match, c2 - c1, new_tokens):
        return None
    wa1, wa2 = w1, m_after - (n - w2)

    def new_tok(i: int) -> Token:
        token: Token = new_tokens[match.q + i - c1]
        return token

    old_indent = _indent_of(after.text, after.tokens[wa1].start) if wa1 < m_after else ""
    if wa1 >= m_after or wa1 >= wa2:
        old_indent = _indent_of(before.text, before.tokens[w1].start)
    new_indent = _indent_of(new_text, new_tok(w1).start)

    edits: list[TextEdit] = []
    for _, i1, i2, j1, j2 in opcodes:
        left_n = new_tok(i1 - 1).end if i1 > w1 else new_tok(i1).start
        right_n = new_tok(i2).start if i2 < w2 else new_tok(i2 - 1).end
        if i1 > w1:
            left_a: int | None = after.tokens[j1 - 1].end
        else:
            left_a = after.tokens[j1].start if j1 < wa2 else None
        if i2 < w2:
            right_a: int | None = after.tokens[j2].start
        else:
            right_a = after.tokens[j2 - 1].end if j2 > wa1 else None
        if left_a is None or right_a is None or right_a < left_a:
            replacement = ""
        else:
            pieces: list[str] = []
            pos = left_a
            for j in range(j1, j2):
                tok = after.tokens[j]
                pieces.append(after.text[pos : tok.start])
                pieces.append(match.binder.rename(tok, after.anchored[j]))
                pos = tok.end
            pieces.append(after.text[pos:right_a])
            replacement = _reindent("".join(pieces), old_indent, new_indent)
        if i1 == w1 and i2 == w2 and j1 == j2:
            # the whole matched code goes: drop whole lines when it fills them
            line_start = new_text.rfind("\n", 0, left_n) + 1
            line_end = new_text.find("\n", right_n)
            line_end = len(new_text) if line_end < 0 else line_end + 1
            if not new_text[line_start:left_n].strip() and not new_text[right_n:line_end].strip():
                left_n, right_n = line_start, line_end
        if any(left_n < c.end and c.start < right_n for c in comments):
            return None  # would drop a comment of the new code
        if new_text[left_n:right_n] == replacement:
            continue
        edits.append(
            TextEdit(
                Range(offset_position(starts, left_n), offset_position(starts, right_n)),
                replacement,
            )
        )
    if not edits:
        return None
    try:
        result = apply_edits(new_text, edits)
    except ValueError:
        return None
    tidied = _tidy(new_text, result, lang)
    if tidied is not None:
        edits, result = tidied
    if result == new_text:
        return None
    if lang == "python" and _python_parses(new_text):
        # Python's own parser decides for a document that parses (tree-sitter's count would
        # parse every candidate's text a second time)
        if not _python_parses(result):
            return None
    elif treesitter.syntax_error_count(result, lang) > treesitter.syntax_error_count(
        new_text, lang
    ):
        return None
    renamed = {
        old[1]: new
        for old, new in match.binder.forward.items()
        if old[1] != new and old[0] == "ident"
    }
    reason = match.kind
    if mapping:
        changed = {k: v for k, v in mapping.items() if k != v}
        if changed:
            reason += "; mapped " + ", ".join(f"{k} -> {v}" for k, v in sorted(changed.items()))
    if renamed:
        reason += "; renamed " + ", ".join(f"{k} -> {v}" for k, v in sorted(renamed.items()))
    if not match.overlap:
        reason += f"; applied {match.distance} line(s) from the problem, in its function"
    return ReplayResult(edits, round(match.confidence, 3), reason, result)
