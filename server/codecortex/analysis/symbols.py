"""Per-file structure from tree-sitter queries: symbols, metrics, imports, exports, calls.

`analyze_source` runs one structure query per file (see `languages.py`) and a single sweep over the
captured nodes sorted by position to attribute decision points and nesting to the innermost
definition; no Python walk over the whole tree. Imports and exports: `analysis.imports`.

Over 400 lines: the sweep and the per-language definition details it reads (names, docstrings,
parameters, bases, visibility) are one piece.
"""

from __future__ import annotations

import hashlib
import re
from bisect import bisect_right

from tree_sitter import Node, QueryCursor

from codecortex.analysis.imports import (
    go_import,
    java_import,
    js_exports,
    js_import,
    python_all,
    python_import,
    python_type_checking,
    rust_import,
)
from codecortex.analysis.model import CallRef, FileAnalysis, ImportInfo, SymbolInfo
from codecortex.syntax.definitions import Definition, definitions, strip_type
from codecortex.syntax.grammars import language_for_path, normalise_language, parse
from codecortex.syntax.positions import LineIndex, node_text
from codecortex.syntax.queries import ATTR_FIELDS, queries, structure_with_calls

__all__ = ["analyze_source", "is_test_path"]

_JS_LIKE = frozenset({"javascript", "typescript", "tsx"})

_TEST_DIRS = frozenset({"test", "tests", "__tests__", "spec", "specs", "testing", "testdata"})
_TEST_NAME = re.compile(
    r"(^test_.*\.py$|_test\.py$|^conftest\.py$|_test\.go$|\.(test|spec)\.[cm]?[jt]sx?$"
    r"|Tests?\.java$|^Test.*\.java$|_test\.rs$)"
)


def is_test_path(path: str) -> bool:
    """True for files that are tests by the usual naming conventions of each ecosystem."""
    # the parts of PurePosixPath(path) without building one: empty and "." parts dropped
    parts = [p for p in path.replace("\\", "/").split("/") if p and p != "."]
    if parts and _TEST_NAME.search(parts[-1]):
        return True
    return any(part.lower() in _TEST_DIRS for part in parts[:-1])


# --------------------------------------------------------------------------- per-language details


def _python_docstring(body: Node | None) -> bool:
    if body is None or not body.named_child_count:
        return False
    child: Node | None = body.named_child(0)
    while child is not None and child.type == "comment":
        child = child.next_named_sibling
    if child is not None and child.type == "expression_statement":
        first = child.named_child(0)
        return first is not None and first.type == "string"
    return False


def _doc_comment(node: Node, language: str, src: bytes) -> bool:
    target = node
    if node.type in ("arrow_function", "function_expression"):
        decl = node.parent
        if decl is not None and decl.parent is not None:
            target = decl.parent  # lexical_declaration / variable_declaration
    parent = target.parent
    if parent is not None and parent.type == "export_statement":
        target = parent
    if language == "go" and node.type == "type_spec" and parent is not None:
        target = parent
    prev = target.prev_named_sibling
    if language == "rust":
        while prev is not None and prev.type == "attribute_item":
            prev = prev.prev_named_sibling
    if prev is None or "comment" not in prev.type:
        return False
    if prev.end_point[0] < target.start_point[0] - 1:
        return False
    head = src[prev.start_byte : prev.start_byte + 3]
    if language == "go":
        return True
    if language == "rust":
        return head in (b"///", b"/**")
    return head == b"/**"


def _params(node: Node, language: str, src: bytes, kind: str) -> int:
    if language == "python":
        params = node.child_by_field_name("parameters")
        if params is None:
            return 0
        count = 0
        for i, p in enumerate(params.named_children):
            if p.type in ("comment", "keyword_separator", "positional_separator"):
                continue
            if i == 0 and kind == "method" and p.type == "identifier":
                if src[p.start_byte : p.end_byte] in (b"self", b"cls"):
                    continue
            count += 1
        return count
    if language in _JS_LIKE:
        params = node.child_by_field_name("parameters")
        if params is None:
            return 1 if node.child_by_field_name("parameter") is not None else 0
        return sum(1 for p in params.named_children if p.type != "comment")
    if language == "go":
        params = node.child_by_field_name("parameters")
        if params is None:
            return 0
        count = 0
        for p in params.named_children:
            if p.type in ("parameter_declaration", "variadic_parameter_declaration"):
                names = p.children_by_field_name("name")
                count += max(1, len(names))
        return count
    if language == "rust":
        params = node.child_by_field_name("parameters")
        if params is None:
            return 0
        return sum(1 for p in params.named_children if p.type == "parameter")
    if language == "java":
        params = node.child_by_field_name("parameters")
        if params is None:
            return 0
        return sum(
            1 for p in params.named_children if p.type in ("formal_parameter", "spread_parameter")
        )
    return 0


