"""Definitions in a tree-sitter tree (functions, classes, methods, Rust impl containers), in
document order with their parents and qualified names: what analysis, memory and synthesis
mean by "the enclosing definition"."""

from __future__ import annotations

from dataclasses import dataclass

from tree_sitter import Node

from codecortex.syntax.positions import node_text


@dataclass(slots=True, eq=False)
class Definition:
    """A definition found by the structure query, before it becomes a SymbolInfo."""

    node: Node
    kind: str  # function | class | method | interface | container
    name: str
    parent: Definition | None
    qualified: str
    complexity: int = 1
    nesting: int = 0
    public: bool = True  # set by analyze_source; a parent's, read for its members
    parent_name: str | None = None  # an explicit parent (Go methods' receiver type)


def strip_type(name: str) -> str:
    for ch in "<[(":
        cut = name.find(ch)
        if cut >= 0:
            name = name[:cut]
    return name.strip()


def definition_name(node: Node, language: str, src: bytes) -> tuple[str, str | None]:
    """(name, explicit parent name) for a definition node; parent name only for Go methods."""
    t = node.type
    if t in ("arrow_function", "function_expression"):
        parent = node.parent
        if parent is not None and parent.type == "variable_declarator":
            return node_text(src, parent.child_by_field_name("name")), None
        name = node.child_by_field_name("name")
        return (node_text(src, name) if name is not None else "<anonymous>"), None
    if t == "impl_item":
        return strip_type(node_text(src, node.child_by_field_name("type"))), None
    if t == "method_declaration" and language == "go":
        recv = node.child_by_field_name("receiver")
        recv_type = ""
        if recv is not None:
            for param in recv.named_children:
                if param.type == "parameter_declaration":
                    recv_type = node_text(src, param.child_by_field_name("type"))
                    break
        recv_type = strip_type(recv_type.lstrip("*").strip())
        return node_text(src, node.child_by_field_name("name")), recv_type or None
    name = node.child_by_field_name("name")
    if name is None:
        return (
            "default"
            if node.parent is not None and node.parent.type == "export_statement"
            else "<anonymous>"
        ), None
    return node_text(src, name), None


def definitions(
    root: Node, language: str, src: bytes, captures: dict[str, list[Node]]
) -> list[Definition]:
    """Definitions (incl. Rust impl containers) in document order with parents and qualified names.

    Decision points and nesting from `captures` are attributed to the innermost definition.
    """
    # (start, -end, order, sequence number, node, kind): sorting the tuples themselves orders by
    # position, then definitions before nesting before branches, then capture order (the sequence
    # number is unique, so nodes are never compared)
    items: list[tuple[int, int, int, int, Node, str]] = []
    add = items.append
    seq = 0
    for key in ("def.function", "def.class", "def.method", "def.interface", "def.container"):
        kind = key[4:]
        for n in captures.get(key, ()):
            add((n.start_byte, -n.end_byte, 0, seq, n, kind))
            seq += 1
    elseif_nodes = captures.get("elseif")
    elseif = {(n.start_byte, n.end_byte) for n in elseif_nodes} if elseif_nodes else None
    both = captures.get("nest.branch", [])  # nodes that nest and branch
    for n in captures.get("nest", []) + both:
        start, end = n.start_byte, n.end_byte
        if elseif is None or (start, end) not in elseif:
            add((start, -end, 1, seq, n, "nest"))
            seq += 1
    for n in captures.get("branch", []) + both:
        add((n.start_byte, -n.end_byte, 2, seq, n, "branch"))
        seq += 1
    items.sort()

    python = language == "python"
    defs: list[Definition] = []
    # stack entries: (end_byte, owning definition, nesting depth inside that definition)
    stack: list[tuple[int, Definition | None, int]] = []
    seen_defs: set[tuple[int, int]] = set()
    for start, neg_end, order, _seq, node, kind in items:
        while stack and stack[-1][0] <= start:
            stack.pop()
        owner = stack[-1][1] if stack else None
        if order == 2:
            if owner is not None:
                owner.complexity += 1
            continue
        end = -neg_end
        if order == 1:
            depth = (stack[-1][2] + 1) if stack else 1
            if owner is not None and depth > owner.nesting:
                owner.nesting = depth
            stack.append((end, owner, depth))
        else:
            span = (start, end)
            if span in seen_defs:  # same node captured by two patterns
                continue
            seen_defs.add(span)
            if python:  # the common case, without the other grammars' special cases
                name_node = node.child_by_field_name("name")
                name = node_text(src, name_node) if name_node is not None else "<anonymous>"
                explicit_parent = None
            else:
                name, explicit_parent = definition_name(node, language, src)
            if explicit_parent is not None:
                qualified = f"{explicit_parent}.{name}"
            elif owner is not None:
                qualified = f"{owner.qualified}.{name}"
            else:
                qualified = name
            if (
                kind == "function"
                and owner is not None
                and owner.kind
                in (
                    "class",
                    "interface",
                    "container",
                )
            ):
                kind = "method"
            if kind == "method" and explicit_parent is None and owner is None:
                kind = "function"
            d = Definition(node, kind, name, owner, qualified)
            if explicit_parent is not None:
                d.parent_name = explicit_parent
            defs.append(d)
            stack.append((end, d, 0))
    return defs
