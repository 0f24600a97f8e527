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

import itertools
import re
from collections.abc import Sequence
from dataclasses import dataclass

from cydifflib import SequenceMatcher  # difflib's matcher compiled: the same opcodes

from codecortex.diagnostics import Range, TextEdit, apply_edits
from codecortex.memory.matching import Match, find_match, pattern_of, search_segments
from codecortex.memory.tokens import (
    Token,
    build_value_mapping,
    keywords_of,
    line_starts,
    offset_position,
    python_parses,
    tokenize,
)
from codecortex.syntax import grammars as treesitter

MAX_REGION_TOKENS = 20000


@dataclass(slots=True)
class ReplayResult:
    edits: list[TextEdit]
    confidence: float
    reason: str
    new_text: str


def checked_result(
    text: str, edits: list[TextEdit], confidence: float, reason: str
) -> ReplayResult | None:
    """The result of `edits` on `text`, unless they do not apply, change nothing, or make Python
    that parsed not parse (the fix patterns' check)."""
    try:
        new_text = apply_edits(text, edits)
    except ValueError:
        return None
    if new_text == text or (python_parses(text) and not python_parses(new_text)):
        return None
    return ReplayResult(edits, confidence, reason, new_text)


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
    match: Match,
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
    before = pattern_of(change_before, mapping, lang)
    after = pattern_of(change_after, mapping, lang)
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
    keywords = keywords_of(lang)
    found: list[tuple[tuple[float, ...], Match, list[Token], list[Token]]] = []
    for seg_lo, seg_hi in search_segments(new_text, lang, len(lines), new_range):
        base = starts[seg_lo]
        all_tokens = tokenize(new_text[base : starts[seg_hi + 1]], lang, base)
        seg_tokens = [t for t in all_tokens if t.kind != "comment"]
        if len(seg_tokens) > MAX_REGION_TOKENS:
            return None
        seg_match = find_match(
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
    if lang == "python" and python_parses(new_text):
        # Python's own parser decides for a document that parses (tree-sitter's count would
        # parse every candidate's text a second time)
        if not python_parses(result):
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
