"""Replaying a fix template (`codecortex.memory.templates`) at a new problem: matched against the
node at the problem and its ancestors up to the enclosing definition (same node types, same fixed
leaves, holes bound consistently to named subtrees), the after side rendered with the learned
fix's layout and the new code's text in its holes, re-indented; a removal template removes the
matching element from a list. A node with a comment outside the holes, or a result that does not
parse, is left alone."""

from __future__ import annotations

import re
import textwrap
from functools import lru_cache

from tree_sitter import Node, Tree

from codecortex.diagnostics import Range, TextEdit, apply_edits
from codecortex.memory.replay import ReplayResult
from codecortex.memory.templates import (
    IDENTS,
    LEAF_TYPES,
    STOP_AT,
    T,
    Template,
    children_of,
    common_ends,
    indent_at,
    name_string,
    node_text,
)
from codecortex.memory.tokens import (
    build_value_mapping,
    line_starts,
    map_text,
    offset_position,
    python_parses,
)
from codecortex.syntax import grammars as treesitter

SPECIFIC_CONFIDENCE = 0.87  # below a whole token match, above most partial ones (<= 0.85)
GENERAL_CONFIDENCE = 0.85  # more general than the fixes it covers: after them


# --------------------------------------------------------------------------- matching


class _Binding:
    def __init__(self, src: bytes, mapping: dict[str, str]) -> None:
        self.src = src
        self.mapping = mapping
        self.binds: dict[str, str] = {}
        self.hole_spans: list[tuple[int, int]] = []

    def match(self, t: T, node: Node) -> bool:
        text = node_text(self.src, node)
        if t.kind == "hole" and t.type.startswith("string:"):
            named = name_string(node, self.src)
            if named is None or self.binds.get(t.text, named[1]) != named[1]:
                return False
            self.binds[t.text] = named[1]
            self.hole_spans.append((node.start_byte, node.end_byte))
            return True
        if t.kind == "hole":
            if not node.is_named or (t.text in self.binds and self.binds[t.text] != text):
                return False
            self.binds[t.text] = text
            self.hole_spans.append((node.start_byte, node.end_byte))
            return True
        if t.kind == "leaf":
            return node.type == t.type and text == map_text(t.text, self.mapping)[0]
        kids = children_of(node)
        if node.type != t.type or len(kids) != len(t.children) or node.type in LEAF_TYPES:
            return False
        return all(self.match(tc, c) for tc, c in zip(t.children, kids, strict=True))


def _comments_outside(node: Node, spans: list[tuple[int, int]]) -> bool:
    stack = [node]
    while stack:
        n = stack.pop()
        if n.type == "comment":
            if not any(s <= n.start_byte and n.end_byte <= e for s, e in spans):
                return True
        stack.extend(n.children)
    return False


@lru_cache(maxsize=8)
def _parsed(text: str) -> tuple[bytes, Tree]:
    """The document's bytes and tree, parsed once for all the templates tried on it."""
    src = text.encode("utf-8")
    return src, treesitter.parse(src, "python")


def _candidates(text: str, rng: Range) -> tuple[bytes, list[Node]]:
    """The node at the problem's start and its ancestors up to the enclosing definition."""
    src, tree = _parsed(text)
    lines = text.splitlines(keepends=True)
    if rng.start.line >= len(lines):
        return src, []

    def col(line: int, character: int) -> int:
        if line >= len(lines):
            return 0
        return len(lines[line][:character].encode("utf-8"))

    start = (rng.start.line, col(rng.start.line, rng.start.character))
    end = (rng.end.line, col(rng.end.line, rng.end.character))
    if end < start:
        end = start
    node: Node | None = tree.root_node.descendant_for_point_range(start, end)
    out: list[Node] = []
    while node is not None and node.type != "module":
        out.append(node)
        if node.type in STOP_AT:
            break
        node = node.parent
    return src, out


def _char(src: bytes, offset: int) -> int:
    return len(src[:offset].decode("utf-8", "replace"))


def _edit(text: str, src: bytes, start: int, end: int, new: str) -> TextEdit:
    starts = line_starts(text)
    return TextEdit(
        Range(offset_position(starts, _char(src, start)), offset_position(starts, _char(src, end))),
        new,
    )


def _minimal_edit(text: str, src: bytes, start: int, end: int, new: str) -> TextEdit:
    """The edit replacing src[start:end] by `new`, narrowed to the part that differs."""
    old = src[start:end].decode("utf-8", "replace")
    p, s = common_ends(old, new)
    a = start + len(old[:p].encode("utf-8"))
    b = end - len(old[len(old) - s :].encode("utf-8")) if s else end
    return _edit(text, src, a, b, new[p : len(new) - s])


def _reindent(fragment: str, old: str, new: str) -> str:
    if "\n" not in fragment or old == new:
        return fragment
    return re.sub(
        r"\n([ \t]*)",
        lambda m: (
            "\n" + (new + m.group(1)[len(old) :] if m.group(1).startswith(old) else m.group(1))
        ),
        fragment,
    )


