"""Problem signatures: a diagnostic reduced to tool + code + message template.

Two occurrences of the same problem with different names (``'os' imported but unused`` and
``'sys' imported but unused``) get the same :attr:`Signature.key`; the variable parts are kept as
typed placeholders (:class:`Placeholder`) so that a fix learned for one occurrence can be replayed
on another (:func:`map_values`). Over 400 lines: the message grammar (the typed spans and their
regular expressions) is one table read by one templating pass.

Placeholder kinds are decided by the *context* of a value (the words around it: "of type",
"module", "file", "is not defined", ...), never by the value itself, so the key does not change
when the value changes from ``"int"`` to ``"Literal['a']"``. Values found by their own shape
(unquoted numbers, paths, line/column references, ``name()`` calls, operators) are placeholders
wherever they appear.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from codecortex.limits import MAX_DIAGNOSTIC_MESSAGE, clip
from codecortex.llm.redaction import scrub
from codecortex.memory.problem_types import PROBLEM_TYPES as PROBLEM_TYPES  # re-exported
from codecortex.memory.problem_types import problem_type

KINDS = ("name", "type", "module", "path", "number", "quoted", "location", "operator")


_MAX_KEY = 240


@dataclass(frozen=True, slots=True)
class Placeholder:
    kind: str
    value: str

    def to_json(self) -> dict[str, str]:
        return {"kind": self.kind, "value": self.value}


@dataclass(frozen=True, slots=True)
class Signature:
    tool: str
    code: str
    template: str
    values: tuple[Placeholder, ...]
    key: str

    @property
    def digest(self) -> str:
        return hashlib.sha1(self.key.encode("utf-8")).hexdigest()

    def to_json(self) -> dict[str, Any]:
        return {
            "tool": self.tool,
            "code": self.code,
            "template": self.template,
            "values": [v.to_json() for v in self.values],
            "key": self.key,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Signature:
        return cls(
            tool=str(data["tool"]),
            code=str(data["code"]),
            template=str(data["template"]),
            values=tuple(Placeholder(str(v["kind"]), str(v["value"])) for v in data["values"]),
            key=str(data["key"]),
        )


# --------------------------------------------------------------------------- tool names

_TOOL_ALIASES: dict[str, str] = {
    "ruff": "ruff",
    "ruff-lsp": "ruff",
    "ruff_lsp": "ruff",
    "pyflakes": "pyflakes",
    "pylsp.pyflakes": "pyflakes",
    "mypy": "mypy",
    "mypy-type-checker": "mypy",
    "dmypy": "mypy",
    "pylance": "pyright",
    "pyright": "pyright",
    "basedpyright": "pyright",
    "ts": "tsc",
    "tsc": "tsc",
    "typescript": "tsc",
    "tsserver": "tsc",
    "typescript-language-server": "tsc",
    "vtsls": "tsc",
    "ts-plugin": "tsc",
    "eslint": "eslint",
    "eslint_d": "eslint",
    "rustc": "rustc",
    "rust-analyzer": "rustc",
    "rust_analyzer": "rustc",
    "clippy": "rustc",
    "cargo": "rustc",
    "cargo-check": "rustc",
    "gcc": "gcc",
    "g++": "gcc",
    "cc": "gcc",
    "clang": "clang",
    "clang++": "clang",
    "clangd": "clang",
    "clang-tidy": "clang-tidy",
    "python": "python",
    "python3": "python",
    "traceback": "python",
    "bandit": "bandit",
    "pylint": "pylint",
    "flake8": "flake8",
    "pycodestyle": "pycodestyle",
    "gopls": "go",
    "go": "go",
    "compiler": "go",
    "staticcheck": "staticcheck",
    "javac": "javac",
    "jdtls": "javac",
    "java": "javac",
}


def normalise_tool(source: str, language: str | None = None) -> str:
    """Canonical tool name for an editor's diagnostic source ("Pylance" -> "pyright")."""
    s = (source or "").strip().lower()
    if s in _TOOL_ALIASES:
        return _TOOL_ALIASES[s]
    s = re.sub(r"\s+", "-", s)
    if s in _TOOL_ALIASES:
        return _TOOL_ALIASES[s]
    if not s and language:
        return (language or "").strip().lower() or "unknown"
    return s or "unknown"


