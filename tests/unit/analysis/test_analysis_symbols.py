"""Symbols, metrics, imports and exports from real tree-sitter grammars; import resolution."""

from __future__ import annotations

import pickle

import pytest
from conftest import TESTS

from codecortex.analysis import FileAnalysis, analyze_source, is_test_path, resolve_imports

FIXTURES = TESTS / "fixtures" / "analysis"


def _analyse(rel: str) -> FileAnalysis:
    return analyze_source(rel, (FIXTURES / rel).read_text(), None)


def _sym(a: FileAnalysis, qualified: str):
    found = [s for s in a.symbols if s.qualified_name == qualified]
    assert found, f"{qualified} not in {[s.qualified_name for s in a.symbols]}"
    return found[0]


def test_python_symbols_and_metrics() -> None:
    a = _analyse("python/complex.py")
    assert a.language == "python" and a.line_count == 52 and len(a.sha256) == 64
    t = _sym(a, "tangled")
    assert (t.kind, t.params, t.max_nesting) == ("function", 7, 6)
    # 1 + if, for, while, if, if, if, (and, or), elif, elif, except, conditional expression
    assert t.complexity == 13
    assert t.has_doc and t.is_public
    run = _sym(a, "Service.run")
    assert run.kind == "method" and run.parent == "Service" and run.params == 1
    assert not _sym(a, "Service._internal").is_public
    assert not _sym(a, "undocumented").has_doc
    # public: tangled, documented, also_documented, undocumented, Service, run, stop -> 5 of 7
    assert a.doc_coverage == pytest.approx(5 / 7)
    assert a.exports == ["tangled", "documented", "also_documented", "undocumented", "Service"]
    assert a.top_level_definitions == 5


def test_python_imports_scopes_and_all() -> None:
    src = (
        "import os, numpy as np\n"
        "from ..pkg.mod import a as b, c\n"
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n"
        "    from x import Y\n"
        "__all__ = ['f']\n"
        "def f():\n"
        "    import json\n"
        "    return np.zeros(1), b()\n"
        "def g():\n"
        "    pass\n"
    )
    a = analyze_source("pkg/sub/m.py", src, "python")
    by_module = {i.module: i for i in a.imports}
    assert by_module["numpy"].alias == "np" and by_module["numpy"].bindings == ["np"]
    assert by_module["..pkg.mod"].names == ["a", "c"]
    assert by_module["..pkg.mod"].bindings == ["b", "c"]
    assert by_module["x"].type_only and not by_module["x"].local
    assert by_module["json"].local
    assert a.exports == ["f"]
    assert _sym(a, "f").is_public and not _sym(a, "g").is_public
    assert {(c.receiver, c.name) for c in a.calls} == {("np", "zeros"), (None, "b")}


def test_typescript_symbols() -> None:
    a = _analyse("typescript/complex.ts")
    t = _sym(a, "tangled")
    assert (t.params, t.max_nesting, t.has_doc, t.is_public) == (7, 6, False, True)
    # if, for, while, if, if, catch, (&&, ||), if, if (else-ifs), ternary -> 1 + 12
    assert t.complexity == 13
    svc = _sym(a, "Service")
    assert svc.bases == ["Base"] and svc.has_doc
    assert not _sym(a, "Service.secretHelper").is_public
    assert _sym(a, "Options2").kind == "interface"
    assert [i.module for i in a.imports] == ["./base", "./types"]
    assert a.imports[1].type_only
    assert set(a.exports) == {"documented", "alsoDocumented", "tangled", "Service", "Options2"}


def test_javascript_require_and_exports() -> None:
    a = _analyse("javascript/insecure.js")
    assert [(i.module, i.kind, i.bindings) for i in a.imports] == [
        ("child_process", "require", ["exec"]),
        ("./db", "require", ["db"]),
    ]
    assert _sym(a, "saveAll").kind == "function"
    b = _analyse("javascript/clean.js")
    assert set(b.exports) == {"show", "total", "Counter"}
    assert _sym(b, "Counter.inc").has_doc and b.doc_coverage == 1.0