def _bases(node: Node, language: str, src: bytes) -> list[str]:
    out: list[str] = []
    if language == "python":
        sup = node.child_by_field_name("superclasses")
        if sup is not None:
            for arg in sup.named_children:
                if arg.type in ("identifier", "attribute", "subscript"):
                    out.append(strip_type(node_text(src, arg)))
    elif language in _JS_LIKE:
        for child in node.named_children:
            if child.type != "class_heritage":
                continue
            for h in child.named_children:
                if h.type == "extends_clause":
                    value = h.child_by_field_name("value")
                    if value is not None:
                        out.append(strip_type(node_text(src, value)))
                elif h.type == "implements_clause":
                    out.extend(strip_type(node_text(src, t)) for t in h.named_children)
                elif h.type in ("identifier", "member_expression"):
                    out.append(node_text(src, h))
    elif language == "java":
        for child in node.named_children:
            if child.type == "superclass":
                out.extend(strip_type(node_text(src, t)) for t in child.named_children)
            elif child.type in ("super_interfaces", "extends_interfaces"):
                for tl in child.named_children:
                    out.extend(strip_type(node_text(src, t)) for t in tl.named_children)
    return [b for b in out if b]


def _is_public(d: Definition, language: str, src: bytes) -> bool:
    name = d.name
    parent = d.parent
    if parent is not None and parent.kind in ("function", "method"):
        return False  # nested helper
    if language == "python":
        if name.startswith("_"):
            return False
        return parent is None or parent.public
    if language in _JS_LIKE:
        node = d.node
        if parent is None:
            target = node
            if node.type in ("arrow_function", "function_expression") and node.parent is not None:
                target = node.parent.parent or node
            return (
                target is not None
                and target.parent is not None
                and (target.parent.type == "export_statement")
            )
        if not parent.public:
            return False
        name_node = node.child_by_field_name("name")
        if name_node is not None and name_node.type == "private_property_identifier":
            return False
        for child in node.children:
            if child.type == "accessibility_modifier":
                return node_text(src, child) == "public"
        return True
    if language == "go":
        return name[:1].isupper()
    if language == "rust":
        if parent is not None and parent.kind == "interface":
            return parent.public
        return any(child.type == "visibility_modifier" for child in d.node.children)
    if language == "java":
        if parent is not None and parent.kind == "interface":
            return parent.public
        for child in d.node.children:
            if child.type == "modifiers":
                return b"public" in src[child.start_byte : child.end_byte].split()
        return False
    return not name.startswith("_")


# --------------------------------------------------------------------------- entry point


def _line_count(text: str) -> int:
    if not text:
        return 0
    n = text.count("\n")
    return n if text.endswith("\n") else n + 1


