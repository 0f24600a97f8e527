"""Problem signatures: a diagnostic reduced to tool + code + message template.

Two occurrences of the same problem with different names (``'os' imported but unused`` and
``'sys' imported but unused``) get the same :attr:`Signature.key`; the variable parts are kept as
typed placeholders (:class:`Placeholder`) so that a fix learned for one occurrence can be replayed
on another (:func:`map_values`).

Placeholder kinds are decided by the *context* of a value (the words around it: "of type",
"module", "file", "is not defined", ...), never by the value itself, so the key does not change
when the value changes from ``"int"`` to ``"Literal['a']"``. Values found by their own shape
(unquoted numbers, paths, line/column references, ``name()`` calls, operators) are placeholders
wherever they appear.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Mapping, Set
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from codecortex.limits import MAX_DIAGNOSTIC_MESSAGE, clip
from codecortex.llm.redaction import scrub

KINDS = ("name", "type", "module", "path", "number", "quoted", "location", "operator")

PROBLEM_TYPES = (
    "error",
    "feature_building",
    "refactoring",
    "debugging",
    "learning",
    "integration",
    "performance",
    "security",
)

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

_SECURITY_WORDS = re.compile(
    r"\b(?:security|insecure|unsafe|injection|password|secret|credential|token|vulnerab|"
    r"xss|csrf|shell=True|pickle|eval)\w*",
    re.I,
)
_PERF_WORDS = re.compile(
    r"\b(?:performance|inefficient|unnecessary (?:copy|clone|allocation))", re.I
)
_INTEGRATION_WORDS = re.compile(
    r"(?:cannot find module|could not be resolved|no module named|cannot import|"
    r"library stub|unresolved import|can't find crate|cannot find implementation|"
    r"no such file or directory|failed to resolve|import .* could not|missing module)",
    re.I,
)
_FEATURE_WORDS = re.compile(
    r"(?:not implemented|notimplemented|todo|fixme|not all trait items|incorrectly implements|"
    r"missing (?:the )?following properties|abstract (?:method|class))",
    re.I,
)
_DEPRECATED = re.compile(r"deprecat", re.I)
_STYLE_WORDS = re.compile(
    r"\b(?:unused|never (?:used|read|reassigned)|imported but unused|redefinition|"
    r"complexity|too many|docstring|camel ?case|lowercase|naming|should be|"
    r"unnecessary|redundant|simplif|prefer|style|format|sorted|whitespace|blank line|"
    r"line too long|shadow|unreachable|ambiguous|does not need to be mutable|"
    r"is assigned to but never|empty block|useless)",
    re.I,
)
_INTEGRATION_EXC = {
    "ModuleNotFoundError",
    "ImportError",
    "ConnectionError",
    "ConnectionRefusedError",
    "ConnectionResetError",
    "TimeoutError",
    "HTTPError",
    "URLError",
    "SSLError",
    "OperationalError",
}
_RUFF_REFACTOR_PREFIXES = (
    "E",
    "W",
    "I",
    "N",
    "D",
    "UP",
    "SIM",
    "C4",
    "C9",
    "RET",
    "ANN",
    "PL",
    "ARG",
    "ERA",
    "F",
    "B",
    "RUF",
    "PIE",
    "Q",
    "COM",
    "T20",
    "EM",
    "TRY",
    "PT",
    "RSE",
    "SLF",
    "TID",
    "TC",
    "PTH",
    "FBT",
    "ICN",
    "ISC",
    "G",
    "INP",
    "CPY",
    "FURB",
    "LOG",
    "A",
    "DTZ",
    "FLY",
    "NPY",
    "PD",
    "PGH",
)
_RUFF_ERROR_CODES = {
    "F821",
    "F822",
    "F823",
    "F632",
    "F701",
    "F702",
    "F704",
    "F706",
    "F811",
    "E999",
    "F404",
    "F406",
    "F407",
    "F501",
    "F502",
    "F503",
    "F506",
    "F507",
    "F508",
    "F509",
    "F521",
    "F522",
    "F523",
    "F524",
    "F525",
    "PLE",
}
_TS_INTEGRATION = {"2307", "2792", "7016", "2305", "2306", "2688", "2724"}
_TS_REFACTOR = {
    "6133",
    "6138",
    "6192",
    "6196",
    "6198",
    "6199",
    "6205",
    "7027",
    "7028",
    "7029",
    "7030",
}
_TS_LEARNING = {"6385", "6387", "80001", "80002", "80003", "80004", "80005", "80006", "80007"}
_RUST_INTEGRATION = {"E0432", "E0433", "E0463", "E0583", "E0412"}
_ESLINT_SECURITY = ("no-eval", "no-implied-eval", "no-new-func", "no-script-url", "security/")
# eslint rules that are errors, not lints (the rest of eslint's rules are refactoring)
_ESLINT_ERRORS = frozenset(
    {
        "no-undef",
        "no-dupe-keys",
        "no-redeclare",
        "no-const-assign",
        "no-func-assign",
        "no-import-assign",
        "getter-return",
    }
)
_ESLINT_INTEGRATION = (
    "import/no-unresolved",
    "n/no-missing-import",
    "node/no-missing-import",
    "import/named",
    "n/no-missing-require",
)
_CLIPPY_PERFORMANCE = frozenset(
    {
        "clippy::redundant_clone",
        "clippy::large_enum_variant",
        "clippy::box_collection",
        "clippy::vec_box",
        "clippy::inefficient_to_string",
        "clippy::manual_memcpy",
        "clippy::needless_collect",
        "clippy::expect_fun_call",
        "clippy::or_fun_call",
        "clippy::slow_vector_initialization",
        "clippy::unnecessary_to_owned",
    }
)


@dataclass(frozen=True, slots=True)
class _Codes:
    """Which of one tool's codes have a problem type: every code, the listed ones, those with one
    of the prefixes or matching the pattern; never the excluded ones, and only at a severity
    below `below_severity` when that is set. `lower`: compare the lower-cased code."""

    every: bool = False
    exact: Set[str] = frozenset()
    prefixes: tuple[str, ...] = ()
    pattern: re.Pattern[str] | None = None
    exclude: Set[str] = frozenset()
    below_severity: int | None = None
    lower: bool = False

    def match(self, code: str, severity: int) -> bool:
        if self.below_severity is not None and severity >= self.below_severity:
            return False
        c = code.lower() if self.lower else code
        if c in self.exclude:
            return False
        return (
            self.every
            or c in self.exact
            or c.startswith(self.prefixes)
            or (self.pattern is not None and self.pattern.fullmatch(c) is not None)
        )


def _no_text_rule(tool: str, lcode: str, text: str, severity: int) -> bool:
    return False


@dataclass(frozen=True, slots=True)
class _Stage:
    """One problem type: the codes of the tools that have it, and a test for any tool's
    diagnostic (tool, lower-cased code, message template, severity)."""

    type: str
    codes: Mapping[str, _Codes]
    any_tool: Callable[[str, str, str, int], bool] = _no_text_rule


def _codes(*codes: str) -> _Codes:
    return _Codes(exact=frozenset(codes))


# The first stage that claims a diagnostic gives its type; then severity decides.
_STAGES = (
    _Stage(
        "security",
        {
            "bandit": _Codes(every=True),
            "ruff": _Codes(pattern=re.compile(r"S\d+")),
            "eslint": _Codes(prefixes=_ESLINT_SECURITY, lower=True),
            "gcc": _codes("-Wformat-security", "-Wstringop-overflow"),
        },
        lambda tool, lcode, text, sev: "security" in lcode or lcode.startswith(("cwe", "sec")),
    ),
    _Stage(
        "performance",
        {"ruff": _Codes(prefixes=("PERF",)), "rustc": _Codes(exact=_CLIPPY_PERFORMANCE)},
        lambda tool, lcode, text, sev: (
            "performance" in lcode or lcode.startswith("perf") or bool(_PERF_WORDS.search(text))
        ),
    ),
    # imports, modules, packages, I/O with the outside world
    _Stage(
        "integration",
        {
            "python": _Codes(exact=_INTEGRATION_EXC),
            "mypy": _codes("import-not-found", "import-untyped", "import"),
            "pyright": _codes("reportMissingImports", "reportMissingModuleSource"),
            "tsc": _Codes(exact=_TS_INTEGRATION),
            "rustc": _Codes(exact=_RUST_INTEGRATION),
            "eslint": _Codes(prefixes=_ESLINT_INTEGRATION, lower=True),
        },
        lambda tool, lcode, text, sev: (
            tool not in ("ruff", "pyflakes") and bool(_INTEGRATION_WORDS.search(text))
        ),
    ),
    # unfinished code
    _Stage(
        "feature_building",
        {
            "python": _codes("NotImplementedError"),
            "ruff": _Codes(prefixes=("FIX", "TD")),
            "rustc": _codes("E0046", "E0004"),
            "tsc": _codes("2420", "2739", "2740", "2515", "2654"),
        },
        lambda tool, lcode, text, sev: bool(_FEATURE_WORDS.search(text)) and tool != "python",
    ),
    # runtime failures
    _Stage("debugging", {"python": _Codes(every=True)}),
    # deprecations and API-usage notes
    _Stage(
        "learning",
        {
            "ruff": _Codes(prefixes=("UP035",)),
            "tsc": _Codes(exact=_TS_LEARNING),
            "pyright": _codes("reportDeprecated"),
        },
        lambda tool, lcode, text, sev: bool(_DEPRECATED.search(text)),
    ),
    _Stage(
        "error",
        {
            "ruff": _Codes(exact=_RUFF_ERROR_CODES, prefixes=("PLE",)),
            "eslint": _Codes(every=True, exclude=_ESLINT_ERRORS, below_severity=1),
        },
    ),
    # style, unused, complexity, lints
    _Stage(
        "refactoring",
        {
            "ruff": _Codes(prefixes=_RUFF_REFACTOR_PREFIXES),
            "rustc": _Codes(prefixes=("clippy::", "unused", "dead_code")),
            "gcc": _Codes(prefixes=("-Wunused",)),
            "tsc": _Codes(exact=_TS_REFACTOR),
            "eslint": _Codes(every=True, exclude=_ESLINT_ERRORS),
        },
        lambda tool, lcode, text, sev: (
            (tool in ("pylint", "flake8", "pycodestyle") or bool(_STYLE_WORDS.search(text)))
            and not (tool in ("mypy", "pyright", "tsc", "rustc") and sev == 1)
        ),
    ),
)


def classify_problem_type(sig: Signature, severity: int = 1) -> str:
    """One of PROBLEM_TYPES for a signature (severity is LSP's: 1 error ... 4 hint)."""
    tool, code, text = sig.tool, sig.code, sig.template
    lcode = code.lower()
    for stage in _STAGES:
        codes = stage.codes.get(tool)
        if (codes is not None and codes.match(code, severity)) or stage.any_tool(
            tool, lcode, text, severity
        ):
            return stage.type
    if severity >= 3:
        return "learning"
    if severity == 2 and tool in ("gcc", "clang", "rustc"):
        return "refactoring"
    return "error"


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
