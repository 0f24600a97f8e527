"""Structural fix templates: past fixes as tree edits with holes, generalised across fixes.

A learned change (the `before` -> `after` fragments of `codecortex.memory.learning`) is turned into a
template over the tree-sitter trees of both fragments:

1. the **changed subtree pair**: the innermost node of `before` that contains everything that
   changed and whose counterpart in `after` (same span once the unchanged text around it is
   taken off; both named nodes) exists — `raise Timeout()` -> `raise Timeout() from None`
   gives the two `raise_statement`s, `dict(a=1)` -> `{"a": 1}` a call and a dictionary;
2. **holes**: every largest named subtree of the before node whose text the after node reuses
   (identifiers, calls, attributes, literals; not None/True/False) becomes a hole `$1, $2...`
   in both, as does a name one side has as an identifier and the other as a string
   (``getattr(o, "name")`` -> ``o.name``, ``dict(arg=1)`` -> ``{"arg": 1}``):
   ``raise $1`` -> ``raise $1 from None``, ``$1 == None`` -> ``$1 is None``; what is left are
   fixed leaves, compared after mapping the message's placeholder values (``glob`` -> ``re``);
3. **anti-unification** (as Getafix does from past human fixes): the templates of all past fixes
   of a signature whose before nodes have the same type are folded pairwise into the least
   general template that covers them — equal leaves stay, subtrees that differ become new holes
   (the same pair of subtrees: the same hole), and a generalisation is kept only when every hole
   of its after side is bound by its before side (``raise $1 from $2`` from ``... from None`` and
   ``... from err`` is not: `$2` would come from nowhere);
4. **removal from a list**: a fix that removed one element (and its comma) from a sequence node
   (``from x import a, b`` -> ``from x import b``, an argument, a base class) is kept as "remove
   the element equal to E from a node of this type", E mapped through the placeholder values and
   required to contain one: it applies at any position and to lists of any length.

To replay (`template_replay`), a template is matched against the node at the new problem and its ancestors up to the
enclosing definition (so the match always contains the problem): same node types, same fixed
leaves, holes bind any named subtree consistently. The after side is rendered with the learned
fix's own layout between its parts, the holes filled with the new code's text, re-indented to
the new node's line. A new node with a comment outside the holes is left alone (it would be
lost), as is a result that does not parse.

Over 400 lines by a few: learning and generalising a template share the tree walks.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache

from tree_sitter import Node

from codecortex.memory.tokens import map_text
from codecortex.syntax import grammars as treesitter

__all__ = ["T", "Template", "generalise", "learn_template"]

# subtrees that are never holes: the language's own constants are part of the fix
_NOT_HOLES = frozenset({"none", "true", "false", "ellipsis"})
# a string holding a name (`getattr(x, "name")`, `{"arg": 1}`): a hole when the other side
# has that name as an identifier
_NAME_STRING = re.compile(r"([rRbBuU]?)(['\"])([^\W\d]\w*)\2")
LEAF_TYPES = frozenset({"string", "concatenated_string", "integer", "float"})
STOP_AT = frozenset({"function_definition", "class_definition", "decorated_definition", "module"})
_SEQUENCES = frozenset(
    {
        "import_from_statement",
        "import_statement",
        "argument_list",
        "parameters",
        "list",
        "tuple",
        "set",
        "expression_list",
        "pattern_list",
        "dictionary",
    }
)
IDENTS = re.compile(r"[^\W\d]\w*")
MAX_GENERALISED = 40  # templates folded per node type (the most reused fixes first)


@dataclass(frozen=True, slots=True)
class T:
    """One element of a template tree: a node (type, children), a leaf (type, text) or a hole
    (name). `gap` is what preceded it in the learned fix's text (layout, comments)."""

    kind: str  # "node" | "leaf" | "hole"
    type: str
    text: str
    gap: str = ""
    children: tuple[T, ...] = ()

    def same(self, other: T) -> bool:
        """Equal ignoring layout."""
        return (
            self.kind == other.kind
            and self.type == other.type
            and self.text == other.text
            and len(self.children) == len(other.children)
            and all(a.same(b) for a, b in zip(self.children, other.children, strict=True))
        )

    def holes(self) -> set[str]:
        if self.kind == "hole":
            return {self.text}
        return {h for c in self.children for h in c.holes()}

    def fixed_leaves(self) -> int:
        if self.kind == "leaf":
            return 1
        return sum(c.fixed_leaves() for c in self.children)

    def render(self, binds: dict[str, str], mapping: dict[str, str], top: bool = True) -> str:
        gap = "" if top else self.gap
        if self.kind == "hole" and self.type.startswith("string:"):
            quote = self.type[len("string:") :]
            return gap + quote + binds[self.text] + quote[-1]
        if self.kind == "hole":
            return gap + binds[self.text]
        if self.kind == "leaf":
            return gap + map_text(self.text, mapping)[0]
        return gap + "".join(c.render(binds, mapping, False) for c in self.children)


