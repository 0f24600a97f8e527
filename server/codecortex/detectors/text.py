"""Checking an unsaved buffer: ruff or pyflakes read the text on stdin under the file's name,
so the project's configuration applies as it would to the file."""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

from codecortex.detectors import parsers
from codecortex.detectors.parsers import DetectorOutputError, widen_to_token
from codecortex.detectors.process import cache_args, run_tool
from codecortex.detectors.tools import PY_EXT, find_executable
from codecortex.diagnostics import Diagnostic

TEXT_TOOLS = ("ruff", "pyflakes")  # tools that check a buffer read from stdin


async def run_on_text(
    tool: str,
    text: str,
    path: Path,
    root: Path,
    *,
    select: Iterable[str] = (),
    timeout: float = 20,
    executable: str | None = None,
) -> list[Diagnostic]:
    """Diagnostics of `tool` for an unsaved buffer `text` that lives at `path`.

    The tool runs from `root` and reads the text on stdin under `path`'s name, so the project's
    configuration (and per-file settings) apply as they would to the file. `select`: rule codes
    to check in addition to the configured ones (ruff). Raises DetectorOutputError when the tool
    is missing, fails or times out; only TEXT_TOOLS can run this way.
    """
    if tool not in TEXT_TOOLS:
        raise DetectorOutputError(f"{tool} cannot check unsaved text")
    exe = executable or find_executable(tool, root)
    if exe is None:
        raise DetectorOutputError(f"{tool} is not installed")
    if tool == "ruff":
        argv = [exe, "check", "--output-format=json", "--no-fix", "--exit-zero", "--quiet"]
        argv += cache_args("ruff", root) + extend_select_args(select)
        argv += ["--stdin-filename", str(path), "-"]
    else:
        argv = [exe, "-"]
    rc, out, err = await run_tool(argv, root, timeout, tool, stdin=text.encode("utf-8"))
    if tool == "ruff":
        found = parsers.parse_ruff(out, err, rc, root)
    else:
        name = str(path if path.suffix in PY_EXT else path.with_suffix(".py"))
        out, err = (s.replace("<stdin>:", name + ":") for s in (out, err))
        found = parsers.parse_pyflakes(out, err, rc, root)
    return finish_text_diagnostics([d for ds in found.values() for d in ds], text)


def extend_select_args(select: Iterable[str]) -> list[str]:
    """ruff's arguments to check rule codes `select` in addition to the configured ones."""
    codes = sorted({c for c in select if re.fullmatch(r"[A-Z]+[0-9]*", c)})
    return ["--extend-select=" + ",".join(codes)] if codes else []


def finish_text_diagnostics(diags: list[Diagnostic], text: str) -> list[Diagnostic]:
    """A text's diagnostics as `run_on_text` returns them: zero-width ranges (pyflakes) get the
    extent of the token there; sorted by position and code."""
    lines = text.splitlines()
    for d in diags:
        widen_to_token(d, lines)
    diags.sort(key=lambda d: (d.range.start.line, d.range.start.character, d.code))
    return diags
