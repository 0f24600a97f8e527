"""The history miner's detector stage: each commit side's file versions not checked yet are
written into a snapshot folder of their own (the files at their repository paths under the
commit's configuration and package markers, as in a checkout of those files) and checked; each
version is checked once (results cached by path, blob sha and configuration). ruff (or pyflakes)
checks all of a batch's folders in one process, finding each file's configuration in its folder;
mypy runs in each folder (it reads its configuration where it runs), `workers` at a time."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import tempfile
import tomllib
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from codecortex.cancellation import to_the_end
from codecortex.detectors import DetectorRun, run_detectors
from codecortex.diagnostics import Diagnostic
from codecortex.history.filters import Op
from codecortex.history.git import Change, Commit
from codecortex.history.options import PER_FILE_TOOLS, HistoryOptions, HistoryReport
from codecortex.memory.signatures import normalise_tool

CONFIG_FILES = (
    "pyproject.toml",
    "ruff.toml",
    ".ruff.toml",
    "setup.cfg",
    "mypy.ini",
    ".mypy.ini",
    "tox.ini",
)


@dataclass
class FilePair:
    change: Change
    language: str | None
    old_text: str
    new_text: str
    ops: list[Op] = field(default_factory=list)  # line opcodes from old_text to new_text


@dataclass
class Prepared:
    commit: Commit
    files: list[FilePair]
    skip: str | None = None
    config: dict[str, bytes] = field(default_factory=dict)  # repo path -> content (child's)
    config_key: str = ""


@dataclass
class Checked:
    tools: frozenset[str]  # detectors (normalised names) that checked this version
    diagnostics: list[Diagnostic]


VersionKey = tuple[str, str, str]  # path, blob sha, config key
# One snapshot to check: the commit whose configuration applies and the versions (path, blob,
# text) of one side of it that were not checked yet.
Snapshot = tuple[Prepared, list[tuple[str, str, str]]]


def module_dirs(path: str) -> list[str]:
    parent = PurePosixPath(path).parent
    return [str(d) for d in (parent, *parent.parents) if str(d) != "."]


class VersionChecks:
    """Checks the versions of prepared commits with the chosen detectors (`tools`, run from
    `executables`), once each: the results are in `cache`."""

    def __init__(self, options: HistoryOptions, report: HistoryReport, workers: int) -> None:
        self.options = options
        self.report = report
        self.workers = workers
        self.tools: list[str] = []
        self.executables: dict[str, str] = {}
        self.cache: dict[VersionKey, Checked] = {}
        self.scheduled: set[VersionKey] = set()  # versions being checked or checked
        self.scratch = Path(tempfile.gettempdir())  # where mypy caches are kept during a run

    def schedule(self, prepared: list[Prepared]) -> list[Snapshot]:
        """The snapshots (one per commit side) of the versions not checked or being checked."""
        snapshots: list[Snapshot] = []
        for item in prepared:
            if item.skip:
                continue
            for side in ("old", "new"):
                todo: list[tuple[str, str, str]] = []
                for f in item.files:
                    path = f.change.old_path if side == "old" else f.change.new_path
                    blob = f.change.old_blob if side == "old" else f.change.new_blob
                    key = (path, blob, item.config_key)
                    if key in self.scheduled:
                        self.report.versions_cached += 1
                        continue
                    self.scheduled.add(key)
                    todo.append((path, blob, f.old_text if side == "old" else f.new_text))
                if todo:
                    snapshots.append((item, todo))
        return snapshots

    async def check(self, snapshots: list[Snapshot], batch_dir: Path) -> None:
        """Check every snapshot of a batch, each in its own folder under `batch_dir` (its files
        at their repository paths below the commit's configuration, as before in a checkout).
        Tools that look at each file alone (ruff, pyflakes) run once over all the folders; mypy
        runs in each folder (it reads its configuration from the folder it runs in)."""
        if not snapshots:
            return
        per_file = [t for t in self.tools if t in PER_FILE_TOOLS]
        # A file without a ruff configuration of its own is checked by ruff with its defaults,
        # the Python version of the pyproject.toml in the folder where ruff runs and that folder
        # as the project's root: such a snapshot gets a configuration that says just that (its
        # pyproject.toml with an empty [tool.ruff] section, or an empty ruff.toml) and is checked
        # with the others, as if ruff ran from its folder; when that is not sure, it is checked
        # from its own folder, as from the root of a checkout.
        overrides: dict[int, dict[str, bytes]] = {}
        alone: set[int] = set()
        if "ruff" in per_file:
            for n, (item, todo) in enumerate(snapshots):
                if all(ruff_configured(item.config, path) for path, _, _ in todo):
                    continue
                defaults = ruff_defaults_config(item.config)
                if defaults is None:
                    alone.add(n)
                else:
                    overrides[n] = defaults
        dirs = await to_the_end(fill_batch, batch_dir, snapshots, overrides)
        try:
            runs: list[tuple[list[Path], DetectorRun]] = []
            pairs = list(zip(dirs, snapshots, strict=True))
            if per_file:
                together = [n for n in range(len(pairs)) if n not in alone]
                files = [
                    d / path for d, (_, todo) in (pairs[n] for n in together) for path, _, _ in todo
                ]
                if files:
                    run = await self._run_tools(files, batch_dir, per_file, report_errors=False)
                    if run.errors:  # (one snapshot's broken configuration stops ruff for all)
                        alone.update(together)
                    else:
                        runs.append((files, run))
                if alone:
                    limit = asyncio.Semaphore(self.workers)

                    async def from_folder(d: Path, todo: list[tuple[str, str, str]]) -> None:
                        files = [d / path for path, _, _ in todo]
                        async with limit:
                            runs.append((files, await self._run_tools(files, d, per_file)))

                    await asyncio.gather(
                        *(from_folder(d, todo) for n, (d, (_, todo)) in enumerate(pairs)
                          if n in alone)
                    )  # fmt: skip
            per_folder = [t for t in self.tools if t not in PER_FILE_TOOLS]
            if per_folder:
                caches: asyncio.Queue[Path] = asyncio.Queue()
                for i in range(self.workers):
                    caches.put_nowait(self.scratch / f"mypy-cache-{i}")

                async def in_folder(d: Path, todo: list[tuple[str, str, str]]) -> None:
                    files = [d / path for path, _, _ in todo]
                    cache = await caches.get()  # one process at a time per cache
                    try:
                        cache.mkdir(exist_ok=True)
                        (d / ".mypy_cache").symlink_to(cache, target_is_directory=True)
                        runs.append((files, await self._run_tools(files, d, per_folder)))
                    finally:
                        caches.put_nowait(cache)

                await asyncio.gather(*(in_folder(d, todo) for d, (_, todo) in pairs))
            self._store_checked(dirs, snapshots, runs)
        finally:
            await to_the_end(shutil.rmtree, batch_dir, True)

    async def _run_tools(
        self, files: list[Path], root: Path, tools: list[str], *, report_errors: bool = True
    ) -> DetectorRun:
        run = await run_detectors(
            files,
            root=root,
            tools=tools,
            timeout=self.options.detector_timeout,
            max_file_size=self.options.max_file_size,
            executables=self.executables,
        )
        for tool, error in run.errors.items() if report_errors else ():
            self.report.tool_errors.setdefault(tool, error.splitlines()[0][:300] if error else "")
        return run

    def _store_checked(
        self,
        dirs: list[Path],
        snapshots: list[Snapshot],
        runs: list[tuple[list[Path], DetectorRun]],
    ) -> None:
        tools_of: dict[Path, set[str]] = defaultdict(set)
        found: dict[Path, list[Diagnostic]] = defaultdict(list)
        for _files, run in runs:
            for tool, checked in run.checked.items():
                for target in checked:
                    tools_of[target].add(normalise_tool(tool))
            for target, diags in run.diagnostics.items():
                found[target].extend(diags)
        for d, (item, todo) in zip(dirs, snapshots, strict=True):
            for path, blob, _ in todo:
                target = (d / path).resolve()
                diags = sorted(
                    found.get(target, []),
                    key=lambda x: (x.range.start.line, x.range.start.character, x.source, x.code),
                )
                self.report.versions_checked += 1
                self.cache[(path, blob, item.config_key)] = Checked(
                    frozenset(tools_of.get(target, ())), diags
                )


_RUFF_SECTION = re.compile(rb"^\s*\[tool\.ruff[\].]", re.MULTILINE)


def ruff_configured(config: dict[str, bytes], path: str) -> bool:
    """Whether ruff finds a configuration of the project's for `path` (a ruff.toml, .ruff.toml
    or pyproject.toml with a [tool.ruff] section in its folder or above), given the commit's
    configuration files (repository path -> content)."""
    for d in [*module_dirs(path), ""]:
        prefix = f"{d}/" if d else ""
        if f"{prefix}ruff.toml" in config or f"{prefix}.ruff.toml" in config:
            return True
        pyproject = config.get(f"{prefix}pyproject.toml")
        if pyproject is not None and _RUFF_SECTION.search(pyproject):
            return True
    return False


def _user_ruff_config() -> bool:
    """Whether a user-level ruff configuration exists (ruff uses it for files without a
    configuration of the project's)."""
    homes = [Path.home() / ".config", Path.home() / "Library" / "Application Support"]
    for var in ("XDG_CONFIG_HOME", "APPDATA"):
        if os.environ.get(var):
            homes.append(Path(os.environ[var]))
    names = ("ruff.toml", ".ruff.toml", "pyproject.toml")
    return any((home / "ruff" / name).is_file() for home in homes for name in names)


def ruff_defaults_config(config: dict[str, bytes]) -> dict[str, bytes] | None:
    """The configuration files that make ruff check a snapshot folder's unconfigured files as
    when it runs from that folder: its defaults, the folder as the project's root, and the
    target version of the folder's pyproject.toml (its `requires-python`), which ruff reads from
    a pyproject.toml that has a [tool.ruff] section as from the one where it runs. None when
    the result could differ: a user-level ruff configuration (used only without a project's),
    or a pyproject.toml that is not valid TOML or configures ruff in a way the section pattern
    missed."""
    if _user_ruff_config():
        return None
    pyproject = config.get("pyproject.toml")
    if pyproject is None:
        return {"ruff.toml": b""}
    try:
        tool = tomllib.loads(pyproject.decode("utf-8")).get("tool")
    except (UnicodeDecodeError, tomllib.TOMLDecodeError):
        return None
    if isinstance(tool, dict) and "ruff" in tool:
        return None
    return {"pyproject.toml": pyproject.rstrip() + b"\n\n[tool.ruff]\n"}


def fill_batch(
    batch_dir: Path, snapshots: list[Snapshot], overrides: dict[int, dict[str, bytes]]
) -> list[Path]:
    """Write each snapshot into a folder of its own: the commit's configuration and package
    markers (with `overrides[n]`'s files instead, for snapshot n), then the versions to check,
    at their repository paths. Returns the folders."""
    dirs: list[Path] = []
    for n, (item, files) in enumerate(snapshots):
        d = batch_dir / f"s{n}"
        for path, data in {**item.config, **overrides.get(n, {})}.items():
            target = d / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        for path, _blob, text in files:
            target = d / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8", newline="")
        dirs.append(d)
    return dirs