@dataclass(frozen=True, slots=True)
class Template:
    """before -> after over one node type; `removed`: a removal-from-a-list template (before is
    the removed element, after unused)."""

    before: T
    after: T
    indent: str  # indentation of the learned after node's first line
    general: bool = False
    removed: bool = False
    members: int = 1  # past fixes it covers
    sources: tuple[int, ...] = field(default=(), compare=False)


# --------------------------------------------------------------------------- building


def children_of(node: Node) -> list[Node]:
    return [c for c in node.children if not c.is_extra]


def node_text(src: bytes, node: Node) -> str:
    return src[node.start_byte : node.end_byte].decode("utf-8", "replace")


def name_string(node: Node, src: bytes) -> tuple[str, str] | None:
    """(prefix and quote, name) of a string literal that holds only a name."""
    if node.type != "string":
        return None
    m = _NAME_STRING.fullmatch(node_text(src, node))
    return (m.group(1) + m.group(2), m.group(3)) if m else None


def _build(node: Node, src: bytes, prev: int, holes: dict[str, str] | None) -> T:
    gap = src[prev : node.start_byte].decode("utf-8", "replace")
    text = node_text(src, node)
    if holes is not None and node.is_named and text in holes and node.type not in _NOT_HOLES:
        return T("hole", "", holes[text], gap)
    named = name_string(node, src) if holes is not None else None
    if holes is not None and named is not None and named[1] in holes:
        return T("hole", "string:" + named[0], holes[named[1]], gap)
    kids = children_of(node)
    if not kids or node.type in LEAF_TYPES:
        return T("leaf", node.type, text, gap)
    out = []
    pos = node.start_byte
    for c in kids:
        out.append(_build(c, src, pos, holes))
        pos = c.end_byte
    return T("node", node.type, "", gap, tuple(out))


def _named_texts(node: Node, src: bytes) -> set[str]:
    out: set[str] = set()
    stack = [node]
    while stack:
        n = stack.pop()
        if n.is_named and n.type not in _NOT_HOLES and not n.is_extra:
            out.add(node_text(src, n))
        stack.extend(children_of(n))
    return out


def _strings_of_names(node: Node, src: bytes) -> set[str]:
    out: set[str] = set()
    stack = [node]
    while stack:
        n = stack.pop()
        named = name_string(n, src)
        if named is not None:
            out.add(named[1])
        stack.extend(children_of(n))
    return out


def _hole_names(b: Node, a: Node, bsrc: bytes, asrc: bytes) -> dict[str, str]:
    """Texts of the largest named subtrees of `b` (not `b` itself) that `a` reuses -> $n
    (also a name that one side has as an identifier and the other as a string)."""
    reused = _named_texts(a, asrc)
    reused_as_string = _strings_of_names(a, asrc)
    names: dict[str, str] = {}
    stack = list(reversed(children_of(b)))
    while stack:
        n = stack.pop()
        t = node_text(bsrc, n)
        if n.is_named and n.type not in _NOT_HOLES and t.strip():
            if t in reused or (n.type == "identifier" and t in reused_as_string):
                names.setdefault(t, f"${len(names) + 1}")
                continue
        named = name_string(n, bsrc)
        if named is not None and named[1] in reused:
            names.setdefault(named[1], f"${len(names) + 1}")
            continue
        stack.extend(reversed(children_of(n)))
    return names