def normalise_code(tool: str, code: Any) -> str:
    """Rule/error code as a plain string: TS2304 -> "2304", "[-Wunused]" -> "-Wunused"."""
    if code is None:
        return ""
    if isinstance(code, dict):  # LSP clients sometimes send {value, target}
        code = code.get("value", "")
    c = str(code).strip().strip("[]()").strip()
    if tool == "tsc":
        m = re.fullmatch(r"(?i)ts(\d+)", c)
        if m:
            c = m.group(1)
    return c


# --------------------------------------------------------------------------- templating

_EXC_PREFIX = re.compile(
    r"^((?:[A-Za-z_]\w*\.)*([A-Z]\w*(?:Error|Exception|Warning|Exit|Interrupt)))(?::\s*(.*))?$",
    re.S,
)
_TRAILING_CODE = re.compile(r"\s+\[([\w.:=-]+)\]\s*$")
_DID_YOU_MEAN = re.compile(r"\s*\(?\b(?:did you mean|perhaps you meant)\b[:\s][^?]*\?\)?\s*$", re.I)

_SPAN = re.compile(
    r"""
      `(?P<bt>[^`]*)`
    | "(?P<dq>[^"\n]*)"
    | “(?P<cdq>[^”]*)”
    | ‘(?P<csq>[^’]*)’
    | (?<![\w'])'(?P<sq>[^'\n]*?)'(?!\w)
    | (?P<loc>\b(?:line|ln)\s+\d+(?:(?:,\s*|\s+)(?:column|col|character|char)\s+\d+)?
        | (?<![\w/.\\-])[\w./\\-]*\w\.\w+:\d+(?::\d+)?\b)
    | (?P<path>(?<![\w.\\/-])(?:[A-Za-z]:)?(?:[\\/][\w.@+~-]+){2,}[\\/]?
        | (?<![\w.\\/-])\.{1,2}/[\w.@+~/-]+
        | (?<![\w.\\/-])[\w.-]+(?:/[\w.@+-]+)+\.[A-Za-z]\w{0,4}\b)
    | (?<=for\ )(?P<op>[-+*/%@&|^<>=!~]{1,3})(?=[:\s])
    | (?P<call>\b[A-Za-z_]\w*)\(\)
    | (?P<hex>\b0x[0-9a-fA-F]+\b)
    | (?<![\w.])(?P<num>\d+(?:\.\d+)?)(?![\w]|\.\d)
    """,
    re.X,
)

# Context rules: (regex on the template text *before* the value, kind) and (regex on the
# literal text right *after* it, kind). First match wins; before-rules are tried first.
_BEFORE: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"\boperator\s*$", re.I), "operator"),
    (re.compile(r"\b(?:file|directory|path|folder)[\s:]*$", re.I), "path"),
    (
        re.compile(
            r"\b(?:module(?:\s+named)?|import|imports|package|crate|library|from|"
            r"stub for module named)[\s:]*$",
            re.I,
        ),
        "module",
    ),
    (
        re.compile(
            r"\b(?:type|types|class|struct|enum|trait|interface|union|got|expected|"
            r"instance of|assignable to|subtype of|of|for)\s*\(?$",
            re.I,
        ),
        "type",
    ),
    (
        re.compile(
            r"\b(?:name|names|variable|function|method|parameter|argument|attribute|property|"
            r"identifier|key|field|member|value|label|named|declaration|definition|unused|"
            r"assigned to|macro|constant|symbol|lifetime|item|to)[\s:]*$",
            re.I,
        ),
        "name",
    ),
]
_AFTER: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"^\s*imported\b", re.I), "module"),
    (
        re.compile(
            r"^\s*(?:object\b|is not assignable|is incompatible|is not a subtype|"
            r"has no attribute|is not callable|is not iterable)",
            re.I,
        ),
        "type",
    ),
    (
        re.compile(
            r"^\s*(?:is not defined|is declared|is assigned|is never|is already|is possibly|"
            r"may be undefined|undeclared|is defined|is not a known|is unbound|"
            r"is used|is unused|has too many|has a complexity|should be|is not in camel)",
            re.I,
        ),
        "name",
    ),
]

