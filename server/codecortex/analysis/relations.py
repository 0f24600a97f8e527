"""Resolve imports, class bases and calls to workspace files (`code_relationships` rows).

Python: dotted and relative imports against the package layout (directories with __init__.py; a
top-level directory without one is a source root, like `src/`), with a unique-suffix fallback for
namespace packages. JS/TS: relative specifiers with extension and index resolution (also `.js`
written for a `.ts` file). Java: fully qualified imports and same-package classes. Go: packages of
the module named in go.mod. Rust: `mod x;` and `crate::` / `self::` / `super::` paths.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from codecortex.analysis.model import FileAnalysis, ImportInfo, Relationship

__all__ = ["ModuleIndex", "resolve_imports"]

_PY_EXT = (".py", ".pyi")
_JS_EXT = (".ts", ".tsx", ".d.ts", ".js", ".jsx", ".mjs", ".cjs", ".mts", ".cts")


def _py_module_path(path: str) -> str | None:
    for ext in _PY_EXT:
        if path.endswith(ext):
            return path[: -len(ext)]
    return None


class ModuleIndex:
    """Lookup tables over the set of workspace files, reusable across incremental updates."""

    def __init__(self, files: Iterable[str], root: Path | str | None = None) -> None:
        self.files: set[str] = set(files)
        self.root = Path(root) if root is not None else None
        self.py: dict[str, list[str]] = {}
        self.py_suffix: dict[str, list[str]] = {}
        self.java_suffix: dict[str, list[str]] = {}
        self.dir_files: dict[str, list[str]] = {}
        for f in sorted(self.files):
            self.dir_files.setdefault(posixpath.dirname(f), []).append(f)
            mod_path = _py_module_path(f)
            if mod_path is not None:
                parts = mod_path.split("/")
                if parts[-1] == "__init__":
                    parts = parts[:-1]
                    if not parts:
                        continue
                # walk up while the parent directory is a package
                n = len(parts) - 1
                while n > 0 and "/".join(parts[:n]) + "/__init__.py" in self.files:
                    n -= 1
                dotted = ".".join(parts[n:])
                self.py.setdefault(dotted, []).append(f)
                for i in range(len(parts) - 1):
                    self.py_suffix.setdefault(".".join(parts[i:]), []).append(f)
            elif f.endswith(".java"):
                parts = f.split("/")
                for i in range(len(parts)):
                    self.java_suffix.setdefault("/".join(parts[i:]), []).append(f)
        self.go_module: str | None = None
        if self.root is not None:
            gomod = self.root / "go.mod"
            if gomod.is_file():
                m = re.search(r"^module\s+(\S+)", gomod.read_text(errors="replace"), re.M)
                if m:
                    self.go_module = m.group(1)

    # ------------------------------------------------------------------ helpers

    @staticmethod
    def _closest(importer: str, candidates: list[str]) -> str:
        if len(candidates) == 1:
            return candidates[0]

        def shared(c: str) -> int:
            return len(posixpath.commonprefix([importer, c]))

        return sorted(candidates, key=lambda c: (-shared(c), len(c), c))[0]

    def _py_lookup(self, importer: str, dotted: str) -> str | None:
        found = self.py.get(dotted)
        if found:
            return self._closest(importer, found)
        found = self.py_suffix.get(dotted)
        if found and len(found) == 1:
            return found[0]
        return None

    def _py_path(self, base: str) -> str | None:
        for cand in (f"{base}.py", f"{base}/__init__.py", f"{base}.pyi", f"{base}/__init__.pyi"):
            if cand in self.files:
                return cand
        return None

    def _resolve_python(self, importer: str, imp: ImportInfo) -> list[tuple[str, list[str]]]:
        """[(target file, bindings that refer to it)]"""
        module = imp.module
        out: list[tuple[str, list[str]]] = []
        binding_of = dict(zip(imp.names, imp.bindings, strict=False))
        if module.startswith("."):
            level = len(module) - len(module.lstrip("."))
            rest = module[level:]
            base = posixpath.dirname(importer)
            for _ in range(level - 1):
                base = posixpath.dirname(base)
            pkg = f"{base}/{rest.replace('.', '/')}" if rest else base
            pkg = pkg.lstrip("/")
            target = self._py_path(pkg) if pkg else None
            rest_names: list[str] = []
            for name in imp.names:
                sub = self._py_path(f"{pkg}/{name}" if pkg else name)
                if sub is not None:
                    out.append((sub, [binding_of.get(name, name)]))
                else:
                    rest_names.append(binding_of.get(name, name))
            if target is not None and (rest_names or not out):
                out.append((target, rest_names))
            return out
        if imp.kind == "from":
            rest_names = []
            for name in imp.names:
                sub = self._py_lookup(importer, f"{module}.{name}") if name != "*" else None
                if sub is not None:
                    out.append((sub, [binding_of.get(name, name)]))
                else:
                    rest_names.append(binding_of.get(name, name))
            target = self._py_lookup(importer, module)
            if target is not None and (rest_names or not out):
                out.append((target, rest_names))
            return out
        parts = module.split(".")
        for n in range(len(parts), 0, -1):
            target = self._py_lookup(importer, ".".join(parts[:n]))
            if target is not None:
                bindings = [imp.alias] if imp.alias else []
                if not imp.alias and n == 1:
                    bindings = [parts[0]]
                return [(target, bindings)]
        return []

    def _resolve_js(self, importer: str, imp: ImportInfo) -> list[tuple[str, list[str]]]:
        spec = imp.module
        if not spec.startswith((".", "/")):
            return []
        base = posixpath.normpath(posixpath.join(posixpath.dirname(importer), spec))
        if spec.startswith("/"):
            base = spec.lstrip("/")
        base = base.lstrip("./") if base.startswith("./") else base
        candidates = [base]
        stem, ext = posixpath.splitext(base)
        if ext in (".js", ".jsx", ".mjs", ".cjs"):
            candidates += [stem + e for e in (".ts", ".tsx", ".mts", ".cts")]
        candidates += [base + e for e in _JS_EXT]
        candidates += [f"{base}/index{e}" for e in _JS_EXT]
        for c in candidates:
            if c in self.files:
                return [(c, list(imp.bindings))]
        return []

    def _resolve_java(self, importer: str, imp: ImportInfo) -> list[tuple[str, list[str]]]:
        if imp.names == ["*"]:
            pkg_dir = imp.module.replace(".", "/")
            return [
                (f, [posixpath.basename(f)[:-5]])
                for d, fs in self.dir_files.items()
                if d.endswith(pkg_dir)
                for f in fs
                if f.endswith(".java")
            ]
        path = imp.module.replace(".", "/") + ".java"
        found = self.java_suffix.get(path)
        if found:
            return [(self._closest(importer, found), list(imp.bindings))]
        return []

    def _resolve_go(self, importer: str, imp: ImportInfo) -> list[tuple[str, list[str]]]:
        mod = self.go_module
        if mod is None:
            return []
        if imp.module == mod:
            d = ""
        elif imp.module.startswith(mod + "/"):
            d = imp.module[len(mod) + 1 :]
        else:
            return []
        files = [
            f for f in self.dir_files.get(d, []) if f.endswith(".go") and not f.endswith("_test.go")
        ]
        return [(f, list(imp.bindings)) for f in files]

    def _rust_file(self, base: str) -> str | None:
        for cand in (f"{base}.rs", f"{base}/mod.rs"):
            if cand in self.files:
                return cand
        return None

    def _resolve_rust(self, importer: str, imp: ImportInfo) -> list[tuple[str, list[str]]]:
        d = posixpath.dirname(importer)
        stem = posixpath.basename(importer)[:-3]
        module_dir = d if stem in ("main", "lib", "mod") else posixpath.join(d, stem)
        if imp.kind == "mod":
            found = self._rust_file(posixpath.join(module_dir, imp.module).lstrip("/"))
            return [(found, list(imp.bindings))] if found else []
        parts = imp.module.split("::")
        if parts[0] == "crate":
            root = d
            while root and not any(f"{root}/{n}" in self.files for n in ("lib.rs", "main.rs")):
                root = posixpath.dirname(root)
            base, rest = root, parts[1:]
        elif parts[0] == "self":
            base, rest = module_dir, parts[1:]
        elif parts[0] == "super":
            base, rest = posixpath.dirname(module_dir), parts[1:]
        else:
            return []
        names = [n for n in imp.names if n not in ("*", "self")]
        for n in range(len(rest), -1, -1):
            sub = "/".join(rest[:n])
            path = posixpath.join(base, sub) if sub else base
            for name in names:
                found = self._rust_file(posixpath.join(path, name).lstrip("/"))
                if found and found != importer:
                    return [(found, list(imp.bindings))]
            if sub:
                found = self._rust_file(path.lstrip("/"))
                if found and found != importer:
                    return [(found, list(imp.bindings))]
        return []

    # ------------------------------------------------------------------ public

    def resolve_file(
        self, path: str, analysis: FileAnalysis, analyses: Mapping[str, FileAnalysis]
    ) -> list[Relationship]:
        """Relationships whose source is `path` (imports, extends, calls)."""
        lang = analysis.language
        if lang == "python":
            resolver = self._resolve_python
        elif lang in ("javascript", "typescript", "tsx"):
            resolver = self._resolve_js
        elif lang == "java":
            resolver = self._resolve_java
        elif lang == "go":
            resolver = self._resolve_go
        elif lang == "rust":
            resolver = self._resolve_rust
        else:
            return []
        edges: dict[str, dict[str, Any]] = {}
        bindings: dict[str, list[str]] = {}
        for imp in analysis.imports:
            for target, bound in resolver(path, imp):
                if target == path:
                    continue
                meta = edges.setdefault(
                    target,
                    {"modules": [], "names": [], "lines": [], "runtime": False},
                )
                if imp.module not in meta["modules"]:
                    meta["modules"].append(imp.module)
                meta["names"].extend(n for n in imp.names if n not in meta["names"])
                meta["lines"].append(imp.line)
                if not imp.local and not imp.type_only:
                    meta["runtime"] = True
                for bnd in bound:
                    bindings.setdefault(bnd, []).append(target)
        out = [Relationship(path, target, "imports", meta, 1.0) for target, meta in edges.items()]

        def pick(name: str, member: str | None) -> str | None:
            targets = bindings.get(name)
            if not targets:
                return None
            if len(targets) == 1 or member is None:
                return targets[0]
            for t in targets:  # Go package spread over files: the file defining `member`
                other = analyses.get(t)
                if other is not None and any(s.name == member for s in other.symbols):
                    return t
            return None

        extends: dict[str, dict[str, Any]] = {}
        for sym in analysis.symbols:
            for base in sym.bases:
                head, _, member = base.partition(".")
                base_target = pick(head, member or head)
                if base_target is None and lang == "java":
                    same_pkg = posixpath.join(posixpath.dirname(path), f"{head}.java")
                    if same_pkg in self.files:
                        base_target = same_pkg
                if base_target is None or base_target == path:
                    continue
                meta = extends.setdefault(base_target, {"classes": []})
                meta["classes"].append({"class": sym.qualified_name, "base": base})
        out += [Relationship(path, t, "extends", m, 0.9) for t, m in extends.items()]

        calls: dict[str, dict[str, Any]] = {}
        for call in analysis.calls:
            key = call.receiver or call.name
            call_target = pick(key, call.name if call.receiver else None)
            if call_target is None or call_target == path:
                continue
            meta = calls.setdefault(call_target, {"symbols": [], "lines": []})
            label = f"{call.receiver}.{call.name}" if call.receiver else call.name
            if label not in meta["symbols"] and len(meta["symbols"]) < 50:
                meta["symbols"].append(label)
                meta["lines"].append(call.line)
        out += [Relationship(path, t, "calls", m, 0.8) for t, m in calls.items()]
        return out


def resolve_imports(
    analyses: Mapping[str, FileAnalysis], root: Path | str | None = None
) -> list[Relationship]:
    """Relationships between workspace files; keys of `analyses` are root-relative POSIX paths."""
    index = ModuleIndex(analyses.keys(), root)
    out: list[Relationship] = []
    for path in sorted(analyses):
        out += index.resolve_file(path, analyses[path], analyses)
    return out