def indent_at(src: bytes, offset: int) -> str:
    start = src.rfind(b"\n", 0, offset) + 1
    m = re.match(rb"[ \t]*", src[start:])
    return (m.group() if m else b"").decode()


def common_ends(a: Sequence[object], b: Sequence[object]) -> tuple[int, int]:
    """(p, s): `a` and `b` share their first p and, after those, their last s items."""
    p = 0
    while p < min(len(a), len(b)) and a[p] == b[p]:
        p += 1
    s = 0
    while s < min(len(a), len(b)) - p and a[-1 - s] == b[-1 - s]:
        s += 1
    return p, s


def _changed_pair(bsrc: bytes, asrc: bytes) -> tuple[Node, Node] | None:
    """The innermost before node containing the change with an after node of the same type on
    the corresponding span (the unchanged text around both is the same)."""
    p, s = common_ends(bsrc, asrc)
    btree, atree = treesitter.parse(bsrc, "python"), treesitter.parse(asrc, "python")
    lo, hi = p, max(p, len(bsrc) - s)
    if lo == hi:  # an insertion: start from the token before it
        lo = max(0, lo - 1)
    node: Node | None = btree.root_node.descendant_for_byte_range(lo, hi)
    while node is not None and node.type != "module":
        if node.start_byte <= p and node.end_byte >= len(bsrc) - s and not node.has_error:
            a_end = len(asrc) - (len(bsrc) - node.end_byte)
            cand: Node | None = atree.root_node.descendant_for_byte_range(node.start_byte, a_end)
            while cand is not None and (cand.start_byte, cand.end_byte) == (
                node.start_byte,
                a_end,
            ):
                if cand.is_named and node.is_named and not cand.has_error:
                    return node, cand
                cand = cand.parent
        node = node.parent
    return None


def _with_context(b: Node, a: Node, bsrc: bytes, asrc: bytes) -> tuple[Node, Node]:
    """An expression's change together with the node it sits in (`b"".join([x for x in s])`
    -> `b"".join(s)` is right in a join's arguments, not in `parts = [...]`): the parents when
    they correspond and parse; statements (under a block) and incomplete fragments stay alone."""
    bp, ap = b.parent, a.parent
    if bp is None or ap is None or bp.type in ("block", "module") or b.type.endswith("statement"):
        return b, a
    same_span = (
        bp.start_byte == ap.start_byte and len(bsrc) - bp.end_byte == len(asrc) - ap.end_byte
    )
    if bp.type != ap.type or not same_span or bp.has_error or ap.has_error:
        return b, a
    if any(c.start_byte == c.end_byte for n in (bp, ap) for c in n.children):
        return b, a  # an incomplete fragment (`if x == None:` without its block)
    return bp, ap


def _removal(b: Node, a: Node, bsrc: bytes, asrc: bytes) -> T | None:
    """The element a fix removed (with one comma) from a sequence node, or None."""
    if b.type not in _SEQUENCES:
        return None
    bk, ak = children_of(b), children_of(a)
    if len(bk) - len(ak) != 2:
        return None
    bt, at = [node_text(bsrc, c) for c in bk], [node_text(asrc, c) for c in ak]
    for i in range(len(bk) - 1):
        pair = (bk[i], bk[i + 1])
        if not (pair[0].type == "," or pair[1].type == ","):
            continue
        if bt[:i] + bt[i + 2 :] == at:
            element = pair[0] if pair[1].type == "," else pair[1]
            if not element.is_named:
                return None
            return _build(element, bsrc, element.start_byte, None)
    return None


