"""Problem types: what kind of work a diagnostic is (error, refactoring, security, ...), decided by
ordered stages: the first stage whose codes of the diagnostic's tool, or whose test for any
tool's message, claim it gives the type; else its severity does."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Set
from dataclasses import dataclass

__all__ = ["PROBLEM_TYPES", "problem_type"]

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


def problem_type(tool: str, code: str, template: str, severity: int = 1) -> str:
    """One of PROBLEM_TYPES for a diagnostic of `tool` with `code` and message `template`
    (severity is LSP's: 1 error ... 4 hint)."""
    lcode = code.lower()
    for stage in _STAGES:
        codes = stage.codes.get(tool)
        if (codes is not None and codes.match(code, severity)) or stage.any_tool(
            tool, lcode, template, severity
        ):
            return stage.type
    if severity >= 3:
        return "learning"
    if severity == 2 and tool in ("gcc", "clang", "rustc"):
        return "refactoring"
    return "error"
