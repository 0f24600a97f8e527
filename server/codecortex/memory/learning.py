"""Learn the change that made a problem go away.

Given the document when a problem was seen (`before_text`, where `problem_range` applies) and when
it disappeared (`after_text`), find the problem's region in the new text through the edits (line
opcodes of difflib's matcher, compiled by cydifflib: the same opcodes, much faster; mapping old
lines to new ones; the enclosing function via tree-sitter when the change is not next to the
problem) and keep the minimal changed hunk(s) touching or next to it:

- hunks overlapping the problem's lines, or at most one unchanged line away and inside the
  problem's enclosing function (when it has one), are "near"; the learned
  region is the problem's lines (whole lines) plus those hunks (confidence 0.9 when a hunk
  overlaps the problem's lines, 0.75 when only adjacent ones changed);
- otherwise the hunks inside the problem's enclosing function (or the definition named by
  `symbol_hint`) form the region, without the problem's own unchanged lines (confidence 0.6), e.g.
  `-> int` changed to `-> int | None` for a `return None` reported further down;
- when the diff of the region is larger than half of `max_diff_lines`, confidence drops by 0.15.

Noise gives `NoSolution(reason)` rather than a low-confidence change:
- the document or the region did not change near the problem (the problem vanished for another
  reason, e.g. the tool stopped reporting it);
- the problem's lines were deleted together with 3+ surrounding lines (or with their whole
  enclosing function) and little or nothing replaced them;
- the region's diff has more than `max_diff_lines` changed lines.

Whether a learned change is a real fix is `codecortex.memory.real_fix.not_a_fix`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from cydifflib import SequenceMatcher
from tree_sitter import Node

from codecortex.diagnostics import Range
from codecortex.syntax import grammars as treesitter

__all__ = [
    "LearnedChange",
    "NoSolution",
    "learn_change",
    "line_opcodes",
    "unified_region_diff",
]

NEAR_LINES = 1


@dataclass(slots=True)
class LearnedChange:
    before: str
    after: str
    diff: str
    region_before: Range
    language: str | None
    confidence: float
    reason: str
    region_after: Range | None = None  # the region's lines in the after text


@dataclass(slots=True)
class NoSolution:
    reason: str


_DEFINITION_NODES = frozenset(
    {
        "function_definition",
        "function_declaration",
        "generator_function_declaration",
        "method_definition",
        "method_declaration",
        "constructor_declaration",
        "function_item",
        "class_definition",
        "class_declaration",
        "impl_item",
    }
)
_FUNCTION_ONLY = _DEFINITION_NODES - {"class_definition", "class_declaration", "impl_item"}


def _node_name(node: Node) -> str | None:
    name = node.child_by_field_name("name")
    if name is None or name.text is None:
        return None
    return bytes(name.text).decode("utf-8", "replace")


def _hint_parts(symbol_hint: str | Sequence[str] | None) -> list[str]:
    if not symbol_hint:
        return []
    if isinstance(symbol_hint, str):
        return [p for p in re.split(r"\.|::|#", symbol_hint) if p]
    return [str(p) for p in symbol_hint if p]


def _enclosing_symbol(
    text: str, language: str | None, line: int, symbol_hint: str | Sequence[str] | None
) -> tuple[int, int] | None:
    """(first, last) 0-based lines of the function around `line` or of `symbol_hint`'s def."""
    lang = treesitter.normalise_language(language)
    if lang is None:
        return None
    tree = treesitter.parse(text, lang)
    parts = _hint_parts(symbol_hint)
    if parts:
        # definitions named like the hint's last part; the full path (outermost first) and
        # nearness to the problem's line decide between several
        best: tuple[int, int] | None = None
        best_key: tuple[int, int, int] | None = None
        stack: list[tuple[Node, tuple[str, ...]]] = [(tree.root_node, ())]
        while stack:
            node, path = stack.pop()
            name = _node_name(node) if node.type in _DEFINITION_NODES else None
            if name is not None:
                path = (*path, name)
                if name == parts[-1]:
                    s, e = node.start_point[0], node.end_point[0]
                    dist = 0 if s <= line <= e else min(abs(s - line), abs(e - line))
                    full = int(list(path[-len(parts) :]) == parts)
                    key = (-full, dist, e - s)
                    if best_key is None or key < best_key:
                        best, best_key = (s, e), key
            stack.extend((child, path) for child in node.children)
        if best is not None:
            return best
    lines = text.splitlines()
    if not lines:
        return None
    line = min(line, len(lines) - 1)
    indent = len(lines[line]) - len(lines[line].lstrip())
    col = len(lines[line][:indent].encode("utf-8"))
    cur = tree.root_node.descendant_for_point_range((line, col), (line, col))
    while cur is not None:
        if cur.type in _FUNCTION_ONLY:
            return (cur.start_point[0], cur.end_point[0])
        cur = cur.parent
    return None


