"""The token layer of replay: code tokenised (identifiers, numbers, strings, punctuation,
comments) per language, a fix's placeholder values mapped onto a new problem's (and substituted
into code, inside identifiers at word boundaries too), the names a message suggests, line offsets
and positions, and a thread-safe `ast.parse`. Shared by replay, fix patterns and templates."""

from __future__ import annotations

import ast
import bisect
import keyword
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache, lru_cache

from codecortex.diagnostics import Position


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


def keywords_of(language: str | None) -> frozenset[str]:
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


def line_of(starts: Sequence[int], offset: int) -> int:
    return max(0, bisect.bisect_right(starts, offset) - 1)


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
