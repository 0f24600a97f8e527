"""Run real tools (ruff, mypy, pyflakes, tsc, eslint, cargo check) on files, asynchronously.

Tools run as subprocesses through asyncio (never blocking an event loop), concurrently, each with
a timeout. A tool that is missing is *skipped*; one that crashes, times out or prints something we
cannot parse is reported in *errors* and the other tools carry on.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import sys
import threading
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from codecortex.cancellation import stop_process, to_the_end
from codecortex.detectors import parsers
from codecortex.detectors.parsers import DetectorOutputError, Found
from codecortex.diagnostics import Diagnostic, Range
from codecortex.files.text import read_text_file

DEFAULT_MAX_FILE_SIZE = 2_000_000
CHUNK = 400  # files per invocation for per-file tools (keeps argv far below ARG_MAX)

PY_EXT = (".py", ".pyi")
TS_EXT = (".ts", ".tsx", ".mts", ".cts")
JS_EXT = (".js", ".jsx", ".mjs", ".cjs", ".ts", ".tsx", ".mts", ".cts")
RS_EXT = (".rs",)

ESLINT_CONFIGS = (
    "eslint.config.js",
    "eslint.config.mjs",
    "eslint.config.cjs",
    "eslint.config.ts",
    "eslint.config.mts",
    "eslint.config.cts",
    ".eslintrc",
    ".eslintrc.js",
    ".eslintrc.cjs",
    ".eslintrc.json",
    ".eslintrc.yml",
    ".eslintrc.yaml",
)
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


@dataclass(frozen=True)
class _Tool:
    name: str
    program: str
    family: str  # "python" | "node" | "cargo": where to look for the executable
    extensions: tuple[str, ...]


TOOLS: dict[str, _Tool] = {
    "ruff": _Tool("ruff", "ruff", "python", PY_EXT),
    "mypy": _Tool("mypy", "mypy", "python", PY_EXT),
    "pyflakes": _Tool("pyflakes", "pyflakes", "python", PY_EXT),
    "tsc": _Tool("tsc", "tsc", "node", TS_EXT),
    "eslint": _Tool("eslint", "eslint", "node", JS_EXT),
    "cargo": _Tool("cargo", "cargo", "cargo", RS_EXT),
}
ALL_EXTENSIONS = frozenset(e for t in TOOLS.values() for e in t.extensions)


# --------------------------------------------------------------------------- discovery


def _is_exe(p: Path) -> bool:
    return p.is_file() and os.access(p, os.X_OK)


def find_executable(tool: str, root: Path | None = None) -> str | None:
    """Path of a tool: node tools from the project's node_modules/.bin (or an ancestor's), Python
    tools next to the running interpreter (its venv) or in the project's .venv, then PATH."""
    spec = TOOLS[tool]
    candidates: list[Path] = []
    if spec.family == "node" and root is not None:
        for d in (root, *root.parents):
            candidates.append(d / "node_modules" / ".bin" / spec.program)
    if spec.family == "python":
        candidates.append(Path(sys.executable).parent / spec.program)
        if root is not None:
            candidates.append(root / ".venv" / "bin" / spec.program)
    for c in candidates:
        if _is_exe(c):
            return str(c)
    found = shutil.which(spec.program)
    if found:
        return found
    if spec.family == "cargo":
        home = Path.home() / ".cargo" / "bin" / spec.program
        if _is_exe(home):
            return str(home)
    return None


def cargo_toolchain(exe: str | None = None) -> tuple[str | None, str]:
    """(cargo's path, its version) when cargo runs, else (None, why not): rustup's cargo proxy
    is on PATH without a default toolchain on many machines. Blocking (a few ms)."""
    import subprocess

    exe = exe or find_executable("cargo")
    if exe is None:
        return None, "not installed"
    try:
        proc = subprocess.run(
            [exe, "--version"], capture_output=True, text=True, timeout=20, check=False
        )
    except (OSError, subprocess.SubprocessError) as exc:
        return None, f"{exe} does not run ({exc})"
    if proc.returncode != 0:
        lines = (proc.stderr or proc.stdout).strip().splitlines()
        reason = lines[0] if lines else f"exit status {proc.returncode}"
        return None, f"no working toolchain ({reason})"
    return exe, proc.stdout.strip()


def available_detectors(root: Path | None = None) -> dict[str, str | None]:
    """Tool name -> executable path, or None when not installed (for `codecortex doctor`)."""
    root = root.resolve() if root is not None else None
    return {name: find_executable(name, root) for name in TOOLS}


# --------------------------------------------------------------------------- files


def _walk(directory: Path) -> Iterable[Path]:
    """The checkable files of a folder as the project sees them: git's list (so .gitignore is
    honoured) or a walk, without hidden folders and build/dependency folders."""
    from codecortex.analysis.phases import list_workspace_files

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