def line_opcodes(
    before_lines: Sequence[str], after_lines: Sequence[str]
) -> list[tuple[str, int, int, int, int]]:
    """difflib's opcodes between two lists of lines (no junk heuristic)."""
    opcodes: list[tuple[str, int, int, int, int]] = SequenceMatcher(
        None, before_lines, after_lines, autojunk=False
    ).get_opcodes()
    return opcodes


def unified_region_diff(
    before_lines: list[str], after_lines: list[str], before_start: int, after_start: int
) -> tuple[str, int]:
    """A one-hunk unified diff of the region (line numbers of the whole documents, 1-based).

    Returns the diff text and the number of changed (+/-) lines.
    """
    out = [
        "--- before\n",
        "+++ after\n",
        f"@@ -{before_start + 1},{len(before_lines)} +{after_start + 1},{len(after_lines)} @@\n",
    ]
    changed = 0

    def emit(prefix: str, line: str) -> None:
        out.append(
            prefix + line
            if line.endswith("\n")
            else f"{prefix}{line}\n\\ No newline at end of file\n"
        )

    sm = SequenceMatcher(None, before_lines, after_lines, autojunk=False)
    for tag, i1, i2, j1, j2 in sm.get_opcodes():
        if tag == "equal":
            for line in before_lines[i1:i2]:
                emit(" ", line)
            continue
        for line in before_lines[i1:i2]:
            emit("-", line)
            changed += 1
        for line in after_lines[j1:j2]:
            emit("+", line)
            changed += 1
    return "".join(out), changed


def _in_symbol(op: tuple[str, int, int, int, int], symbol: tuple[int, int]) -> bool:
    """Whether a line hunk touches the definition spanning lines symbol[0]..symbol[1]."""
    _, i1, i2, _, _ = op
    fs, fe = symbol
    if i1 == i2:  # an insertion before old line i1: inside, or right after its last line
        return fs < i1 <= fe + 1
    return i1 <= fe and i2 > fs


def _map_boundary(opcodes: Sequence[tuple[str, int, int, int, int]], x: int, upper: bool) -> int:
    """New-text line boundary for old-text line boundary `x` (0..len(old))."""
    for tag, i1, i2, j1, _ in opcodes:
        if tag == "equal" and i1 <= x <= i2:
            return j1 + (x - i1)
    for tag, i1, i2, j1, j2 in opcodes:
        if tag != "equal" and i1 <= x <= i2:
            if x == i1 and not upper:
                return j1
            if x == i2 and upper:
                return j2
            return j2 if upper else j1
    return opcodes[-1][4] if opcodes else 0


_IMPORT_STMT = re.compile(r"^(?:import|from)\s+[\w.]+")


def _added_imports(
    a: list[str],
    b: list[str],
    opcodes: Sequence[tuple[str, int, int, int, int]],
    names: Sequence[str],
    language: str | None,
) -> LearnedChange | None:
    """The import lines added anywhere that bind one of `names` (a file-level fix), if any."""
    wanted = {p for n in names for p in re.findall(r"[^\W\d]\w*", n)}
    if not wanted or treesitter.normalise_language(language) != "python":
        return None
    old_lines = {line.strip() for line in a}
    for tag, i1, _i2, j1, j2 in opcodes:
        if tag not in ("insert", "replace"):
            continue
        added = [
            line for line in b[j1:j2] if _IMPORT_STMT.match(line) and line.strip() not in old_lines
        ]
        binding = [
            line
            for line in added
            if wanted
            & set(re.findall(r"[^\W\d]\w*", line.split("#")[0])) - {"import", "from", "as"}
        ]
        if not binding:
            continue
        after = "".join(line if line.endswith("\n") else line + "\n" for line in binding)
        diff, _changed = unified_region_diff([], binding, i1, j1)
        return LearnedChange(
            before="",
            after=after,
            diff=diff,
            region_before=Range.of(i1, 0, i1, 0),
            language="python",
            confidence=0.8,
            reason="import added at the top of the file",
            region_after=Range.of(j1, 0, j1 + len(binding), 0),
        )
    return None


