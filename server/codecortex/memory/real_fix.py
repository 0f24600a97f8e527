"""Whether a learned change is a real fix of the problem it removed (`not_a_fix`): it must touch
the problem's lines or a name from its message, bring no new problem into the changed lines (nor
only change the code a message quotes), and, for lint tools (whose fixes keep behaviour), bring
in no names or constants that nothing explains."""

from __future__ import annotations

import builtins
import keyword
import re
from collections.abc import Sequence

from codecortex.diagnostics import Diagnostic, Range
from codecortex.memory.learning import LearnedChange

# Lint tools whose fixes keep behaviour: a change that brings in names the problem, the old code
# and the file's definitions do not explain changed what the code does (RET504 "fixed" by
# `return title` -> `return title.strip()`), so it is not learned as their fix.
LINT_TOOLS = frozenset({"ruff", "pyflakes", "flake8", "pylint", "pycodestyle"})
_IDENT = re.compile(r"[^\W\d]\w*")
_BINDING = re.compile(
    r"\b(?:def|class|as|import|for|global|nonlocal)\s+([^\W\d]\w*)"
    r"|^\s*([^\W\d]\w*)\s*(?::[^=]+)?=(?!=)",
    re.M,
)
_STRINGS_AND_COMMENTS = re.compile(
    r"\"\"\"[\s\S]*?\"\"\"|'''[\s\S]*?'''|\"(?:\\.|[^\"\\\n])*\"|'(?:\\.|[^'\\\n])*'|#[^\n]*"
)
_KNOWN = frozenset(keyword.kwlist) | frozenset(keyword.softkwlist) | frozenset(dir(builtins))


def _code_idents(text: str) -> set[str]:
    return set(_IDENT.findall(_STRINGS_AND_COMMENTS.sub(" ", text)))


def _bound_names(text: str) -> set[str]:
    code = _STRINGS_AND_COMMENTS.sub(" ", text)
    out: set[str] = set()
    for m in _BINDING.finditer(code):
        out.update(g for g in m.groups() if g)
    for line in code.splitlines():  # names on import and def lines: modules, bound, parameters
        if re.match(r"\s*(?:from|import|def|async\s+def|class)\s", line):
            out.update(_IDENT.findall(line))
    return out


def _diff_lines(diff: str, prefix: str) -> list[str]:
    return [
        line[1:]
        for line in diff.splitlines()
        if line.startswith(prefix) and not line.startswith(prefix * 3)
    ]


def _lines_of(rng: Range) -> tuple[int, int]:
    last = rng.end.line - 1 if rng.end.character == 0 and rng.end.line > rng.start.line else None
    return rng.start.line, rng.end.line if last is None else last


def not_a_fix(
    learned: LearnedChange,
    before_text: str,
    problem_range: Range,
    tool: str,
    code: str,
    values: Sequence[str],
    appeared: Sequence[Diagnostic] = (),
) -> str | None:
    """Why a learned change is not the fix of the problem it removed, or None when it is.

    `values`: the placeholder values of the problem's message; `appeared`: problems reported in
    the after text that the before text did not have (any tool that checked both). Rules:
    the change must touch the problem's lines or a name from its message; no problem may appear
    in the changed lines (the same rule with a new quote is the same problem whose message
    changed with the code it quotes, not a resolution); and for lint tools it must not bring in
    names that nothing explains (a behaviour change).
    """
    sl, el = _lines_of(problem_range)
    names = {p for v in values for p in _IDENT.findall(v)}
    changed = _diff_lines(learned.diff, "-") + _diff_lines(learned.diff, "+")
    on_lines = learned.reason.startswith("change on the problem's lines")
    if not on_lines and not (names & _code_idents("\n".join(changed))):
        if not any(
            line in changed for line in before_text.splitlines()[sl : el + 1] if line.strip()
        ):
            return "the change does not touch the problem's code or the names in its message"
    if learned.region_after is not None:
        a0, a1 = _lines_of(learned.region_after)
        for d in appeared:
            if a0 - 1 <= d.range.start.line <= a1 + 1 or a0 - 1 <= d.range.end.line <= a1 + 1:
                if d.code == code and d.code:
                    return "the message changed with the code it quotes (the same problem)"
                return f"the change brought a new problem ({d.code or d.source}: {d.message})"
    if tool in LINT_TOOLS:
        added = _code_idents("\n".join(_diff_lines(learned.diff, "+")))
        explained = (
            _code_idents(learned.before)
            | _bound_names(before_text)
            | _bound_names(learned.after)
            | names
            | _KNOWN
        )
        unexplained = sorted(added - explained)
        if unexplained:
            return (
                "the change brings in names the problem does not explain "
                f"({', '.join(unexplained[:3])}): a behaviour change, not a fix"
            )
        old_words = _code_idents(learned.before) | names | _literal_words(learned.before)
        new_literals = [
            lit
            for lit in _literals("\n".join(_diff_lines(learned.diff, "+")))
            if lit not in _literals(learned.before)
            and not set(_IDENT.findall(lit)) <= old_words | _KNOWN
        ]
        if new_literals:
            return (
                f"the change brings in constants the problem does not explain ({new_literals[0]}):"
                " a behaviour change, not a fix"
            )
    return None


_LITERAL = re.compile(
    r"[rRbBuUfF]{0,2}(?:\"(?:\\.|[^\"\\\n])*\"|'(?:\\.|[^'\\\n])*')|(?<![\w.])\d[\d_.]*"
)


def _literals(code: str) -> set[str]:
    """String and number literals of some code (comments left out)."""
    code = re.sub(r"#[^\n]*", " ", code)
    return {m.group().lstrip("rRbBuUfF").strip("'\"") or '""' for m in _LITERAL.finditer(code)}


def _literal_words(code: str) -> set[str]:
    return {w for lit in _literals(code) for w in _IDENT.findall(lit)}
