"""Run real tools (ruff, mypy, pyflakes, tsc, eslint, cargo check) on files, asynchronously.

Tools run as subprocesses through asyncio (never blocking an event loop), concurrently, each with
a timeout. A tool that is missing is *skipped*; one that crashes, times out or prints something we
cannot parse is reported in *errors* and the other tools carry on.
"""

from __future__ import annotations

import asyncio
import functools
import os
import threading
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import codecortex.detectors.parsers as parsers
from codecortex.cancellation import to_the_end
from codecortex.detectors.parsers import DetectorOutputError, Found, widen_to_token
from codecortex.detectors.process import cache_args, run_tool
from codecortex.detectors.scope import (
    checkable_files,
    configured_files,
    mypy_config_dir,
    nearest,
    why_not_runnable,
)
from codecortex.detectors.tools import ALL_EXTENSIONS, TOOLS, find_executable
from codecortex.diagnostics import Diagnostic
from codecortex.files.listing import list_workspace_files
from codecortex.files.text import read_text_file

P = ParamSpec("P")
R = TypeVar("R")

DEFAULT_MAX_FILE_SIZE = 2_000_000
CHUNK = 400  # files per invocation for per-file tools (keeps argv far below ARG_MAX)

PRUNE_DIRS = {
    "node_modules",
    "__pycache__",
    "target",
    "dist",
    "build",
    "venv",
    "site-packages",
}
PROJECT_MARKERS = ("pyproject.toml", "package.json", "Cargo.toml", "setup.py", "setup.cfg", ".git")


@dataclass
class DetectorRun:
    """Result of one run: diagnostics per absolute file path (an empty list for a file that was
    checked and is clean), which tool checked which files, tools skipped or failed, and files
    that were not checked at all."""

    diagnostics: dict[Path, list[Diagnostic]] = field(default_factory=dict)
    checked: dict[str, list[Path]] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    skipped_files: dict[Path, str] = field(default_factory=dict)

    def all(self) -> list[tuple[Path, Diagnostic]]:
        return [(p, d) for p, ds in sorted(self.diagnostics.items()) for d in ds]


# --------------------------------------------------------------------------- files


def _walk(directory: Path) -> Iterable[Path]:
    """The checkable files of a folder as the project sees them: git's list (so .gitignore is
    honoured) or a walk, without hidden folders and build/dependency folders."""

    names, _ = list_workspace_files(directory, PRUNE_DIRS)
    for name in names:
        parts = name.split("/")
        if any(part.startswith(".") for part in parts[:-1]):
            continue
        if os.path.splitext(name)[1] in ALL_EXTENSIONS:
            path = directory / name
            if os.path.lexists(path):  # not a tracked file deleted since (FIFOs, loops: reported)
                yield path


def _file_problem(path: Path, max_size: int) -> str | None:
    return read_text_file(path, max_size)[1]


def _project_root(files: list[Path]) -> Path:
    if not files:
        return Path.cwd().resolve()
    common = Path(os.path.commonpath([str(f.parent) for f in files]))
    for d in (common, *common.parents):
        if any((d / m).exists() for m in PROJECT_MARKERS):
            return d
    return common


def _crates(files: list[Path]) -> dict[Path, list[Path]]:
    crates: dict[Path, list[Path]] = {}
    for f in files:
        crate = nearest(f.parent, ["Cargo.toml"])
        if crate is not None:
            crates.setdefault(crate, []).append(f)
    return crates


def _chunks(files: list[Path], size: int = CHUNK) -> Iterable[list[Path]]:
    for i in range(0, len(files), size):
        yield files[i : i + size]


def _merge(into: Found, more: Found) -> Found:
    for path, diags in more.items():
        into.setdefault(path, []).extend(diags)
    return into


async def _ruff(exe: str, files: list[Path], root: Path, limit: float) -> Found:
    found: Found = {}
    for chunk in _chunks(files):
        # --force-exclude: the project's `exclude`/`extend-exclude` apply to named files too.
        argv = [
            exe, "check", "--output-format=json", "--no-fix", "--exit-zero", "--quiet",
            "--force-exclude",
        ]  # fmt: skip
        argv += cache_args("ruff", root)
        rc, out, err = await run_tool([*argv, *map(str, chunk)], root, limit, "ruff")
        _merge(found, parsers.parse_ruff(out, err, rc, root))
    return found