_SINGULAR_SKIP = re.compile(r"(?:ss|us|is|ous)$")


def _kind_for(before: str, after: str) -> str:
    for rx, kind in _BEFORE:
        if rx.search(before):
            return kind
    for rx, kind in _AFTER:
        if rx.search(after):
            return kind
    return "quoted"


def _normalise_number_words(text: str) -> str:
    """'2 arguments were' -> '2 argument was' so singular/plural messages share a template."""

    def fix(m: re.Match[str]) -> str:
        words = m.group(2).split(" ")
        out = []
        for w in words:
            lw = w.lower()
            if lw == "were":
                w = "was"
            elif lw == "are":
                w = "is"
            elif len(w) > 3 and lw.endswith("s") and not _SINGULAR_SKIP.search(lw):
                w = w[:-1]
            out.append(w)
        return m.group(1) + " ".join(out)

    return re.sub(r"(\{number\} )([A-Za-z]+(?: [A-Za-z]+)?)", fix, text)


# A language server's decoration after the message proper: ruff's server appends its fix title
# as "\n\nhelp: Replace with ...", which its command line puts elsewhere (`fix.message`).
_HELP_SUFFIX = re.compile(r"\n\s*\n\s*help:.*\Z", re.S | re.I)


def _prepare(tool: str, code: str, message: str) -> tuple[str, str]:
    msg = _HELP_SUFFIX.sub("", (message or "").strip()).strip()
    if tool == "python" or (not code and tool in ("unknown", "")):
        m = _EXC_PREFIX.match(msg)
        if m and (not code or code in (m.group(1), m.group(2))):
            code = m.group(2)
            msg = (m.group(3) or "").strip()
    if code:
        m = _TRAILING_CODE.search(msg)
        if m and m.group(1) == code:
            msg = msg[: m.start()]
    elif tool in ("mypy", "gcc", "clang"):
        m = _TRAILING_CODE.search(msg)
        if m:
            code = m.group(1)
            msg = msg[: m.start()]
    msg = " ".join(msg.split())  # newlines, NBSP, runs of spaces
    msg = _DID_YOU_MEAN.sub("", msg).strip()
    return code, msg


# An unquoted list of names ending the message after a colon, where the words before the colon
# say what they are ("... from star imports: os, sys", "... unused named argument(s): b").
_TAIL_LIST = re.compile(
    r"\b(?P<what>imports?|modules?|packages?|names?|arguments?|argument\(s\)|variables?|"
    r"attributes?|fields?|keys?|properties|members?|placeholders?|placeholder\(s\))"
    r":\s+(?P<list>[A-Za-z_][\w.]*(?:,\s*[A-Za-z_][\w.]*)*)\s*$",
    re.I,
)


def _spans(msg: str) -> list[tuple[int, int, str, str]]:
    """(start, end, group, value) of every variable part, in order."""
    out = [(m.start(), m.end(), m.lastgroup or "", m.group(0)) for m in _SPAN.finditer(msg)]
    tail = _TAIL_LIST.search(msg)
    if tail and not any(s < tail.end("list") and e > tail.start("list") for s, e, _, _ in out):
        what = tail.group("what").lower()
        kind = "module" if what.startswith(("import", "module", "package")) else "name"
        for item in re.finditer(r"[A-Za-z_][\w.]*", tail.group("list")):
            start = tail.start("list") + item.start()
            out.append((start, start + len(item.group(0)), "tail_" + kind, item.group(0)))
    return sorted(out)


