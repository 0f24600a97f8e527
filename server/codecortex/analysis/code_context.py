"""What the `code_rules` checks look at: one file's text, tree helpers (the innermost loop and
scope of a node, edits by byte offsets) and how a string expression is built (literal,
f-string, concatenation, formatting) per language.
"""

from __future__ import annotations

from collections.abc import Callable

from tree_sitter import Node

from codecortex.analysis.builder import InsightBuilder
from codecortex.analysis.model import FileAnalysis
from codecortex.diagnostics import TextEdit
from codecortex.syntax.positions import LineIndex, node_text

__all__ = [
    "BUILT",
    "RuleContext",
    "js_built",
    "js_literal",
    "py_built",
    "py_literal",
    "remove_argument",
]

_LOOPS = {
    "python": frozenset(
        {
            "for_statement",
            "while_statement",
            "list_comprehension",
            "set_comprehension",
            "dictionary_comprehension",
            "generator_expression",
        }
    ),
    "javascript": frozenset(
        {"for_statement", "for_in_statement", "while_statement", "do_statement"}
    ),
    "go": frozenset({"for_statement"}),
    "java": frozenset(
        {"for_statement", "enhanced_for_statement", "while_statement", "do_statement"}
    ),
}
_LOOPS["typescript"] = _LOOPS["tsx"] = _LOOPS["javascript"]

_BOUNDARIES = {
    "python": frozenset({"function_definition", "class_definition", "lambda", "module"}),
    "javascript": frozenset(
        {
            "function_declaration",
            "function_expression",
            "arrow_function",
            "method_definition",
            "generator_function_declaration",
            "class_body",
            "program",
        }
    ),
    "go": frozenset({"function_declaration", "method_declaration", "func_literal", "source_file"}),
    "java": frozenset(
        {"method_declaration", "constructor_declaration", "lambda_expression", "class_body"}
    ),
}
_BOUNDARIES["typescript"] = _BOUNDARIES["tsx"] = _BOUNDARIES["javascript"]


class RuleContext:
    """One file's rule run: its text and tree helpers, and what the checks share (the string
    assignments the SQL rule follows, the loops the query-in-loop rule has reported)."""

    __slots__ = ("analysis", "assigns", "b", "index", "lang", "seen_loops", "src", "text")

    def __init__(self, b: InsightBuilder, analysis: FileAnalysis, text: str, src: bytes):
        self.b = b
        self.analysis = analysis
        self.lang = analysis.language
        self.text = text
        self.src = src
        self.index = LineIndex(src, len(src) == len(text))
        self.assigns: dict[str, list[tuple[Node, int]]] = {}
        self.seen_loops: set[int] = set()

    def t(self, node: Node | None) -> str:
        return node_text(self.src, node)

    def loop_and_scope(self, node: Node) -> tuple[Node | None, Node | None]:
        """(innermost loop within the same function, the function/module scope) of `node`."""
        loops = _LOOPS[self.lang]
        bounds = _BOUNDARIES[self.lang]
        loop = None
        n = node.parent
        while n is not None:
            t = n.type
            if t in bounds:
                return loop, n
            if loop is None and t in loops:
                loop = n
            n = n.parent
        return loop, None

    def edit(self, start: int, end: int, new_text: str) -> TextEdit:
        return TextEdit(self.index.range_of_offsets(start, end), new_text)


# --------------------------------------------------------------------------- classification


def _py_string_is_fstring(node: Node) -> bool:
    return any(c.type == "interpolation" for c in node.children)


def py_literal(node: Node) -> bool:
    if node.type == "string":
        return not _py_string_is_fstring(node)
    if node.type == "concatenated_string":
        return all(py_literal(c) for c in node.named_children)
    return False


def py_built(ctx: RuleContext, node: Node) -> str | None:
    """How a Python string expression is built from variable parts, or None."""
    t = node.type
    if t == "string":
        return "f-string" if _py_string_is_fstring(node) else None
    if t == "concatenated_string":
        return "f-string" if any(py_built(ctx, c) for c in node.named_children) else None
    if t == "binary_operator":
        op = node.child_by_field_name("operator")
        op_text = ctx.t(op)
        left = node.child_by_field_name("left")
        right = node.child_by_field_name("right")
        has_str = any(
            n is not None and n.type in ("string", "concatenated_string", "binary_operator")
            for n in (left, right)
        )
        if op_text == "%" and left is not None and left.type in ("string", "concatenated_string"):
            return "%-formatting"
        if op_text == "+" and has_str:
            return "concatenation"
        return None
    if t == "call":
        fn = node.child_by_field_name("function")
        if fn is not None and fn.type == "attribute":
            attr = fn.child_by_field_name("attribute")
            obj = fn.child_by_field_name("object")
            if ctx.t(attr) == "format" and obj is not None and obj.type == "string":
                return ".format()"
    if t == "parenthesized_expression" and node.named_child_count == 1:
        inner = node.named_child(0)
        return py_built(ctx, inner) if inner is not None else None
    return None


def js_literal(node: Node) -> bool:
    if node.type == "string":
        return True
    if node.type == "template_string":
        return not any(c.type == "template_substitution" for c in node.children)
    return False


def js_built(ctx: RuleContext, node: Node) -> str | None:
    if node.type == "template_string":
        if any(c.type == "template_substitution" for c in node.children):
            return "template string"
        return None
    if node.type == "binary_expression" and ctx.t(node.child_by_field_name("operator")) == "+":
        left = node.child_by_field_name("left")
        right = node.child_by_field_name("right")
        if any(
            n is not None and n.type in ("string", "template_string", "binary_expression")
            for n in (left, right)
        ):
            return "concatenation"
    return None


def _go_built(ctx: RuleContext, node: Node) -> str | None:
    if node.type == "call_expression":
        fn = ctx.t(node.child_by_field_name("function"))
        if fn in ("fmt.Sprintf", "fmt.Sprint", "strings.Join"):
            return fn
    if node.type == "binary_expression" and ctx.t(node.child_by_field_name("operator")) == "+":
        return "concatenation"
    return None


def _java_built(ctx: RuleContext, node: Node) -> str | None:
    if node.type == "binary_expression" and ctx.t(node.child_by_field_name("operator")) == "+":
        return "concatenation"
    if node.type == "method_invocation":
        if ctx.t(node.child_by_field_name("name")) in ("format", "formatted"):
            return "String.format"
    return None


BUILT: dict[str, Callable[[RuleContext, Node], str | None]] = {
    "python": py_built,
    "javascript": js_built,
    "typescript": js_built,
    "tsx": js_built,
    "go": _go_built,
    "java": _java_built,
}


def remove_argument(ctx: RuleContext, arg: Node) -> TextEdit:
    prev = arg.prev_named_sibling
    nxt = arg.next_named_sibling
    if prev is not None and prev.type != "comment":
        return ctx.edit(prev.end_byte, arg.end_byte, "")
    if nxt is not None and nxt.type != "comment":
        return ctx.edit(arg.start_byte, nxt.start_byte, "")
    return ctx.edit(arg.start_byte, arg.end_byte, "")