def test_go_symbols() -> None:
    a = _analyse("go/complex.go")
    t = _sym(a, "Tangled")
    assert (t.params, t.is_public, t.has_doc) == (7, True, True)
    # 1 + if, for, for, if, case, case, if, if, (&&, ||), else-if
    assert t.complexity == 12 and t.max_nesting == 6
    assert not _sym(a, "Undocumented").has_doc
    assert [i.module for i in a.imports] == ["database/sql", "fmt"]
    clean = _analyse("go/clean.go")
    m = _sym(clean, "Server.FindUser")
    assert m.kind == "method" and m.parent == "Server" and m.params == 1
    assert not _sym(clean, "helper").is_public


def test_rust_symbols() -> None:
    a = _analyse("rust/complex.rs")
    t = _sym(a, "Store.tangled")
    assert (t.kind, t.params, t.max_nesting) == ("method", 7, 6)
    # 1 + if, for, while, if, two match arms, if, if, (&&, ||), else-if
    assert t.complexity == 12
    assert _sym(a, "Store.new").has_doc and not _sym(a, "Store.undocumented").has_doc
    assert a.imports[0].module == "std::collections" and a.imports[0].names == ["HashMap"]
    clean = _analyse("rust/clean.rs")
    assert not _sym(clean, "Point.fmt").is_public  # trait impl method: documented on the trait


def test_java_symbols() -> None:
    a = _analyse("java/Complex.java")
    cls = _sym(a, "Complex")
    assert cls.bases == ["Base"] and cls.is_public and cls.has_doc
    t = _sym(a, "Complex.tangled")
    assert (t.kind, t.params, t.max_nesting) == ("method", 7, 6)
    # 1 + if, for, while, if, case 1 (not default), if, if, (&&, ||), else-if, ternary
    assert t.complexity == 12
    assert "java.sql.Connection" in [i.module for i in a.imports]
    assert not _sym(_analyse("java/Clean.java"), "Clean.helper").is_public


def test_unknown_language_and_pickling() -> None:
    a = analyze_source("notes.txt", "hello\nworld\n", None)
    assert a.symbols == [] and a.line_count == 2 and a.language == ""
    b = _analyse("python/complex.py")
    assert b.tree is not None
    clone = pickle.loads(pickle.dumps(b))
    assert clone.tree is None and clone.symbols == b.symbols
    assert FileAnalysis.from_json(b.to_json()).to_json() == b.to_json()


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("tests/test_x.py", True),
        ("pkg/test_x.py", True),
        ("pkg/x_test.go", True),
        ("src/app.spec.ts", True),
        ("src/FooTest.java", True),
        ("src/app.ts", False),
        ("pkg/contest.py", False),
    ],
)
def test_is_test_path(path: str, expected: bool) -> None:
    assert is_test_path(path) is expected


def test_resolve_imports_python_and_js() -> None:
    files = {
        "src/app/__init__.py": "",
        "src/app/models.py": "class Base:\n    pass\n",
        "src/app/util.py": "def helper():\n    pass\n",
        "src/app/views.py": (
            "from . import util\n"
            "from .models import Base\n"
            "import app.util as u\n"
            "import os\n"
            "class View(Base):\n"
            "    def get(self):\n"
            "        return util.helper(), u.helper()\n"
        ),
        "web/lib/index.ts": "export const x = 1;\n",
        "web/main.ts": (
            "import { x } from './lib';\n"
            "import { y } from './other.js';\n"
            "import React from 'react';\n"
        ),
        "web/other.ts": "export const y = 2;\n",
    }
    analyses = {p: analyze_source(p, t, None) for p, t in files.items()}
    rels = resolve_imports(analyses)
    got = {(r.source_file, r.target_file, r.type) for r in rels}
    assert got == {
        ("src/app/views.py", "src/app/util.py", "imports"),
        ("src/app/views.py", "src/app/models.py", "imports"),
        ("src/app/views.py", "src/app/models.py", "extends"),
        ("src/app/views.py", "src/app/util.py", "calls"),
        ("web/main.ts", "web/lib/index.ts", "imports"),
        ("web/main.ts", "web/other.ts", "imports"),
    }
    calls = next(r for r in rels if r.type == "calls")
    assert sorted(calls.metadata["symbols"]) == ["u.helper", "util.helper"]