async def _mypy(exe: str, files: list[Path], root: Path, limit: float) -> Found:
    # From the folder of the project's mypy configuration, so that mypy reads it.
    found: Found = {}
    groups: dict[Path, list[Path]] = {}
    for f in files:
        groups.setdefault(mypy_config_dir(f.parent, root) or root, []).append(f)
    for cwd, group in sorted(groups.items()):
        _merge(found, await _mypy_in(exe, group, cwd, limit))
    return found


async def _mypy_in(exe: str, files: list[Path], root: Path, limit: float) -> Found:
    argv = [exe, "--output", "json", *cache_args("mypy", root), *map(str, files)]
    rc, out, err = await run_tool(argv, root, limit, "mypy")
    if rc == 2 and "--output" in err and not out.strip():
        # mypy < 1.11 has no JSON output: use its one-line text format.
        argv = [
            exe,
            "--show-column-numbers",
            "--show-error-end",
            "--show-error-codes",
            "--no-error-summary",
            "--no-pretty",
            "--no-color-output",
            *cache_args("mypy", root),
            *map(str, files),
        ]
        rc, out, err = await run_tool(argv, root, limit, "mypy")
        return parsers.parse_mypy_text(out, err, rc, root)
    return parsers.parse_mypy_json(out, err, rc, root)


async def _pyflakes(exe: str, files: list[Path], root: Path, limit: float) -> Found:
    found: Found = {}
    for chunk in _chunks(files):
        rc, out, err = await run_tool([exe, *map(str, chunk)], root, limit, "pyflakes")
        _merge(found, parsers.parse_pyflakes(out, err, rc, root))
    return found


async def _tsc(exe: str, files: list[Path], root: Path, limit: float) -> Found:
    project = await asyncio.to_thread(nearest, files[0].parent, ["tsconfig.json"], root)
    if project is not None:
        argv = [exe, "-p", str(project), "--noEmit", "--pretty", "false"]
    else:
        argv = [exe, "--noEmit", "--pretty", "false", "--skipLibCheck", *map(str, files)]
    rc, out, err = await run_tool(argv, root, limit, "tsc")
    return parsers.parse_tsc(out, err, rc, root)


async def _eslint(exe: str, files: list[Path], root: Path, limit: float) -> Found:
    found: Found = {}
    for chunk in _chunks(files):
        argv = [exe, "--format", "json", "--no-warn-ignored", *map(str, chunk)]
        rc, out, err = await run_tool(argv, root, limit, "eslint")
        if rc == 2 and "no-warn-ignored" in err:  # ESLint < 8.56 / eslintrc mode
            argv.remove("--no-warn-ignored")
            rc, out, err = await run_tool(argv, root, limit, "eslint")
        _merge(found, parsers.parse_eslint(out, err, rc, root))
    return found


async def _cargo(exe: str, files: list[Path], root: Path, limit: float) -> Found:
    crates = await asyncio.to_thread(_crates, files)
    found: Found = {}
    for crate in sorted(crates):
        argv = [exe, "check", "--message-format=json", "--quiet"]
        rc, out, err = await run_tool(argv, crate, limit, "cargo")
        _merge(found, parsers.parse_cargo(out, err, rc, crate))
    return found


_RUNNERS: dict[str, Callable[[str, list[Path], Path, float], Awaitable[Found]]] = {
    "ruff": _ruff,
    "mypy": _mypy,
    "pyflakes": _pyflakes,
    "tsc": _tsc,
    "eslint": _eslint,
    "cargo": _cargo,
}


# --------------------------------------------------------------------------- entry points


_Job = tuple[str, str, list[Path]]  # tool, executable, files