def _templatise(msg: str) -> tuple[str, tuple[Placeholder, ...]]:
    spans = _spans(msg)
    parts: list[str] = []
    values: list[Placeholder] = []
    pos = 0
    for i, (start, end, group, raw) in enumerate(spans):
        parts.append(msg[pos:start])
        nxt = spans[i + 1][0] if i + 1 < len(spans) else len(msg)
        after = msg[end:nxt]
        before = "".join(parts)
        if group in ("bt", "dq", "cdq", "csq", "sq"):
            value = raw[1:-1]
            kind = _kind_for(before, after)
            parts.append(raw[0] + "{" + kind + "}" + raw[-1])
        elif group.startswith("tail_"):
            value, kind = raw, group[5:]
            parts.append("{" + kind + "}")
        elif group == "call":
            value, kind = raw[:-2], "name"
            parts.append("{name}()")
        elif group in ("hex", "num"):
            value, kind = raw, "number"
            parts.append("{number}")
        elif group == "op":
            value, kind = raw, "operator"
            parts.append("{operator}")
        else:  # loc, path
            value, kind = raw, group if group == "path" else "location"
            parts.append("{" + kind + "}")
        values.append(Placeholder(kind, value))
        pos = end
    parts.append(msg[pos:])
    template = _normalise_number_words("".join(parts))
    # Quote style is not part of the problem: 'x', "x", ‘x’ and `x` placeholders look alike.
    template = re.sub(r"[`\"“”‘’']\{(\w+)\}[`\"“”‘’']", r"'{\1}'", template)
    return template, tuple(values)


def compute_signature(
    source: str, code: str | int | None, message: str, language: str | None = None
) -> Signature:
    """Signature of one diagnostic: canonical tool, code, message template and values.
    Remembered for recent messages (a document's diagnostics come again on every edit).
    Clipped first (the regexes below are not linear, and a remembered key stays small)."""
    message = clip(message or "", MAX_DIAGNOSTIC_MESSAGE)
    if code is None or isinstance(code, (str, int)):
        return _remembered_signature(source, code, message, language)
    return _signature(source, code, message, language)  # {value, target} and other forms


@lru_cache(maxsize=4096)
def _remembered_signature(
    source: str, code: str | int | None, message: str, language: str | None
) -> Signature:
    return _signature(source, code, message, language)


def _signature(
    source: str, code: str | int | None, message: str, language: str | None
) -> Signature:
    # Without secrets (a signature is stored and shared: a token quoted in a message must not
    # become part of it).
    message = scrub(message)
    tool = normalise_tool(source, language)
    code_s = normalise_code(tool, code)
    if tool == "unknown" and not code_s and _EXC_PREFIX.match((message or "").strip()):
        tool = "python"
    code_s, msg = _prepare(tool, code_s, message)
    template, values = _templatise(msg)
    key = f"{tool}:{code_s}:{template}"
    if len(key) > _MAX_KEY:
        key = key[:200] + "…" + hashlib.sha1(key.encode("utf-8")).hexdigest()[:16]
    return Signature(tool=tool, code=code_s, template=template, values=values, key=key)


# --------------------------------------------------------------------------- problem types


def classify_problem_type(sig: Signature, severity: int = 1) -> str:
    """One of PROBLEM_TYPES for a signature (severity is LSP's: 1 error ... 4 hint)."""
    return problem_type(sig.tool, sig.code, sig.template, severity)


# --------------------------------------------------------------------------- replay support


def map_values(old: Signature, new: Signature) -> dict[str, str]:
    """Old placeholder value -> new value, position by position, for two occurrences of the same
    problem (equal keys). Location placeholders are left out (line numbers are not code) and so
    is any old value that would map to two different new values. Empty when the keys differ."""
    if old.key != new.key or len(old.values) != len(new.values):
        return {}
    mapping: dict[str, str] = {}
    conflicts: set[str] = set()
    for a, b in zip(old.values, new.values, strict=True):
        if a.kind == "location" or a.kind != b.kind:
            continue
        if a.value in mapping and mapping[a.value] != b.value:
            conflicts.add(a.value)
        mapping.setdefault(a.value, b.value)
    for c in conflicts:
        mapping.pop(c, None)
    return mapping
