"""Replayed code in the project's style: its configured formatter run on the edited lines.

A project has a formatter configured when its pyproject.toml has a ``[tool.ruff.format]`` or
``[tool.black]`` table, or a ``ruff.toml`` / ``.ruff.toml`` has ``[format]`` (the nearest such
file above the document, up to the project root). Then a replayed edit is passed through
``ruff format --range`` (ruff's formatter is Black-compatible and reads the project's own
settings: quote style, line length, magic trailing commas) on the lines it changed, from the
project root under the document's name; lines the replay did not touch are never reformatted.
Without a configured formatter, or when ruff is missing or fails, the edit is kept as it is.
Runs with verification, when diagnostics arrive, never on the request path.
"""

from __future__ import annotations

import asyncio
import difflib
import logging
import tomllib
from pathlib import Path

from codecortex.detectors.tools import find_executable
from codecortex.diagnostics import Range, TextEdit, apply_edits
from codecortex.memory.replay import ReplayResult
from codecortex.memory.tokens import python_parses

__all__ = ["configured_formatter", "format_replay"]

log = logging.getLogger(__name__)

FORMAT_TIMEOUT = 10


def _has_table(path: Path, *keys: str) -> bool:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return False
    for key in keys:
        if not isinstance(data, dict) or key not in data:
            return False
        data = data[key]
    return True


def configured_formatter(file: Path, root: Path) -> str | None:
    """ "ruff" when the project configures ruff format or Black for `file`, else None."""
    try:
        here = file.resolve().parent
        top = root.resolve()
    except OSError:
        return None
    for directory in (here, *here.parents):
        for name in ("ruff.toml", ".ruff.toml"):
            if (directory / name).is_file():
                return "ruff" if _has_table(directory / name, "format") else None
        pyproject = directory / "pyproject.toml"
        if pyproject.is_file():
            if _has_table(pyproject, "tool", "ruff", "format") or _has_table(
                pyproject, "tool", "black"
            ):
                return "ruff"
            if _has_table(pyproject, "tool", "ruff"):
                return None  # ruff configured here without a format section
        if directory == top or top not in directory.parents:
            break
    return None


def _changed_lines(old: str, new: str) -> tuple[int, int] | None:
    """(first, last) 1-based lines of `new` that differ from `old`."""
    a, b = old.splitlines(keepends=True), new.splitlines(keepends=True)
    spans = [
        (j1, j2)
        for tag, _i1, _i2, j1, j2 in difflib.SequenceMatcher(
            None, a, b, autojunk=False
        ).get_opcodes()
        if tag != "equal"
    ]
    if not spans:
        return None
    first = min(j1 for j1, _ in spans)
    last = max(max(j2, j1 + 1) for j1, j2 in spans)
    return first + 1, min(last, max(len(b), 1))


async def _ruff_format(
    exe: str, text: str, path: Path, root: Path, lines: tuple[int, int]
) -> str | None:
    first, last = lines
    argv = [
        exe,
        "format",
        "--quiet",
        f"--range={first}:1-{last + 1}:1",
        "--stdin-filename",
        str(path),
        "-",
    ]
    proc = await asyncio.create_subprocess_exec(
        *argv,
        cwd=str(root),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        async with asyncio.timeout(FORMAT_TIMEOUT):
            out, err = await proc.communicate(text.encode("utf-8"))
    except TimeoutError:
        proc.kill()
        await proc.wait()
        return None
    if proc.returncode != 0:
        log.debug("ruff format failed: %s", err.decode("utf-8", "replace").strip()[:200])
        return None
    return out.decode("utf-8")


def _line_edits(old: str, new: str) -> list[TextEdit]:
    a, b = old.splitlines(keepends=True), new.splitlines(keepends=True)
    return [
        TextEdit(Range.of(i1, 0, i2, 0), "".join(b[j1:j2]))
        for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes()
        if tag != "equal"
    ]


async def format_replay(replay: ReplayResult, text: str, file: Path, root: Path) -> ReplayResult:
    """`replay` with its changed lines formatted by the project's formatter (see the module
    docstring); the same replay when there is nothing to do."""
    if configured_formatter(file, root) is None:
        return replay
    exe = find_executable("ruff", root)
    lines = _changed_lines(text, replay.new_text)
    if exe is None or lines is None:
        return replay
    try:
        formatted = await _ruff_format(exe, replay.new_text, file, root, lines)
    except OSError as exc:
        log.debug("ruff format could not run: %s", exc)
        return replay
    if formatted is None or formatted == replay.new_text or not python_parses(formatted):
        return replay
    was, now = replay.new_text.splitlines(keepends=True), formatted.splitlines(keepends=True)
    tail = len(was) - lines[1]
    if was[: lines[0] - 1] != now[: lines[0] - 1] or (tail and was[-tail:] != now[-tail:]):
        return replay  # the formatter touched lines the replay did not change
    edits = _line_edits(text, formatted)
    if not edits or apply_edits(text, edits) != formatted:
        return replay
    return ReplayResult(edits, replay.confidence, replay.reason + "; formatted", formatted)
