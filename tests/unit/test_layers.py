"""The package's layers, read from its imports: they only go down (cli/lsp -> session -> engine
packages -> store -> a foundation of plain data and pure functions), `lsp/` never reaches
`store/`, and no modules import each other in a circle. Imports under `if TYPE_CHECKING:` are
annotations only and do not count."""

from __future__ import annotations

import ast
from pathlib import Path

from conftest import ROOT

PACKAGE = ROOT / "server" / "codecortex"
LAYERS = {"cli": 3, "lsp": 3, "__main__": 3, "session": 2, "store": 0}  # the rest: engine, 1
# What the store needs too: settings, the redactor (secrets are scrubbed before any write), the
# prompt templates, the plain types and limits.
FOUNDATION = {
    "codecortex.cancellation",
    "codecortex.config.llm",
    "codecortex.config.settings",
    "codecortex.diagnostics",
    "codecortex.limits",
    "codecortex.llm.prompts",
    "codecortex.llm.redaction",
}
# Entry points that run another: `python -m codecortex` is the CLI, `codecortex serve` the server.
ENTRY = {
    ("codecortex.__main__", "codecortex.cli.main"),
    ("codecortex.cli.serve", "codecortex.lsp.setup"),
}


def _modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


MODULES = _modules()


def _known(name: str) -> str | None:
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def _imports(name: str) -> set[str]:
    path = MODULES[name]
    tree = ast.parse(path.read_text(encoding="utf-8"))
    annotations_only = {
        id(sub)
        for node in ast.walk(tree)
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
        for sub in ast.walk(node)
    }
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in annotations_only:
            continue
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parts, *([node.module] if node.module else [])])
            # `from a import b` runs a (its __init__) and, when b is a module, a.b
            targets = [base, *(f"{base}.{alias.name}" for alias in node.names)]
        else:
            continue
        for target in targets:
            known = _known(target) if target.startswith("codecortex") else None
            if known and known != name:
                out.add(known)
    return out


GRAPH = {name: _imports(name) for name in MODULES}


def _layer(name: str) -> tuple[str, int]:
    top = name.split(".")[1] if "." in name else name
    return top, -1 if name in FOUNDATION else LAYERS.get(top, 1)


def test_imports_only_go_down_and_lsp_never_reaches_store() -> None:
    upward = []
    for name, targets in GRAPH.items():
        top, rank = _layer(name)
        for target in targets:
            if (name, target) in ENTRY:
                continue
            target_top, target_rank = _layer(target)
            if target_rank > rank or (target_rank == rank == 3 and target_top != top):
                upward.append(f"{name} -> {target}")
            if top == "lsp" and target_top == "store":
                upward.append(f"{name} -> {target} (lsp/ calls the session)")
    assert upward == []


def test_no_import_cycles() -> None:
    cycles: list[list[str]] = []
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(name: str, path: list[str]) -> None:
        state[name] = 1
        for target in sorted(GRAPH[name]):
            if state.get(target) == 1:
                cycles.append([*path[path.index(target) :], target])
            elif target not in state:
                visit(target, [*path, target])
        state[name] = 2

    for name in sorted(GRAPH):
        if name not in state:
            visit(name, [name])
    assert [" -> ".join(c) for c in cycles] == []


def test_the_checks_see_the_imports() -> None:
    # the graph is the real one: the server imports the session, the session the memory
    assert "codecortex.session.service" in GRAPH["codecortex.lsp.server"]
    assert "codecortex.memory.problem_memory" in GRAPH["codecortex.session.service"]
