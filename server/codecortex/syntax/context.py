"""The code around a position: enclosing statement and definition, and finding a definition again.

Used to snapshot the code around each detected problem and to locate the same region after edits.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from tree_sitter import Node, QueryCursor

from codecortex.diagnostics import Position, Range
from codecortex.syntax.definitions import definition_name, definitions
from codecortex.syntax.grammars import normalise_language, parse
from codecortex.syntax.positions import LineIndex
from codecortex.syntax.queries import BLOCK_TYPES, DEFINITION_TYPES, queries


@dataclass(slots=True)
class CodeContext:
    """The code around a position: the smallest enclosing statement and the enclosing definition.

    `function_name` is the qualified name of the innermost enclosing function, method or class
    ("Class.method"), `symbol_path` the names of all enclosing definitions, outermost first.
    Without a grammar the statement is the line itself and the "function" a window of +-3 lines.
    """

    statement_text: str
    statement_range: Range
    function_name: str | None
    function_text: str
    function_range: Range
    symbol_path: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "statement_text": self.statement_text,
            "statement_range": self.statement_range.to_json(),
            "function_name": self.function_name,
            "function_text": self.function_text,
            "function_range": self.function_range.to_json(),
            "symbol_path": list(self.symbol_path),
        }


__all__ = ["WINDOW", "enclosing_context", "find_symbol_range"]

WINDOW = 3  # lines either side when there is no grammar or no enclosing definition

_STATEMENT_SUFFIXES = ("_statement", "_declaration", "_definition", "_item")


def _is_statement(node: Node) -> bool:
    t = node.type
    if "parameter" in t:
        return False
    if t.endswith(_STATEMENT_SUFFIXES):
        return True
    parent = node.parent
    return parent is not None and parent.type in BLOCK_TYPES


def _window(lines: list[str], line: int) -> tuple[str, Range]:
    if not lines:
        return "", Range.of(0, 0, 0, 0)
    first = max(0, line - WINDOW)
    last = min(len(lines) - 1, line + WINDOW)
    text = "".join(lines[first : last + 1])
    return text, Range.of(first, 0, last, len(lines[last].rstrip("\r\n")))


def _line_only(lines: list[str], line: int) -> tuple[str, Range]:
    if not lines:
        return "", Range.of(0, 0, 0, 0)
    content = lines[line].rstrip("\r\n")
    return content, Range.of(line, 0, line, len(content))


def _fallback(lines: list[str], line: int) -> CodeContext:
    line = min(max(line, 0), max(len(lines) - 1, 0))
    stmt_text, stmt_range = _line_only(lines, line)
    win_text, win_range = _window(lines, line)
    return CodeContext(stmt_text, stmt_range, None, win_text, win_range, ())


def _header(node: Node, src: bytes, index: LineIndex) -> tuple[str, Range]:
    """A definition used as a statement: only its signature, up to the body."""
    body = node.child_by_field_name("body")
    if body is None or body.start_byte <= node.start_byte:
        return src[node.start_byte : node.end_byte].decode("utf-8", "replace"), index.range_of(node)
    raw = src[node.start_byte : body.start_byte]
    stripped = raw.rstrip()
    end = node.start_byte + len(stripped)
    return stripped.decode("utf-8", "replace"), index.range_of_offsets(node.start_byte, end)


def enclosing_context(
    text: str, language: str | None, line: int, character: int = 0
) -> CodeContext:
    """The smallest statement and the innermost named definition around (line, character).

    Without a grammar for `language` the statement is the line and the function a window of +-3
    lines. A definition header counts as a statement of its own (signature only).
    """
    lines = text.splitlines(keepends=True)
    lang = normalise_language(language)
    if lang is None or not lines:
        return _fallback(lines, line)
    line = min(max(line, 0), len(lines) - 1)
    src = text.encode("utf-8", errors="surrogatepass")
    tree = parse(src, lang)
    index = LineIndex(src)
    content = lines[line].rstrip("\r\n")
    first_non_ws = len(content) - len(content.lstrip())
    char = character
    if char < first_non_ws or char >= len(content):
        char = first_non_ws
    blank = not content.strip()
    col = index.byte_col(line, char)
    node = tree.root_node.named_descendant_for_point_range((line, col), (line, col))
    if node is None:
        return _fallback(lines, line)

    # statement
    stmt: Node | None = None
    if not blank:
        n: Node | None = node
        while n is not None and n.parent is not None:
            if _is_statement(n):
                stmt = n
                break
            n = n.parent
    def_types = DEFINITION_TYPES[lang]
    if stmt is None:
        stmt_text, stmt_range = _line_only(lines, line)
    elif stmt.type in def_types:
        stmt_text, stmt_range = _header(stmt, src, index)
    else:
        stmt_text = src[stmt.start_byte : stmt.end_byte].decode("utf-8", "replace")
        stmt_range = index.range_of(stmt)

    # enclosing definitions, innermost first
    path: list[str] = []
    function_node: Node | None = None
    n = node
    while n is not None:
        if n.type in def_types:
            name, explicit_parent = definition_name(n, lang, src)
            if name != "<anonymous>":
                path.append(name)
                if explicit_parent:
                    path.append(explicit_parent)
                if function_node is None:
                    function_node = n
        n = n.parent
    path.reverse()
    if function_node is None:
        win_text, win_range = _window(lines, line)
        return CodeContext(stmt_text, stmt_range, None, win_text, win_range, ())
    func_text = src[function_node.start_byte : function_node.end_byte].decode("utf-8", "replace")
    return CodeContext(
        statement_text=stmt_text,
        statement_range=stmt_range,
        function_name=".".join(path),
        function_text=func_text,
        function_range=index.range_of(function_node),
        symbol_path=tuple(path),
    )


def find_symbol_range(
    text: str,
    language: str | None,
    symbol_path: str | Sequence[str],
    near_line: int | None = None,
) -> Range | None:
    """Range of the definition whose qualified name is `symbol_path` ("Class.method" or a tuple).

    When several definitions share the name (overloads, redefinitions) the one closest to
    `near_line` wins, else the first.
    """
    lang = normalise_language(language)
    if lang is None:
        return None
    wanted = symbol_path if isinstance(symbol_path, str) else ".".join(symbol_path)
    if not wanted:
        return None
    src = text.encode("utf-8", errors="surrogatepass")
    root = parse(src, lang).root_node
    caps = QueryCursor(queries(lang).structure).captures(root)
    candidates = [d.node for d in definitions(root, lang, src, caps) if d.qualified == wanted]
    if not candidates:
        return None
    if near_line is not None:
        candidates.sort(key=lambda n: abs(n.start_point[0] - near_line))
    return LineIndex(src).range_of(candidates[0])


def position_in(range_: Range, pos: Position) -> bool:
    """True when `pos` lies inside `range_` (inclusive start, exclusive end)."""
    start, end = range_.start, range_.end
    if (pos.line, pos.character) < (start.line, start.character):
        return False
    return (pos.line, pos.character) < (end.line, end.character)