def _nearest(start: Path, names: Iterable[str], stop: Path | None = None) -> Path | None:
    names = tuple(names)
    for d in (start, *start.parents):
        if any((d / n).exists() for n in names):
            return d
        if stop is not None and d == stop:
            break
    return None


# --------------------------------------------------------------------------- subprocesses


async def _kill(proc: asyncio.subprocess.Process) -> None:
    """Stop a tool and whatever it spawned (its process group), and reap it."""
    await stop_process(proc, group=True)


async def _exec(argv: list[str], cwd: Path, limit: float, tool: str) -> tuple[int, str, str]:
    env = dict(os.environ, NO_COLOR="1", CARGO_TERM_COLOR="never", PYTHONIOENCODING="utf-8")
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv,
            cwd=str(cwd),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=env,
            start_new_session=True,  # its own process group, so a timeout can stop helpers too
        )
    except OSError as exc:
        raise DetectorOutputError(f"{tool} could not be started: {exc}") from exc
    try:
        async with asyncio.timeout(limit):
            out, err = await proc.communicate()
    except TimeoutError:
        await _kill(proc)
        raise DetectorOutputError(f"{tool} timed out after {limit:g} s") from None
    except asyncio.CancelledError:
        await _kill(proc)
        raise
    rc = proc.returncode if proc.returncode is not None else -1
    return rc, out.decode("utf-8", "replace"), err.decode("utf-8", "replace")


def _crates(files: list[Path]) -> dict[Path, list[Path]]:
    crates: dict[Path, list[Path]] = {}
    for f in files:
        crate = _nearest(f.parent, ["Cargo.toml"])
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


def _cache_args(tool: str, root: Path) -> list[str]:
    """Where a tool may keep its cache: in the project as usual, or nowhere when the project
    cannot be written (a read-only checkout: ruff would fail on its cache and report nothing)."""
    if os.access(root, os.W_OK):
        return []
    return ["--no-cache"] if tool == "ruff" else ["--cache-dir", os.devnull]


async def _ruff(exe: str, files: list[Path], root: Path, limit: float) -> Found:
    found: Found = {}
    for chunk in _chunks(files):
        # --force-exclude: the project's `exclude`/`extend-exclude` apply to named files too.
        argv = [
            exe, "check", "--output-format=json", "--no-fix", "--exit-zero", "--quiet",
            "--force-exclude",
        ]  # fmt: skip
        argv += _cache_args("ruff", root)
        rc, out, err = await _exec([*argv, *map(str, chunk)], root, limit, "ruff")
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
    argv = [exe, "--output", "json", *_cache_args("mypy", root), *map(str, files)]
    rc, out, err = await _exec(argv, root, limit, "mypy")
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
            *_cache_args("mypy", root),
            *map(str, files),
        ]
        rc, out, err = await _exec(argv, root, limit, "mypy")
        return parsers.parse_mypy_text(out, err, rc, root)
    return parsers.parse_mypy_json(out, err, rc, root)


async def _pyflakes(exe: str, files: list[Path], root: Path, limit: float) -> Found:
    found: Found = {}
    for chunk in _chunks(files):
        rc, out, err = await _exec([exe, *map(str, chunk)], root, limit, "pyflakes")
        _merge(found, parsers.parse_pyflakes(out, err, rc, root))
    return found


async def _tsc(exe: str, files: list[Path], root: Path, limit: float) -> Found:
    project = await asyncio.to_thread(_nearest, files[0].parent, ["tsconfig.json"], root)
    if project is not None:
        argv = [exe, "-p", str(project), "--noEmit", "--pretty", "false"]
    else:
        argv = [exe, "--noEmit", "--pretty", "false", "--skipLibCheck", *map(str, files)]
    rc, out, err = await _exec(argv, root, limit, "tsc")
    return parsers.parse_tsc(out, err, rc, root)


async def _eslint(exe: str, files: list[Path], root: Path, limit: float) -> Found:
    found: Found = {}
    for chunk in _chunks(files):
        argv = [exe, "--format", "json", "--no-warn-ignored", *map(str, chunk)]
        rc, out, err = await _exec(argv, root, limit, "eslint")
        if rc == 2 and "no-warn-ignored" in err:  # ESLint < 8.56 / eslintrc mode
            argv.remove("--no-warn-ignored")
            rc, out, err = await _exec(argv, root, limit, "eslint")
        _merge(found, parsers.parse_eslint(out, err, rc, root))
    return found


async def _cargo(exe: str, files: list[Path], root: Path, limit: float) -> Found:
    crates = await asyncio.to_thread(_crates, files)
    found: Found = {}
    for crate in sorted(crates):
        argv = [exe, "check", "--message-format=json", "--quiet"]
        rc, out, err = await _exec(argv, crate, limit, "cargo")
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


