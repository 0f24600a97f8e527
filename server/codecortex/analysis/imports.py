"""What a file imports and exports, from the nodes of its structure query: Python, JavaScript /
TypeScript, Go, Rust and Java imports (with the names they bind), Python `__all__` and JavaScript
exports."""

from __future__ import annotations

from tree_sitter import Node

from codecortex.analysis.model import ImportInfo
from codecortex.syntax.positions import node_text

__all__ = [
    "go_import",
    "java_import",
    "js_exports",
    "js_import",
    "python_all",
    "python_import",
    "python_type_checking",
    "rust_import",
]


def _string_value(src: bytes, node: Node) -> str:
    raw = node_text(src, node)
    if len(raw) >= 2 and raw[0] in "\"'`" and raw[-1] == raw[0]:
        return raw[1:-1]
    return raw


def python_type_checking(node: Node, src: bytes) -> bool:
    parent = node.parent
    while parent is not None and parent.type not in ("function_definition", "module"):
        if parent.type == "if_statement":
            cond = parent.child_by_field_name("condition")
            if cond is not None and b"TYPE_CHECKING" in src[cond.start_byte : cond.end_byte]:
                return True
        parent = parent.parent
    return False


def python_import(node: Node, src: bytes, line: int) -> list[ImportInfo]:
    out: list[ImportInfo] = []
    if node.type == "import_statement":
        for name in node.children_by_field_name("name"):
            if name.type == "aliased_import":
                module = node_text(src, name.child_by_field_name("name"))
                alias = node_text(src, name.child_by_field_name("alias"))
                out.append(ImportInfo(module, [], line, alias, "import", bindings=[alias]))
            else:
                module = node_text(src, name)
                out.append(
                    ImportInfo(module, [], line, None, "import", bindings=[module.split(".")[0]])
                )
        return out
    module = node_text(src, node.child_by_field_name("module_name"))
    names: list[str] = []
    bindings: list[str] = []
    for name in node.children_by_field_name("name"):
        if name.type == "aliased_import":
            names.append(node_text(src, name.child_by_field_name("name")))
            bindings.append(node_text(src, name.child_by_field_name("alias")))
        else:
            n = node_text(src, name)
            names.append(n)
            bindings.append(n)
    if not names:
        for child in node.named_children:
            if child.type == "wildcard_import":
                names.append("*")
    return [ImportInfo(module, names, line, None, "from", bindings=bindings)]


def js_import(node: Node, src: bytes, line: int, capture: str) -> list[ImportInfo]:
    if capture == "import.require":
        module = _string_value(src, node)
        bindings: list[str] = []
        call = node.parent.parent if node.parent is not None else None
        decl = call.parent if call is not None else None
        if decl is not None and decl.type == "await_expression":
            decl = decl.parent
        if decl is not None and decl.type == "variable_declarator":
            name = decl.child_by_field_name("name")
            if name is not None and name.type == "identifier":
                bindings.append(node_text(src, name))
            elif name is not None and name.type == "object_pattern":
                for prop in name.named_children:
                    if prop.type == "shorthand_property_identifier_pattern":
                        bindings.append(node_text(src, prop))
        return [ImportInfo(module, [], line, None, "require", bindings=bindings)]
    source = node.child_by_field_name("source")
    if source is None:
        return []
    module = _string_value(src, source)
    names: list[str] = []
    bindings = []
    alias: str | None = None
    type_only = any(c.type == "type" for c in node.children[:3])
    kind = "reexport" if node.type == "export_statement" else "import"
    for child in node.named_children:
        if child.type == "import_clause":
            for part in child.named_children:
                if part.type == "identifier":
                    names.append("default")
                    bindings.append(node_text(src, part))
                elif part.type == "namespace_import":
                    ident = part.named_child(0)
                    alias = node_text(src, ident)
                    bindings.append(alias)
                    names.append("*")
                elif part.type == "named_imports":
                    for spec in part.named_children:
                        if spec.type != "import_specifier":
                            continue
                        nm = node_text(src, spec.child_by_field_name("name"))
                        al = spec.child_by_field_name("alias")
                        names.append(nm)
                        bindings.append(node_text(src, al) if al is not None else nm)
        elif child.type == "export_clause":
            for spec in child.named_children:
                if spec.type == "export_specifier":
                    names.append(node_text(src, spec.child_by_field_name("name")))
    if kind == "reexport" and not names:
        names.append("*")
    return [ImportInfo(module, names, line, alias, kind, type_only=type_only, bindings=bindings)]


