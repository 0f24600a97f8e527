"""Check a replayed fix before it is offered: re-run the detector that reported the problem.

A replay is only a guess until the tool agrees. For a tool that can check unsaved text (ruff and
pyflakes read stdin; `detectors.text.TEXT_TOOLS`), the original document and the edited one
are checked from the project root under the file's own name (so the project's configuration
applies, plus the problem's rule). The fix is *verified* when

- the tool reports the problem in the original text (else it cannot say anything about it),
- one report of the problem (same code and message) is gone in the edited text,
- no report appears that the original did not have (anywhere in the file: removing an import
  that is still used elsewhere is a new problem too), and
- the edited Python still parses, and
- in a package's `__init__.py`, no top-level name goes away (removing an "unused" import there
  removes what the package exports: ruff's own fix is unsafe there).

Otherwise it is *refuted* and never offered. Results are cached by tool, file, rules and text
(one check of a given text), and at most `concurrency` tools run at once.

For a tool that cannot run on text (mypy, tsc, an editor's own linters) the fix is *unverified*:
it is offered only when an edit overlaps the problem's lines or touches a name from the
problem's message, with its confidence capped at `UNVERIFIED_CONFIDENCE` (so `check --fix` and
the preferred quick fix never pick it) and "unverified" in its title.
"""

from __future__ import annotations

import ast
import asyncio
import builtins
import hashlib
import keyword
import logging
import re
from collections import Counter, OrderedDict
from dataclasses import dataclass
from pathlib import Path

from codecortex.detectors.parsers import DetectorOutputError
from codecortex.detectors.text import TEXT_TOOLS, run_on_text
from codecortex.detectors.tools import find_executable
from codecortex.detectors.versions import ruff_on_versions
from codecortex.diagnostics import Diagnostic, Range, TextEdit
from codecortex.memory.tokens import python_parses, python_tree

__all__ = [
    "UNVERIFIED_CONFIDENCE",
    "Verdict",
    "Verifier",
    "edit_touches_problem",
    "runnable_tool",
    "unexplained_names",
]

log = logging.getLogger(__name__)

UNVERIFIED_CONFIDENCE = 0.7
CACHE_SIZE = 2048
_IDENT = re.compile(r"[^\W\d]\w*")
_NUMBER = re.compile(r"\d+")


@dataclass(frozen=True, slots=True)
class Verdict:
    verified: bool | None  # True: the tool agrees; False: it disagrees; None: it cannot tell
    reason: str


def runnable_tool(tool: str, language: str | None) -> str | None:
    """The detector to re-run for problems of `tool` (a normalised name), or None."""
    if language == "python" and tool in TEXT_TOOLS:
        return tool
    return None


def _key(d: Diagnostic) -> tuple[str, str]:
    return (d.code, _NUMBER.sub("#", d.message))


def _parses(text: str) -> bool:
    return python_parses(text)


def _module_names(text: str) -> set[str]:
    """Names a module binds at its top level (imports, definitions, assignments)."""
    tree = python_tree(text)
    names: set[str] = set()
    for node in tree.body if tree is not None else []:
        if isinstance(node, ast.Import | ast.ImportFrom):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names.update(t.id for t in targets if isinstance(t, ast.Name))
    return names


def edit_touches_problem(edits: list[TextEdit], text: str, rng: Range, names: list[str]) -> bool:
    """Whether an edit overlaps the problem's lines or touches a name bound from its message."""
    last = rng.end.line - 1 if rng.end.character == 0 and rng.end.line > rng.start.line else None
    end_line = last if last is not None else rng.end.line
    wanted = {p for n in names for p in _IDENT.findall(n)}
    lines = text.splitlines(keepends=True)
    for e in edits:
        if e.range.start.line <= end_line and e.range.end.line >= rng.start.line:
            return True
        if not wanted:
            continue
        old = "".join(lines[e.range.start.line : e.range.end.line + 1])
        if wanted & set(_IDENT.findall(old)) or wanted & set(_IDENT.findall(e.new_text)):
            return True
    return False


_KEYWORDS = frozenset(keyword.kwlist) | frozenset(keyword.softkwlist)
# builtins a fix may bring in anywhere (`callable(x)`, `list(...)`, `isinstance`); exception
# classes are not among them: which exception is raised or caught is the developer's choice
_PLAIN_BUILTINS = frozenset(
    name
    for name, value in vars(builtins).items()
    if not (isinstance(value, type) and issubclass(value, BaseException))
)
NEAR_LINES = 15


def unexplained_names(edits: list[TextEdit], text: str, rng: Range, message: str) -> set[str]:
    """Names an edit brings in that nothing around the problem explains: not in the code it
    replaces, in the problem's lines +-NEAR_LINES, in the message, a keyword or a builtin other
    than an exception class. `except:` -> `except ValueError:` learned in one place is a
    choice made there: replayed elsewhere it changes what is caught, and ruff is satisfied."""
    lines = text.splitlines(keepends=True)
    near = "".join(lines[max(0, rng.start.line - NEAR_LINES) : rng.end.line + NEAR_LINES + 1])
    known = set(_IDENT.findall(near)) | set(_IDENT.findall(message)) | _KEYWORDS | _PLAIN_BUILTINS
    added = "\n".join(_strip_strings(e.new_text) for e in edits)
    bound = set(re.findall(r"\b(?:as|for|def|class)\s+([^\W\d]\w*)", added))
    bound |= set(re.findall(r"^\s*([^\W\d]\w*)\s*(?::[^=\n]*)?=(?!=)", added, re.M))
    return set(_IDENT.findall(added)) - known - bound