def analyze_source(
    path: str,
    text: str,
    language: str | None = None,
    *,
    collect_calls: bool = True,
    keep_tree: bool = True,
    src: bytes | None = None,
    sha256: str | None = None,
    remember_tree: bool = True,
) -> FileAnalysis:
    """Symbols, metrics, imports, exports and (optionally) calls of one file.

    `language` is a grammar name or LSP languageId; when it is missing or unknown the path's
    extension decides, and a file without a grammar yields an analysis with no symbols.
    `keep_tree` keeps the parsed tree on the result (`FileAnalysis.tree`) so that the file rules can
    reuse it. `src` is `text` encoded (UTF-8, surrogatepass) and `sha256` its hex digest, when the
    caller has them. `remember_tree=False`: the tree is not kept in `codecortex.syntax.grammars`'s
    per-thread cache of recent parses (for files parsed once, as in a workspace's worker).
    """
    if src is None:
        src = text.encode("utf-8", errors="surrogatepass")
    lang = normalise_language(language) or language_for_path(path)
    analysis = FileAnalysis(
        path=path,
        language=lang or (language or ""),
        line_count=_line_count(text),
        sha256=sha256 if sha256 is not None else hashlib.sha256(src).hexdigest(),
        is_test=is_test_path(path),
        size_bytes=len(src),
    )
    if lang is None:
        return analysis
    tree = parse(src, lang, remember=remember_tree)
    root = tree.root_node
    analysis.has_syntax_errors = root.has_error
    query = structure_with_calls(lang) if collect_calls else queries(lang).structure
    caps = QueryCursor(query).captures(root)
    defs = definitions(root, lang, src, caps)
    index = LineIndex(src, text.isascii() if len(text) == len(src) else False)

    # imports ---------------------------------------------------------------------------------
    imports: list[ImportInfo] = []
    import_nodes: list[tuple[Node, str]] = [(n, "import") for n in caps.get("import", ())]
    import_nodes += [(n, "import.require") for n in caps.get("import.require", ())]
    import_nodes.sort(key=lambda item: item[0].start_byte)  # capture lists are not in order
    if import_nodes:
        # an import is local when it starts inside a function: among the functions starting at
        # or before it, one ends after it (running maximum of the ends, by start)
        def_spans = sorted(
            (d.node.start_byte, d.node.end_byte) for d in defs if d.kind in ("function", "method")
        )
        def_starts = [s for s, _e in def_spans]
        reach: list[int] = []
        furthest = -1
        for _s, e in def_spans:
            furthest = max(furthest, e)
            reach.append(furthest)
        for node, capture in import_nodes:
            line = node.start_point[0]
            if lang == "python":
                found = python_import(node, src, line)
            elif lang in _JS_LIKE:
                found = js_import(node, src, line, capture)
            elif lang == "go":
                found = go_import(node, src, line)
            elif lang == "rust":
                found = rust_import(node, src, line)
            else:
                found = java_import(node, src, line)
            if not found:
                continue
            start = node.start_byte
            below = bisect_right(def_starts, start)
            local = below > 0 and reach[below - 1] > start
            type_only = lang == "python" and python_type_checking(node, src)
            for info in found:
                info.local = local
                info.type_only = info.type_only or type_only
            imports.extend(found)
    analysis.imports = imports

    # exports ---------------------------------------------------------------------------------
    dunder_all: list[str] | None = None
    top_assigned: list[str] = []
    exports: list[str] = []
    if lang == "python":
        for n in sorted(caps.get("assign.top", ()), key=lambda n: n.start_byte):
            name = node_text(src, n)
            if name == "__all__":
                found_all = python_all(n, src)
                if found_all is not None:
                    dunder_all = found_all
            elif not name.startswith("_"):
                top_assigned.append(name)
    elif lang in _JS_LIKE:
        for n in sorted(caps.get("export", ()), key=lambda n: n.start_byte):
            exports.extend(js_exports(n, src))

    # symbols ---------------------------------------------------------------------------------
    symbols: list[SymbolInfo] = []
    public_set = set(dunder_all) if dunder_all is not None else None
    exported_names = set(exports)
    ascii_only = index.ascii_only
    char_col = index.char_col
    for d in defs:
        node = d.node
        public = _is_public(d, lang, src)
        if lang == "python" and d.parent is None and public_set is not None:
            public = d.name in public_set
        if lang in _JS_LIKE and d.parent is None and not public and d.name in exported_names:
            public = True
        d.public = public
        if d.kind == "container":
            continue
        if lang == "python":
            has_doc = _python_docstring(node.child_by_field_name("body"))
        else:
            has_doc = _doc_comment(node, lang, src)
        sr, sc = node.start_point
        er, ec = node.end_point
        parent_name = d.parent_name
        if parent_name is None and d.parent is not None:
            parent_name = d.parent.qualified
        kind = d.kind
        name = d.name
        symbols.append(
            SymbolInfo(
                kind,
                name,
                d.qualified,
                parent_name,
                sr,
                sc if ascii_only else char_col(sr, sc),
                er,
                ec if ascii_only else char_col(er, ec),
                _params(node, lang, src, kind) if kind in ("function", "method") else 0,
                d.complexity,
                d.nesting,
                er - sr + 1,
                has_doc,
                public and not (name.startswith("__") and name.endswith("__")),
                _bases(node, lang, src) if kind in ("class", "interface") else [],
            )
        )
    analysis.symbols = symbols
    analysis.top_level_definitions = sum(1 for s in symbols if s.parent is None)

    if lang == "python":
        if dunder_all is not None:
            exports = list(dunder_all)
        else:
            exports = [s.name for s in symbols if s.parent is None and s.is_public]
            exports += top_assigned
    elif lang in ("go", "rust", "java"):
        exports = [s.name for s in symbols if s.parent is None and s.is_public]
    analysis.exports = [e for e in dict.fromkeys(exports) if e]

    public_syms = [s for s in symbols if s.is_public]
    if public_syms:
        analysis.doc_coverage = sum(1 for s in public_syms if s.has_doc) / len(public_syms)

    # calls -----------------------------------------------------------------------------------
    if collect_calls and imports:
        bound = {b for i in imports for b in i.bindings}
        if bound:
            analysis.calls = _calls(caps, lang, src, bound)

    if keep_tree:
        analysis.tree = tree
        analysis.rule_nodes = {k: v for k, v in caps.items() if k.startswith("rule.")}
    return analysis


def _calls(caps: dict[str, list[Node]], lang: str, src: bytes, bound: set[str]) -> list[CallRef]:
    """The calls of `bound` names among the `call.name` / `call.attr` captures."""
    out: list[CallRef] = []
    seen: set[tuple[str | None, str]] = set()
    for n in sorted(caps.get("call.name", ()), key=lambda n: n.start_byte):
        name = src[n.start_byte : n.end_byte].decode("utf-8", errors="replace")
        if name in bound and (None, name) not in seen:
            seen.add((None, name))
            out.append(CallRef(name, n.start_point[0]))
    recv_field, member_field = ATTR_FIELDS[lang]
    for n in sorted(caps.get("call.attr", ()), key=lambda n: n.start_byte):
        recv = n.child_by_field_name(recv_field)
        if recv is None:
            continue
        receiver = src[recv.start_byte : recv.end_byte].decode("utf-8", errors="replace")
        if receiver not in bound:
            continue
        member = n.child_by_field_name(member_field)
        name = node_text(src, member)
        if (receiver, name) not in seen:
            seen.add((receiver, name))
            out.append(CallRef(name, n.start_point[0], receiver))
    out.sort(key=lambda c: c.line)
    return out