def _plan(
    paths: list[Path],
    root: Path | None,
    tools: list[str] | None,
    max_file_size: int,
    executables: dict[str, str] | None,
) -> tuple[DetectorRun, Path, list[_Job]]:
    """Blocking part of a run (file system only): which files, which tools, which programs."""
    run = DetectorRun()
    requested: list[Path] = []
    for p in paths:
        p = Path(p).resolve()
        if p.is_dir():
            requested.extend(_walk(p))
        elif p.exists():
            requested.append(p)
        else:
            run.skipped_files[p] = "does not exist"
    seen: set[Path] = set()
    ok: list[Path] = []
    for f in requested:
        if f in seen:
            continue
        seen.add(f)
        problem = _file_problem(f, max_file_size)
        if problem:
            run.skipped_files[f] = problem
        else:
            ok.append(f)
    base = root.resolve() if root is not None else _project_root(ok or requested)

    jobs: list[_Job] = []
    explicit = tools is not None
    if tools is None:  # pyflakes' checks are a subset of ruff's
        tools = [t for t in TOOLS if t != "pyflakes" or find_executable("ruff", base) is None]
    for name in list(dict.fromkeys(tools)):
        if name not in TOOLS:
            run.skipped[name] = "unknown detector"
            continue
        files = [f for f in ok if f.suffix in TOOLS[name].extensions]
        if not files:
            run.skipped[name] = "no files to check"
            continue
        exe = (executables or {}).get(name) or find_executable(name, base)
        if exe is None:
            run.skipped[name] = "not installed"
            continue
        files, reason = checkable_files(name, files, base)
        if not reason:
            reason = why_not_runnable(name, exe)
        if not reason and not explicit:
            files, reason = configured_files(name, files, base)
        if reason:
            run.skipped[name] = reason
            continue
        jobs.append((name, exe, files))
    return run, base, jobs


def _widen(path: Path, diags: list[Diagnostic]) -> None:
    """Give zero-width ranges (tsc reports only a start) the extent of the token there."""
    lines: list[str] | None = None
    for d in diags:
        if d.range.start != d.range.end:
            continue
        if lines is None:
            lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
        widen_to_token(d, lines)


def _finish(run: DetectorRun, jobs: list[_Job], results: list[Found | BaseException]) -> None:
    for (name, _exe, files), result in zip(jobs, results, strict=True):
        if isinstance(result, DetectorOutputError):
            run.errors[name] = str(result)
            continue
        if isinstance(result, BaseException):
            run.errors[name] = f"{type(result).__name__}: {result}"
            continue
        run.checked[name] = files
        wanted = set(files)
        for f in files:
            run.diagnostics.setdefault(f, [])
        for path, diags in result.items():
            if path in wanted:
                run.diagnostics[path].extend(diags)
    for path, diags in run.diagnostics.items():
        _widen(path, diags)
        diags.sort(key=lambda d: (d.range.start.line, d.range.start.character, d.source, d.code))


async def run_detectors(
    paths: list[Path],
    root: Path | None = None,
    tools: list[str] | None = None,
    timeout: float = 60,
    max_file_size: int = DEFAULT_MAX_FILE_SIZE,
    executables: dict[str, str] | None = None,
) -> DetectorRun:
    """Run the detectors that apply to `paths` (files or directories) and collect diagnostics.

    `tools` limits the run to those names, each run on every file it applies to. By default,
    every installed tool runs as the project runs it: ruff always (with its own configuration and
    excludes), pyflakes only without ruff, mypy and tsc only under their configuration, eslint
    and cargo only where configured (always required). Folders are listed by git where they can be
    (.gitignore honoured).
    `timeout` applies to each tool invocation; `executables` overrides where a tool's program
    is (tool -> path). File-system work happens on a worker thread, tools run concurrently.
    """
    run, base, jobs = await to_the_end(_plan, paths, root, tools, max_file_size, executables)
    results = await asyncio.gather(
        *(_RUNNERS[name](exe, files, base, timeout) for name, exe, files in jobs),
        return_exceptions=True,
    )
    for r in results:
        if isinstance(r, asyncio.CancelledError | KeyboardInterrupt | SystemExit):
            raise r
    await to_the_end(_finish, run, jobs, list(results))
    return run


def blocking(fn: Callable[P, Coroutine[Any, Any, R]]) -> Callable[P, R]:
    """`fn` as a blocking call (safe to call from inside a running event loop: it then runs on a
    helper thread)."""

    @functools.wraps(fn)
    def call(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return asyncio.run(fn(*args, **kwargs))
        box: dict[str, R | BaseException] = {}

        def target() -> None:
            try:
                box["run"] = asyncio.run(fn(*args, **kwargs))
            except BaseException as exc:  # re-raised in the caller's thread
                box["run"] = exc

        t = threading.Thread(target=target, name="codecortex-detectors")
        t.start()
        t.join()
        result = box["run"]
        if isinstance(result, BaseException):
            raise result
        return result

    return call


run_detectors_sync = blocking(run_detectors)  # the same, blocking