def _strip_strings(code: str) -> str:
    return re.sub(r"\"(?:\\.|[^\"\\\n])*\"|'(?:\\.|[^'\\\n])*'|#[^\n]*", " ", code)


class Verifier:
    """Runs the detectors on original and edited texts, off the request path, with a cache."""

    def __init__(self, *, timeout: float = 20, concurrency: int = 2) -> None:
        self.timeout = timeout
        self._sem = asyncio.Semaphore(concurrency)
        self._cache: OrderedDict[tuple[str, ...], list[Diagnostic] | str] = OrderedDict()
        self._exe: dict[tuple[str, str], str | None] = {}

    def available(self, tool: str, root: Path) -> bool:
        key = (tool, str(root))
        if key not in self._exe:
            self._exe[key] = find_executable(tool, root)
        return self._exe[key] is not None

    @staticmethod
    def _key(tool: str, text: str, path: Path, select: tuple[str, ...]) -> tuple[str, ...]:
        sha = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
        return (tool, str(path), ",".join(select), sha)

    def _remember(self, key: tuple[str, ...], result: list[Diagnostic] | str) -> None:
        self._cache[key] = result
        self._cache.move_to_end(key)
        while len(self._cache) > CACHE_SIZE:
            self._cache.popitem(last=False)

    async def prefetch(
        self, tool: str, texts: list[str], path: Path, root: Path, select: tuple[str, ...]
    ) -> int:
        """Check every text of `texts` not checked yet with one run of the tool (ruff; see
        detectors/versions.py), so that `check` finds them all cached. Texts the batch cannot
        speak for, and every text when it fails, are left to `check`'s one run per text.
        Returns how many texts the batch checked."""
        if tool != "ruff" or not self.available(tool, root):
            return 0
        todo = list(
            dict.fromkeys(t for t in texts if self._key(tool, t, path, select) not in self._cache)
        )
        if len(todo) < 2:
            return 0
        exe = self._exe.get((tool, str(root)))
        assert exe is not None
        async with self._sem:
            try:
                found = await ruff_on_versions(
                    exe, todo, path, root, select=select, timeout=self.timeout
                )
            except DetectorOutputError as exc:
                log.info("checking %d versions of %s at once failed: %s", len(todo), path, exc)
                return 0
        done = 0
        for text, diags in zip(todo, found, strict=True):
            if diags is not None:
                self._remember(self._key(tool, text, path, select), diags)
                done += 1
        return done

    async def diagnostics(
        self, tool: str, text: str, path: Path, root: Path, select: tuple[str, ...]
    ) -> list[Diagnostic] | str:
        """The tool's diagnostics for `text`, or a one-line reason why it could not run."""
        key = self._key(tool, text, path, select)
        hit = self._cache.get(key)
        if hit is not None:
            self._cache.move_to_end(key)
            return hit
        async with self._sem:
            try:
                result: list[Diagnostic] | str = await run_on_text(
                    tool,
                    text,
                    path,
                    root,
                    select=select,
                    timeout=self.timeout,
                    executable=self._exe.get((tool, str(root))),
                )
            except DetectorOutputError as exc:
                result = str(exc).splitlines()[0] if str(exc) else "the tool failed"
        self._remember(key, result)
        return result

    async def check(
        self,
        tool: str,
        problem: Diagnostic,
        original: str,
        edited: str,
        path: Path,
        root: Path,
        *,
        select: tuple[str, ...] | None = None,
    ) -> Verdict:
        """Does `edited` (a replayed fix applied to `original`) remove `problem`, cleanly?
        `select`: rule codes checked besides the configured ones (default: the problem's; the
        codes of all the problems checked together, so that one run checks them all)."""
        if not self.available(tool, root):
            return Verdict(None, f"{tool} is not installed")
        if select is None:
            select = (problem.code,) if problem.code else ()
        elif problem.code and problem.code not in select:
            select = tuple(sorted({*select, problem.code}))
        before = await self.diagnostics(tool, original, path, root, select)
        if isinstance(before, str):
            return Verdict(None, before)
        target = [d for d in before if _key(d) == _key(problem)] or [
            d
            for d in before
            if d.code == problem.code
            and d.range.start.line <= problem.range.end.line
            and d.range.end.line >= problem.range.start.line
        ]
        if not target:
            return Verdict(None, f"{tool} does not report the problem here")
        if _parses(original) and not _parses(edited):
            return Verdict(False, "the edited code does not parse")
        if path.name == "__init__.py":
            lost = _module_names(original) - _module_names(edited)
            if lost:
                return Verdict(False, f"removes {sorted(lost)[0]!r}, which the package may export")
        after = await self.diagnostics(tool, edited, path, root, select)
        if isinstance(after, str):
            return Verdict(None, after)
        was, now = Counter(_key(d) for d in before), Counter(_key(d) for d in after)
        tkey = _key(target[0])
        if now[tkey] >= was[tkey]:
            return Verdict(False, f"{tool} still reports the problem")
        new = [k for k in now if now[k] > was[k]]
        if new:
            code, message = new[0]
            return Verdict(False, f"{tool} reports a new problem: {code} {message}".strip())
        return Verdict(True, f"{tool} confirms the problem is gone and nothing new appears")
