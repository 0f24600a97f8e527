"""Enclosing statement / definition around a position, and finding a definition after edits."""

from __future__ import annotations

import pytest
from conftest import TESTS

from codecortex.syntax.context import enclosing_context, find_symbol_range

FIXTURES = TESTS / "fixtures" / "analysis"

PY = '''\
import os


class Repo:
    """A repository."""

    def save(self, item):
        if item:
            path = os.path.join("a",
                                "b")
            return path
        return None
'''


def test_python_statement_and_method() -> None:
    ctx = enclosing_context(PY, "python", 9, 20)  # inside the continuation line
    assert ctx.statement_text == 'path = os.path.join("a",\n                                "b")'
    assert (ctx.statement_range.start.line, ctx.statement_range.end.line) == (8, 9)
    assert ctx.function_name == "Repo.save"
    assert ctx.symbol_path == ("Repo", "save")
    assert ctx.function_text.startswith("def save(self, item):")
    assert (ctx.function_range.start.line, ctx.function_range.end.line) == (6, 11)


def test_python_header_line_is_the_signature() -> None:
    ctx = enclosing_context(PY, "python", 6, 0)
    assert ctx.statement_text == "def save(self, item):"
    assert ctx.function_name == "Repo.save"


def test_module_level_uses_window() -> None:
    ctx = enclosing_context(PY, "python", 0, 0)
    assert ctx.statement_text == "import os"
    assert ctx.function_name is None and ctx.symbol_path == ()
    assert (ctx.function_range.start.line, ctx.function_range.end.line) == (0, 3)


def test_no_grammar_falls_back_to_window() -> None:
    text = "".join(f"line {i}\n" for i in range(20))
    ctx = enclosing_context(text, None, 10, 2)
    assert ctx.statement_text == "line 10"
    assert ctx.function_text == "".join(f"line {i}\n" for i in range(7, 14))
    assert (ctx.function_range.start.line, ctx.function_range.end.line) == (7, 13)
    ctx = enclosing_context(text, "cobol", 0)
    assert ctx.function_range.start.line == 0 and ctx.function_range.end.line == 3


@pytest.mark.parametrize(
    ("rel", "language", "needle", "statement_start", "function_name"),
    [
        ("typescript/complex.ts", "typescriptreact", "total += 3;", "total += 3;", "tangled"),
        ("typescript/complex.ts", "typescript", "return job;", "return job;", "Service.run"),
        ("go/complex.go", "go", "total += 2", "total += 2", "Tangled"),
        ("go/clean.go", "go", "return s.db.Query", "return s.db.Query", "Server.FindUser"),
        ("rust/complex.rs", "rust", "self.items.len()", "self.items.len()", "Store.undocumented"),
        ("java/Complex.java", "java", "c--;", "c--;", "Complex.tangled"),
    ],
)
def test_other_languages(rel, language, needle, statement_start, function_name) -> None:
    text = (FIXTURES / rel).read_text()
    line = next(i for i, ln in enumerate(text.splitlines()) if needle in ln)
    col = text.splitlines()[line].index(needle)
    ctx = enclosing_context(text, language, line, col)
    assert ctx.statement_text.startswith(statement_start)
    assert ctx.function_name == function_name
    assert ctx.symbol_path == tuple(function_name.split("."))
    assert needle in ctx.function_text


def test_non_ascii_columns_are_characters() -> None:
    text = 'def f():\n    s = "ééé"; t = 1\n    return s\n'
    ctx = enclosing_context(text, "python", 1, 15)  # the `t = 1` after three 2-byte characters
    assert ctx.statement_text == "t = 1"
    assert ctx.statement_range.start.character == 15


def test_find_symbol_range_after_edits() -> None:
    rng = find_symbol_range(PY, "python", "Repo.save")
    assert rng is not None and rng.start.line == 6
    edited = "# new header\n# another line\n" + PY.replace("def save", "def save_all", 0)
    moved = find_symbol_range(edited, "python", ("Repo", "save"))
    assert moved is not None and moved.start.line == 8 and moved.end.line == 13
    assert find_symbol_range(edited, "python", "Repo.missing") is None
    assert find_symbol_range(edited, None, "Repo.save") is None
    go = (FIXTURES / "go" / "clean.go").read_text()
    found = find_symbol_range(go, "go", "Server.FindUser")
    assert found is not None and go.splitlines()[found.start.line].startswith("func (s *Server)")