def _has_section(path: Path, header: re.Pattern[str]) -> bool:
    try:
        return header.search(path.read_text(encoding="utf-8", errors="replace")) is not None
    except OSError:
        return False


_MYPY_SECTIONS = {
    "pyproject.toml": re.compile(r"^\s*\[tool\.mypy[\].]", re.M),
    "setup.cfg": re.compile(r"^\s*\[mypy[\]:]", re.M),
    "tox.ini": re.compile(r"^\s*\[mypy[\]:]", re.M),
}


def mypy_config_dir(start: Path, stop: Path | None = None) -> Path | None:
    """The nearest folder (up to `stop`) whose files configure mypy: mypy.ini, .mypy.ini, or a
    mypy section in pyproject.toml, setup.cfg or tox.ini."""
    for d in (start, *start.parents):
        if (d / "mypy.ini").is_file() or (d / ".mypy.ini").is_file():
            return d
        if any(_has_section(d / name, rx) for name, rx in _MYPY_SECTIONS.items()):
            return d
        if stop is not None and d == stop:
            break
    return None


def mypy_scope(config_dir: Path) -> tuple[list[Path], str]:
    """The `files` (absolute) and `exclude` (a regex, "" for none) of the mypy configuration in
    `config_dir`: what `mypy` run there without arguments checks."""
    import configparser
    import tomllib

    files: Any = None
    exclude: Any = ""
    for name in ("mypy.ini", ".mypy.ini", "pyproject.toml", "setup.cfg", "tox.ini"):
        path = config_dir / name
        if not path.is_file():
            continue
        try:
            if name == "pyproject.toml":
                section = tomllib.loads(path.read_text(encoding="utf-8")).get("tool", {})
                section = section.get("mypy")
                if section is None:
                    continue
            else:
                parser = configparser.ConfigParser()
                parser.read(path, encoding="utf-8")
                if not parser.has_section("mypy"):
                    continue
                section = dict(parser["mypy"])
        except (OSError, ValueError, configparser.Error):
            continue
        files, exclude = section.get("files"), section.get("exclude") or ""
        break
    if isinstance(files, str):
        files = [f.strip() for f in files.split(",")]
    if isinstance(exclude, list):
        exclude = "|".join(f"(?:{e})" for e in exclude)
    return [config_dir / f for f in files or [] if f], str(exclude).strip()


def precommit_scopes(config_dir: Path, tool: str) -> list[tuple[Path, str, str]] | None:
    """How the project's pre-commit hooks for `tool` select files: (the folder of
    `.pre-commit-config.yaml`, `files` regex, `exclude` regex) per hook; None when no such
    hook is configured (in `config_dir` or a parent folder up to the repository's root)."""
    import yaml

    for d in (config_dir, *config_dir.parents):
        path = d / ".pre-commit-config.yaml"
        if path.is_file():
            try:
                config = yaml.safe_load(path.read_text(encoding="utf-8"))
            except (OSError, ValueError, yaml.YAMLError):
                return None
            hooks = [
                hook
                for repo in (config or {}).get("repos") or []
                if isinstance(repo, dict)
                for hook in repo.get("hooks") or []
                if isinstance(hook, dict) and hook.get("id") == tool
            ]
            if not hooks:
                return None
            return [(d, str(h.get("files") or ""), str(h.get("exclude") or "")) for h in hooks]
        if (d / ".git").exists():
            return None
    return None


def _regex_hit(pattern: str, text: str) -> bool:
    try:
        return re.search(pattern, text) is not None
    except re.error:
        return False


def _in_precommit_scope(path: Path, scopes: list[tuple[Path, str, str]]) -> bool:
    for base, files, exclude in scopes:
        try:
            rel = path.relative_to(base).as_posix()
        except ValueError:
            continue
        if (not files or _regex_hit(files, rel)) and not (exclude and _regex_hit(exclude, rel)):
            return True
    return False


def _in_mypy_files(path: Path, root: Path) -> bool:
    """Whether `mypy`, run as the project configures it, checks `path`: its configuration's
    `files` and `exclude`, else the files its pre-commit hook passes it, else any."""
    config_dir = mypy_config_dir(path.parent, root)
    if config_dir is None:
        return False
    files, exclude = mypy_scope(config_dir)
    if files and not any(path == f or f in path.parents for f in files):
        return False
    if not files:
        scopes = precommit_scopes(config_dir, "mypy")
        if scopes is not None and not _in_precommit_scope(path, scopes):
            return False
    if exclude:
        try:
            rel = path.relative_to(config_dir).as_posix()
        except ValueError:
            rel = path.as_posix()
        try:
            if re.search(exclude, rel):
                return False
        except re.error:
            pass
    return True