@lru_cache(maxsize=4096)
def learn_template(before: str, after: str) -> Template | None:
    """The template of one learned change, or None when it has no structural shape (the
    fragments do not parse there, nothing changed, or the change is a whole statement)."""
    if not before.strip() or not after.strip() or before == after:
        return None
    lines = [ln for ln in (before + "\n" + after).splitlines() if ln.strip()]
    width = min((len(ln) - len(ln.lstrip()) for ln in lines), default=0)
    bsrc = "\n".join(ln[width:] for ln in before.splitlines()).encode() + b"\n"
    asrc = "\n".join(ln[width:] for ln in after.splitlines()).encode() + b"\n"
    pair = _changed_pair(bsrc, asrc)
    if pair is None:
        return None
    b, a = pair
    removed = _removal(b, a, bsrc, asrc)
    if removed is not None:
        container = T("node", b.type, "")
        return Template(removed, container, "", removed=True)
    b, a = _with_context(b, a, bsrc, asrc)
    holes = _hole_names(b, a, bsrc, asrc)
    bt = _build(b, bsrc, b.start_byte, holes)
    at = _build(a, asrc, a.start_byte, holes)
    if bt.kind != "node" or bt.same(at) or not at.holes() <= bt.holes():
        return None
    if bt.fixed_leaves() < 1:
        return None
    return Template(bt, at, indent_at(asrc, a.start_byte))


# --------------------------------------------------------------------------- generalisation


def _anti_unify(
    x: T, y: T, table: dict[tuple[str, str], str], grow: bool, prefix: int = 0
) -> T | None:
    """The least general template of x and y; differing subtrees become holes named by `table`
    (the same pair: the same hole). grow=False (the after side): only holes the before side
    made; None when a new one would be needed."""
    if x.kind == y.kind == "hole" and x.text == y.text and x.type == y.type:
        return x
    if x.kind == y.kind == "leaf" and x.type == y.type and x.text == y.text:
        return x
    if x.kind == y.kind == "node" and x.type == y.type and len(x.children) == len(y.children):
        kids = []
        for cx, cy in zip(x.children, y.children, strict=True):
            k = _anti_unify(cx, cy, table, grow, prefix)
            if k is None:
                return None
            kids.append(k)
        return T("node", x.type, "", x.gap, tuple(kids))
    key = (_signature(x), _signature(y))
    if key not in table:
        if not grow or _token(x) or _token(y):
            return None  # punctuation or keywords differ (not the same shape), or unbound
        table[key] = f"$g{prefix}.{len(table) + 1}"
    return T("hole", "", table[key], x.gap)


def _token(t: T) -> bool:
    """An anonymous token (keyword, operator, punctuation): its type is its text."""
    return t.kind == "leaf" and t.type == t.text


def _signature(t: T) -> str:
    if t.kind == "hole":
        return "\0" + t.text
    if t.kind == "leaf":
        return t.type + ":" + t.text
    return t.type + "(" + ",".join(_signature(c) for c in t.children) + ")"


def _fold(x: Template, y: Template) -> Template | None:
    if x.removed or y.removed or x.before.type != y.before.type:
        return None
    table: dict[tuple[str, str], str] = {}
    b = _anti_unify(x.before, y.before, table, True, x.members)
    if b is None or b.kind != "node":
        return None
    a = _anti_unify(x.after, y.after, table, False, x.members)
    if a is None or not a.holes() <= b.holes() or b.same(a) or b.fixed_leaves() < 1:
        return None
    return Template(b, a, x.indent, general=True, members=x.members + y.members)


@lru_cache(maxsize=1024)
def generalise(changes: tuple[tuple[str, str], ...]) -> tuple[Template, ...]:
    """Templates generalised from several past fixes (`changes`: before/after pairs, the most
    reused first): per before node type, the fixes folded into one least general template, a
    fix that does not fold (another shape) skipped. Only templates covering 2+ fixes that differ
    from each of them are returned."""
    by_type: dict[str, list[tuple[int, Template]]] = {}
    for i, (before, after) in enumerate(changes):
        t = learn_template(before, after)
        if t is not None and not t.removed:
            by_type.setdefault(t.before.type, []).append((i, t))
    out: list[Template] = []
    for members in by_type.values():
        members = members[:MAX_GENERALISED]
        if len(members) < 2:
            continue
        acc: Template | None = None
        used: list[int] = []
        for i, t in members:
            if acc is None:
                acc, used = t, [i]
                continue
            folded = _fold(acc, t)
            if folded is not None:
                acc, used = folded, [*used, i]
        if acc is not None and acc.general:
            out.append(
                Template(acc.before, acc.after, acc.indent, True, False, len(used), tuple(used))
            )
    return tuple(out)