def _apply_removal(
    template: Template, node: Node, src: bytes, text: str, mapping: dict[str, str]
) -> TextEdit | None:
    """Delete the one element of `node` equal to the template's, with one comma next to it."""
    if node.type != template.after.type:
        return None
    kids = children_of(node)
    hits = [
        i
        for i, c in enumerate(kids)
        if c.is_named and _Binding(src, mapping).match(template.before, c)
    ]
    if len(hits) != 1:
        return None
    i = hits[0]
    closing = (")", "]", "}")
    after = kids[i + 1] if i + 1 < len(kids) else None
    if after is not None and after.type == ",":
        nxt = kids[i + 2] if i + 2 < len(kids) else None
        if nxt is not None and nxt.type not in closing:
            start, end = kids[i].start_byte, nxt.start_byte  # `a, b` -> `b`
        elif i > 0 and kids[i - 1].type == ",":
            start, end = kids[i - 1].end_byte, after.end_byte  # `a, b,)` -> `a,)`
        else:
            return None
    elif i > 0 and kids[i - 1].type == ",":
        start, end = kids[i - 1].start_byte, kids[i].end_byte  # `a, b` -> `a`
    else:
        return None
    if _has_comment(node, start, end):
        return None
    return _edit(text, src, start, end, "")


def _has_comment(node: Node, start: int, end: int) -> bool:
    """Whether a comment lies inside the span to delete."""
    stack = [node]
    while stack:
        n = stack.pop()
        if n.type == "comment" and start < n.end_byte and n.start_byte < end:
            return True
        stack.extend(n.children)
    return False


def _value_anchored(template: Template, mapping: dict[str, str], new_values: list[str]) -> bool:
    """Whether the removed element is (or contains) a value of the new problem's message."""
    rendered = template.before.render({}, mapping)
    parts = {p for v in new_values for p in IDENTS.findall(v)}
    return any(re.search(rf"(?<![\w.]){re.escape(p)}(?![\w])", rendered) for p in parts)


def _statement_of(node: Node) -> Node:
    """The statement holding `node` (its ancestor right below a block or the module)."""
    while node.parent is not None and node.parent.type not in ("block", "module"):
        node = node.parent
    return node


@lru_cache(maxsize=8)
def _parses_whole(text: str) -> bool:
    return python_parses(text)


def _breaks_syntax(src: bytes, node: Node, edit: TextEdit, text: str, result: str) -> bool:
    """Whether the edit makes valid Python invalid: checked on the statement it is in (the
    statement's lines, dedented, alone: a few lines instead of the whole file, for every
    candidate), or on the whole text when the statement does not parse alone."""
    stmt = _statement_of(node)
    start = src.rfind(b"\n", 0, stmt.start_byte) + 1
    end = src.find(b"\n", stmt.end_byte)
    end = len(src) if end < 0 else end
    old = src[start:end].decode("utf-8", "replace")
    if python_parses(textwrap.dedent(old)):
        lo, hi = _char(src, start), _char(src, end)
        grown = len(result) - len(text)
        return not python_parses(textwrap.dedent(result[lo : hi + grown]))
    return _parses_whole(text) and not python_parses(result)


def replay_template(
    template: Template,
    old_values: list[str],
    new_values: list[str],
    new_text: str,
    new_range: Range,
) -> ReplayResult | None:
    """Apply one template at a new problem (Python only)."""
    mapping = build_value_mapping(old_values, new_values)
    if mapping is None:
        return None
    if template.removed:
        # `from os.path import exists` for "`os.path.exists` imported": the name imported is
        # the last part of the value, whatever the shape of the new one
        for old, new in zip(old_values, new_values, strict=True):
            o, n = IDENTS.findall(old), IDENTS.findall(new)
            if o and n:
                mapping.setdefault(o[-1], n[-1])
        if not _value_anchored(template, mapping, new_values):
            return None
    src, nodes = _candidates(new_text, new_range)
    for node in nodes:
        if template.removed:
            edit = _apply_removal(template, node, src, new_text, mapping)
            if edit is None:
                continue
            kind = "structural removal from a list"
        else:
            binding = _Binding(src, mapping)
            if not binding.match(template.before, node):
                continue
            if _comments_outside(node, binding.hole_spans):
                return None
            rendered = template.after.render(binding.binds, mapping)
            rendered = _reindent(rendered, template.indent, indent_at(src, node.start_byte))
            edit = _minimal_edit(new_text, src, node.start_byte, node.end_byte, rendered)
            kind = (
                f"fix pattern generalised from {template.members} past fixes"
                if template.general
                else "structural fix pattern"
            )
        try:
            result = apply_edits(new_text, [edit])
        except ValueError:
            return None
        if result == new_text or _breaks_syntax(src, node, edit, new_text, result):
            return None
        confidence = GENERAL_CONFIDENCE if template.general else SPECIFIC_CONFIDENCE
        return ReplayResult([edit], confidence, kind, result)
    return None
