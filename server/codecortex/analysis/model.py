"""Plain data types produced by the analysis engine (no tree-sitter objects cross this boundary).

Lines and columns are 0-based, like LSP and `codecortex.diagnostics`. Every type has `to_json()`
(a dict of JSON-safe values, for JSONB columns and the CLI) and, where the engine needs to read
it back, `from_json()`.

Over 400 lines: eight small data types with their JSON forms, one responsibility.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from codecortex.diagnostics import Range, TextEdit

SYMBOL_KINDS = ("function", "class", "method", "interface")
INSIGHT_TYPES = (
    "refactor",
    "documentation",
    "security_issue",
    "performance",
    "architecture",
    "readme_quality",
    "stale_dep",
)
SEVERITIES = ("info", "warning", "critical")
PRIORITY_CATEGORIES = ("immediate", "this_sprint", "backlog", "nice_to_have")
EFFORTS = ("minutes", "hours", "days", "weeks")
IMPACTS = ("critical", "high", "medium", "low")
RELATIONSHIP_TYPES = ("imports", "extends", "calls")


@dataclass(slots=True)
class SymbolInfo:
    """A function, method, class or interface defined in a file.

    The definition spans `start_line:start_character` to `end_line:end_character` (0-based, end
    exclusive like LSP); `range` builds the corresponding `Range`.
    """

    kind: str
    name: str
    qualified_name: str
    parent: str | None
    start_line: int
    start_character: int
    end_line: int
    end_character: int
    params: int = 0
    complexity: int = 1
    max_nesting: int = 0
    line_count: int = 1
    has_doc: bool = False
    is_public: bool = True
    bases: list[str] = field(default_factory=list)

    @property
    def range(self) -> Range:
        return Range.of(self.start_line, self.start_character, self.end_line, self.end_character)

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        # a flat tuple: tens of thousands of symbols cross the worker-process boundary
        return (
            SymbolInfo,
            (
                self.kind,
                self.name,
                self.qualified_name,
                self.parent,
                self.start_line,
                self.start_character,
                self.end_line,
                self.end_character,
                self.params,
                self.complexity,
                self.max_nesting,
                self.line_count,
                self.has_doc,
                self.is_public,
                self.bases,
            ),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "name": self.name,
            "qualified_name": self.qualified_name,
            "parent": self.parent,
            "range": self.range.to_json(),
            "params": self.params,
            "complexity": self.complexity,
            "max_nesting": self.max_nesting,
            "line_count": self.line_count,
            "has_doc": self.has_doc,
            "is_public": self.is_public,
            "bases": list(self.bases),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SymbolInfo:
        s, e = data["range"]["start"], data["range"]["end"]
        return cls(
            kind=data["kind"],
            name=data["name"],
            qualified_name=data["qualified_name"],
            parent=data.get("parent"),
            start_line=int(s["line"]),
            start_character=int(s["character"]),
            end_line=int(e["line"]),
            end_character=int(e["character"]),
            params=int(data.get("params", 0)),
            complexity=int(data.get("complexity", 1)),
            max_nesting=int(data.get("max_nesting", 0)),
            line_count=int(data.get("line_count", 1)),
            has_doc=bool(data.get("has_doc", False)),
            is_public=bool(data.get("is_public", True)),
            bases=list(data.get("bases", [])),
        )


@dataclass(slots=True)
class ImportInfo:
    """One import as written: `module` is the source text ("os.path", "..pkg.mod", "./util", "fmt").

    `names` are the imported names (for `from m import a, b` / `import {a} from "m"`), `alias` the
    local name bound to the module itself (`import numpy as np` -> "np"), `bindings` every local
    name the statement binds (aliases applied). `local` marks imports
    inside a function body and `type_only` those under `if TYPE_CHECKING:` / `import type`; both
    are ignored when looking for import cycles.
    """

    module: str
    names: list[str] = field(default_factory=list)
    line: int = 0
    alias: str | None = None
    kind: str = "import"
    local: bool = False
    type_only: bool = False
    bindings: list[str] = field(default_factory=list)

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        # a flat tuple (the dataclass's own state protocol runs Python code per field)
        return (
            ImportInfo,
            (
                self.module,
                self.names,
                self.line,
                self.alias,
                self.kind,
                self.local,
                self.type_only,
                self.bindings,
            ),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "module": self.module,
            "names": list(self.names),
            "line": self.line,
            "alias": self.alias,
            "bindings": list(self.bindings),
            "kind": self.kind,
            "local": self.local,
            "type_only": self.type_only,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ImportInfo:
        return cls(
            module=data["module"],
            names=list(data.get("names", [])),
            line=int(data.get("line", 0)),
            alias=data.get("alias"),
            kind=data.get("kind", "import"),
            local=bool(data.get("local", False)),
            type_only=bool(data.get("type_only", False)),
            bindings=list(data.get("bindings", [])),
        )


@dataclass(slots=True)
class CallRef:
    """A call whose callee is syntactically clear: `name(...)` or `receiver.name(...)`."""

    name: str
    line: int
    receiver: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "line": self.line, "receiver": self.receiver}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CallRef:
        return cls(data["name"], int(data.get("line", 0)), data.get("receiver"))


@dataclass(slots=True)
class FileAnalysis:
    """Everything the quick phase learns about one source file."""

    path: str
    language: str
    line_count: int
    sha256: str
    is_test: bool = False
    symbols: list[SymbolInfo] = field(default_factory=list)
    imports: list[ImportInfo] = field(default_factory=list)
    exports: list[str] = field(default_factory=list)
    calls: list[CallRef] = field(default_factory=list)
    doc_coverage: float = 1.0
    top_level_definitions: int = 0
    size_bytes: int = 0
    has_syntax_errors: bool = False
    # The parsed tree, kept only inside the process that parsed it so that the file rules do not
    # parse again. Never serialised or pickled.
    tree: Any = field(default=None, repr=False, compare=False)
    # nodes of the structure query the file rules reuse (`rule.*` captures); same lifetime as tree
    rule_nodes: Any = field(default=None, repr=False, compare=False)

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        # every field but the tree and its nodes, as a flat tuple: each file's analysis crosses
        # the worker-process boundary
        return (
            FileAnalysis,
            (
                self.path,
                self.language,
                self.line_count,
                self.sha256,
                self.is_test,
                self.symbols,
                self.imports,
                self.exports,
                self.calls,
                self.doc_coverage,
                self.top_level_definitions,
                self.size_bytes,
                self.has_syntax_errors,
            ),
        )

    def __getstate__(self) -> dict[str, Any]:
        state = {name: getattr(self, name) for name in self.__slots__}
        state["tree"] = None
        state["rule_nodes"] = None
        return state

    def drop_tree(self) -> None:
        """Forget the parse tree and captured nodes (they are only valid in this process)."""
        self.tree = None
        self.rule_nodes = None

    def __setstate__(self, state: dict[str, Any]) -> None:
        for name, value in state.items():
            object.__setattr__(self, name, value)

    @property
    def file_type(self) -> str:
        """`codecortex_items.file_type`: "test" or "source"."""
        return "test" if self.is_test else "source"

    @property
    def max_complexity(self) -> int:
        return max((s.complexity for s in self.symbols), default=0)

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "language": self.language,
            "line_count": self.line_count,
            "sha256": self.sha256,
            "is_test": self.is_test,
            "symbols": [s.to_json() for s in self.symbols],
            "imports": [i.to_json() for i in self.imports],
            "exports": list(self.exports),
            "calls": [c.to_json() for c in self.calls],
            "doc_coverage": self.doc_coverage,
            "top_level_definitions": self.top_level_definitions,
            "size_bytes": self.size_bytes,
            "has_syntax_errors": self.has_syntax_errors,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> FileAnalysis:
        return cls(
            path=data["path"],
            language=data["language"],
            line_count=int(data["line_count"]),
            sha256=data["sha256"],
            is_test=bool(data.get("is_test", False)),
            symbols=[SymbolInfo.from_json(s) for s in data.get("symbols", [])],
            imports=[ImportInfo.from_json(i) for i in data.get("imports", [])],
            exports=list(data.get("exports", [])),
            calls=[CallRef.from_json(c) for c in data.get("calls", [])],
            doc_coverage=float(data.get("doc_coverage", 1.0)),
            top_level_definitions=int(data.get("top_level_definitions", 0)),
            size_bytes=int(data.get("size_bytes", 0)),
            has_syntax_errors=bool(data.get("has_syntax_errors", False)),
        )


@dataclass(frozen=True, slots=True)
class Relationship:
    """An edge between two workspace files (`code_relationships`)."""

    source_file: str
    target_file: str
    type: str
    metadata: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)
    confidence: float = 1.0

    def to_json(self) -> dict[str, Any]:
        return {
            "source_file": self.source_file,
            "target_file": self.target_file,
            "type": self.type,
            "metadata": dict(self.metadata),
            "confidence": self.confidence,
        }


@dataclass(slots=True)
class Priority:
    """`insight_priorities`: how urgent an insight is and how cheap to act on."""

    score: float
    category: str
    effort: str
    impact: str
    actionability: float
    factors: dict[str, Any] = field(default_factory=dict)

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        return (
            Priority,
            (self.score, self.category, self.effort, self.impact, self.actionability, self.factors),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "score": self.score,
            "category": self.category,
            "effort": self.effort,
            "impact": self.impact,
            "actionability": self.actionability,
            "factors": dict(self.factors),
        }


@dataclass(slots=True)
class Insight:
    """One finding (`code_insights` + `insight_priorities`).

    `fingerprint` identifies the finding across edits: rule id, file, enclosing symbol path and the
    normalised offending snippet (never line numbers). `fix`, when present, is a list of edits that
    resolves the finding mechanically.
    """

    type: str
    rule: str
    title: str
    summary: str
    detail: dict[str, Any]
    file: str
    range: Range
    severity: str
    confidence: float
    fingerprint: str
    priority: Priority
    symbol: str | None = None
    fix: list[TextEdit] | None = None

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        return (
            Insight,
            (
                self.type,
                self.rule,
                self.title,
                self.summary,
                self.detail,
                self.file,
                self.range,
                self.severity,
                self.confidence,
                self.fingerprint,
                self.priority,
                self.symbol,
                self.fix,
            ),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "rule": self.rule,
            "title": self.title,
            "summary": self.summary,
            "detail": self.detail,
            "file": self.file,
            "range": self.range.to_json(),
            "severity": self.severity,
            "confidence": self.confidence,
            "fingerprint": self.fingerprint,
            "priority": self.priority.to_json(),
            "symbol": self.symbol,
            "fix": (
                [{"range": e.range.to_json(), "new_text": e.new_text} for e in self.fix]
                if self.fix
                else None
            ),
        }