def go_import(node: Node, src: bytes, line: int) -> list[ImportInfo]:
    path_node = node.child_by_field_name("path")
    if path_node is None:
        return []
    path = _string_value(src, path_node)
    name = node.child_by_field_name("name")
    alias = node_text(src, name) if name is not None else None
    binding = alias if alias not in (None, "_", ".") else path.rsplit("/", 1)[-1]
    return [ImportInfo(path, [], line, alias, "import", bindings=[binding] if binding else [])]


def _rust_use_paths(node: Node, src: bytes, prefix: str, out: list[tuple[str, str, str]]) -> None:
    """Flatten a use tree into (module path, imported name, local binding)."""
    t = node.type
    if t in ("scoped_identifier", "identifier", "crate", "self", "super", "metavariable"):
        full = node_text(src, node).replace(" ", "")
        full = f"{prefix}::{full}" if prefix else full
        mod, _, name = full.rpartition("::")
        out.append((mod or full, name, name))
    elif t == "use_as_clause":
        full = node_text(src, node.child_by_field_name("path")).replace(" ", "")
        full = f"{prefix}::{full}" if prefix else full
        mod, _, name = full.rpartition("::")
        out.append((mod or full, name, node_text(src, node.child_by_field_name("alias"))))
    elif t == "scoped_use_list":
        path = node.child_by_field_name("path")
        p = node_text(src, path).replace(" ", "") if path is not None else ""
        new_prefix = f"{prefix}::{p}" if prefix and p else (p or prefix)
        lst = node.child_by_field_name("list")
        if lst is not None:
            for child in lst.named_children:
                _rust_use_paths(child, src, new_prefix, out)
    elif t == "use_list":
        for child in node.named_children:
            _rust_use_paths(child, src, prefix, out)
    elif t == "use_wildcard":
        full = node_text(src, node).replace(" ", "").removesuffix("::*")
        full = f"{prefix}::{full}" if prefix else full
        out.append((full, "*", ""))


def rust_import(node: Node, src: bytes, line: int) -> list[ImportInfo]:
    if node.type == "mod_item":
        name = node_text(src, node.child_by_field_name("name"))
        return [ImportInfo(name, [], line, None, "mod", bindings=[name])]
    arg = node.child_by_field_name("argument")
    if arg is None:
        return []
    flat: list[tuple[str, str, str]] = []
    _rust_use_paths(arg, src, "", flat)
    by_module: dict[str, ImportInfo] = {}
    for mod, name, binding in flat:
        info = by_module.setdefault(mod, ImportInfo(mod, [], line, None, "use"))
        info.names.append(name)
        if binding:
            info.bindings.append(binding)
    return list(by_module.values())


def java_import(node: Node, src: bytes, line: int) -> list[ImportInfo]:
    name = None
    wildcard = False
    static = False
    for child in node.children:
        if child.type in ("scoped_identifier", "identifier"):
            name = node_text(src, child)
        elif child.type == "asterisk":
            wildcard = True
        elif child.type == "static":
            static = True
    if name is None:
        return []
    kind = "static" if static else "import"
    if wildcard:
        return [ImportInfo(name, ["*"], line, None, kind)]
    module, _, last = name.rpartition(".")
    if static:
        return [ImportInfo(module, [last], line, None, kind, bindings=[last])]
    return [ImportInfo(name, [], line, None, kind, bindings=[last])]


# --------------------------------------------------------------------------- exports


def python_all(node: Node, src: bytes) -> list[str] | None:
    assign = node.parent
    if assign is None:
        return None
    right = assign.child_by_field_name("right")
    if right is None or right.type not in ("list", "tuple"):
        return None
    names = []
    for el in right.named_children:
        if el.type == "string":
            names.append(_string_value(src, el))
    return names


def js_exports(node: Node, src: bytes) -> list[str]:
    out: list[str] = []
    if any(c.type == "default" for c in node.children):
        return ["default"]
    decl = node.child_by_field_name("declaration")
    if decl is not None:
        if decl.type in ("lexical_declaration", "variable_declaration"):
            for d in decl.named_children:
                if d.type == "variable_declarator":
                    out.append(node_text(src, d.child_by_field_name("name")))
        else:
            name = decl.child_by_field_name("name")
            if name is not None:
                out.append(node_text(src, name))
        return out
    for child in node.named_children:
        if child.type == "export_clause":
            for spec in child.named_children:
                if spec.type == "export_specifier":
                    alias = spec.child_by_field_name("alias")
                    out.append(node_text(src, alias or spec.child_by_field_name("name")))
    return out