def learn_change(
    before_text: str,
    after_text: str,
    problem_range: Range,
    language: str | None,
    *,
    max_diff_lines: int = 60,
    symbol_hint: str | Sequence[str] | None = None,
    names: Sequence[str] = (),
    opcodes: Sequence[tuple[str, int, int, int, int]] | None = None,
) -> LearnedChange | NoSolution:
    """The minimal change near `problem_range` (a range in `before_text`) that led to `after_text`.

    `language` is a grammar name or LSP languageId (used for the enclosing function); the learned
    change keeps it normalised when we have a grammar, else as given. `symbol_hint` names the
    problem's enclosing definition ("Class.method" or its parts, outermost first); when given and
    found it is used instead of the innermost function around the problem's line. `opcodes`:
    the line opcodes of the two texts (split with line ends) when the caller has them already.
    """
    a = before_text.splitlines(keepends=True)
    b = after_text.splitlines(keepends=True)
    if not a:
        return NoSolution("the document was empty when the problem was seen")
    sl = min(max(problem_range.start.line, 0), len(a) - 1)
    el = problem_range.end.line
    if problem_range.end.character == 0 and el > sl:
        el -= 1
    el = min(max(el, sl), len(a) - 1)

    if opcodes is None:
        opcodes = line_opcodes(a, b)
    hunks = [op for op in opcodes if op[0] != "equal"]
    if not hunks:
        return NoSolution("the document did not change")

    def is_near(op: tuple[str, int, int, int, int]) -> bool:
        _, i1, i2, _, _ = op
        return i1 <= el + 1 + NEAR_LINES and max(i1, i2) >= sl - NEAR_LINES

    def overlaps(op: tuple[str, int, int, int, int]) -> bool:
        _, i1, i2, _, _ = op
        return i1 <= el and i2 > sl

    symbol = _enclosing_symbol(before_text, language, sl, symbol_hint)
    # hunks next to (not on) the problem's lines count only inside its enclosing function
    near = [
        op
        for op in hunks
        if is_near(op) and (overlaps(op) or symbol is None or _in_symbol(op, symbol))
    ]
    problem_lines = el - sl + 1

    # noise: the problem went away because its code was deleted with much around it
    for _, i1, i2, j1, j2 in near:
        if not (i1 <= sl and el < i2):
            continue
        removed, added = i2 - i1, j2 - j1
        if removed - problem_lines >= 3 and added * 4 <= removed:
            return NoSolution(
                f"the problem's lines were deleted together with {removed - problem_lines} "
                "surrounding lines"
            )
        if symbol is not None and i1 <= symbol[0] and symbol[1] < i2 and added * 2 < removed:
            return NoSolution("the problem's enclosing definition was deleted")

    if not near:
        imported = _added_imports(a, b, opcodes, names, language)
        if imported is not None:
            return imported
    if near:
        selected = near
        lo = min(sl, *(op[1] for op in near))
        hi = max(el + 1, *(op[2] for op in near))
        if any(overlaps(op) for op in near):
            confidence, reason = 0.9, "change on the problem's lines"
        else:
            confidence, reason = 0.75, "change next to the problem's lines"
    else:
        if symbol is None:
            return NoSolution("nothing changed near the problem; it vanished without a nearby edit")
        fs, fe = symbol
        selected = [op for op in hunks if _in_symbol(op, symbol)]
        if not selected:
            return NoSolution(
                "nothing changed near the problem or in its enclosing definition; "
                "it vanished without a nearby edit"
            )
        lo = min(op[1] for op in selected)
        hi = max(op[2] for op in selected)
        confidence, reason = 0.6, f"change in the enclosing definition (lines {fs + 1}-{fe + 1})"

    new_lo = min(_map_boundary(opcodes, lo, upper=False), *(op[3] for op in selected))
    new_hi = max(new_lo, _map_boundary(opcodes, hi, upper=True), *(op[4] for op in selected))
    before_lines, after_lines = a[lo:hi], b[new_lo:new_hi]
    diff, changed = unified_region_diff(before_lines, after_lines, lo, new_lo)
    if changed == 0:
        return NoSolution("nothing changed near the problem")
    if changed > max_diff_lines:
        return NoSolution(f"the change is too large ({changed} changed lines > {max_diff_lines})")
    if changed > max_diff_lines // 2:
        confidence -= 0.15
        reason += f"; large change ({changed} lines)"
    if len(selected) > 1:
        reason += f"; {len(selected)} hunks"
    return LearnedChange(
        before="".join(before_lines),
        after="".join(after_lines),
        diff=diff,
        region_before=Range.of(lo, 0, hi, 0),
        language=treesitter.normalise_language(language) or language,
        confidence=round(confidence, 3),
        reason=reason,
        region_after=Range.of(new_lo, 0, new_hi, 0),
    )