def _configured(tool: str, files: list[Path], root: Path) -> tuple[list[Path], str | None]:
    """Files whose project configures `tool` (mypy, tsc), or why none does. Run by default only
    there: a project that does not type-check would get every file's type errors."""
    if tool == "mypy":
        covered = [f for f in files if mypy_config_dir(f.parent, root) is not None]
        if not covered:
            return [], "the project has no mypy configuration"
        covered = [f for f in covered if _in_mypy_files(f, root)]
        return covered, None if covered else "no file in the mypy configuration's `files`"
    if tool == "tsc":
        covered = [f for f in files if _nearest(f.parent, ["tsconfig.json"], root) is not None]
        return covered, None if covered else "the project has no tsconfig.json"
    return files, None


def _precondition(tool: str, files: list[Path], root: Path) -> tuple[list[Path], str | None]:
    """Files the tool can check, or a reason to skip it."""
    if tool == "eslint":
        if (
            _nearest(files[0].parent, ESLINT_CONFIGS) is None
            and _nearest(root, ESLINT_CONFIGS) is None
        ):
            return [], "no ESLint configuration"
    if tool == "cargo":
        in_crate = [f for f in files if _nearest(f.parent, ["Cargo.toml"]) is not None]
        if not in_crate:
            return [], "no Cargo.toml"
        return in_crate, None
    return files, None


def _runs(tool: str, exe: str) -> str | None:
    """Why an installed tool cannot run at all (cargo without a toolchain), or None."""
    if tool == "cargo":
        working, reason = cargo_toolchain(exe)
        return None if working else reason
    return None


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
        files, reason = _precondition(name, files, base)
        if not reason:
            reason = _runs(name, exe)
        if not reason and not explicit:
            files, reason = _configured(name, files, base)
        if reason:
            run.skipped[name] = reason
            continue
        jobs.append((name, exe, files))
    return run, base, jobs


_TOKEN = re.compile(r"[\w$]+|\"[^\"]*\"|'[^']*'|`[^`]*`|\S")


def _widen(path: Path, diags: list[Diagnostic]) -> None:
    """Give zero-width ranges (tsc reports only a start) the extent of the token there."""
    lines: list[str] | None = None
    for d in diags:
        if d.range.start != d.range.end:
            continue
        if lines is None:
            lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
        ln, col = d.range.start.line, d.range.start.character
        if ln < len(lines):
            m = _TOKEN.match(lines[ln], col)
            if m:
                d.range = Range.of(ln, col, ln, m.end())


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


def run_detectors_sync(
    paths: list[Path],
    root: Path | None = None,
    tools: list[str] | None = None,
    timeout: float = 60,
    max_file_size: int = DEFAULT_MAX_FILE_SIZE,
    executables: dict[str, str] | None = None,
) -> DetectorRun:
    """Blocking wrapper around run_detectors (safe to call from inside a running event loop: it
    then runs on a helper thread)."""
    coro_args = (paths, root, tools, timeout, max_file_size, executables)
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(run_detectors(*coro_args))
    box: dict[str, DetectorRun | BaseException] = {}

    def target() -> None:
        try:
            box["run"] = asyncio.run(run_detectors(*coro_args))
        except BaseException as exc:  # re-raised in the caller's thread
            box["run"] = exc

    t = threading.Thread(target=target, name="codecortex-detectors")
    t.start()
    t.join()
    result = box["run"]
    if isinstance(result, BaseException):
        raise result
    return result


# --------------------------------------------------------------------------- text (not on disk)

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
        argv += _cache_args("ruff", root) + extend_select_args(select)
        argv += ["--stdin-filename", str(path), "-"]
    else:
        argv = [exe, "-"]
    env = dict(os.environ, NO_COLOR="1", PYTHONIOENCODING="utf-8")
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv,
            cwd=str(root),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=env,
            start_new_session=True,
        )
    except OSError as exc:
        raise DetectorOutputError(f"{tool} could not be started: {exc}") from exc
    try:
        async with asyncio.timeout(timeout):
            out_b, err_b = await proc.communicate(text.encode("utf-8"))
    except TimeoutError:
        await _kill(proc)
        raise DetectorOutputError(f"{tool} timed out after {timeout:g} s") from None
    except asyncio.CancelledError:
        await _kill(proc)
        raise
    rc = proc.returncode if proc.returncode is not None else -1
    out, err = out_b.decode("utf-8", "replace"), err_b.decode("utf-8", "replace")
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
        ln, col = d.range.start.line, d.range.start.character
        if d.range.start == d.range.end and ln < len(lines):
            m = _TOKEN.match(lines[ln], col)
            if m:
                d.range = Range.of(ln, col, ln, m.end())
    diags.sort(key=lambda d: (d.range.start.line, d.range.start.character, d.code))
    return diags
