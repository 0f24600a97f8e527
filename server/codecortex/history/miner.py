"""Learn from git history: bootstrap the problem memory from fixes already in a repository.

For each commit (oldest first, merges skipped) and each changed file in a language with a
detector, the detectors run on the parent and the child versions of the file, read from git objects
into a scratch directory (never the working tree), together with the child commit's tool
configuration (pyproject.toml, ruff.toml, setup.cfg, mypy.ini, ...) and the package markers
(`__init__.py`) above the files, at their repository-relative paths so the configuration applies.
Every problem present in the parent and gone in the child within a changed hunk is a resolved
problem; `learn_change` extracts the change that fixed it and it is stored as a past solution
(source `git`, commit sha, author, commit date) with the same signature and embedding as a live one.

Noise is filtered: merge commits, vendored and generated files (paths such as `vendor/`,
`third_party/`, `node_modules/`, `*_pb2.py`, `*.min.js`; headers such as "@generated" or
"DO NOT EDIT"; `linguist-vendored`/`linguist-generated` attributes), mass reformatting commits (most
hunks change only whitespace, quotes or trailing commas), fixes inside hunks larger than
`max_diff_lines`, and files over the size limit.

Each file version is checked once (results cached by path, blob sha and configuration). Commits
go in batches of `batch_commits` (64) through a pipeline: while one batch's new versions are
checked, the next is read from git (one `diff-tree --stdin` for its changes, one long-lived
`cat-file --batch` for contents and configuration) and the previous one is learned from. Each
commit side of a batch is written to a folder of its own (its files at their repository paths
under the commit's configuration and package markers, as in a checkout of those files), and one
ruff (or pyflakes) process checks all of the batch's folders, on every core; ruff finds each
file's configuration in its folder, so a file is reported as it would be alone. mypy is opt-in
(`tools`), and runs in each folder (it reads its configuration where it runs), `workers` at a
time. The run records its progress (`github_repos.last_synced_sha`) with every commit whose
fixes it stores, in the same transaction, and at the end of every batch, so an interrupted run
continues where it stopped (at worst mining again commits that taught nothing), and a past
solution is stored once (deduplicated by content), so mining the same commits twice adds nothing.

The detectors see the changed files of one commit side, not the whole tree: imports of unchanged
modules are unresolved for mypy in both versions alike (so never learned as fixes), and types
that come from them are unknown. Tools that need a whole project (cargo) are not run.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import re
import shutil
import socket
import tempfile
import time
import tomllib
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path, PurePosixPath
from typing import Any

from codecortex.cancellation import cancel_and_wait, finish, stop_process, to_the_end
from codecortex.config import Settings, load_project_config
from codecortex.detectors import TOOLS, DetectorRun, find_executable, run_detectors
from codecortex.diagnostics import Diagnostic, Range
from codecortex.files.text import decode_text
from codecortex.jobs import Handler, JobContext, PermanentJobError
from codecortex.memory.learning import LearnedChange, learn_change, line_opcodes, not_a_fix
from codecortex.memory.problem_memory import Identity, Memory, content_sha, problem_context
from codecortex.memory.signatures import (
    Signature,
    classify_problem_type,
    compute_signature,
    normalise_tool,
)
from codecortex.store import history as history_store
from codecortex.store import identity as identity_store
from codecortex.store import jobs as job_queue
from codecortex.syntax.grammars import language_for_path, syntax_error_count

log = logging.getLogger(__name__)

JOB_TYPE = "learn_history"
LEASE_SECONDS = 300.0  # progress is reported after every commit; a batch's checks may be slow
# Detectors that give a meaningful answer on single files in a scratch directory.
HISTORY_TOOLS = ("ruff", "mypy", "pyflakes")
# Run unless the tools are named (`--tools`, [tool.codecortex] detectors): mypy checks each
# commit's files for seconds where ruff takes milliseconds, so it is opt-in for history.
DEFAULT_HISTORY_TOOLS = ("ruff", "pyflakes")
# Detectors whose report on a file depends only on the file and the configuration above it: the
# versions of many commits are checked by one process of them.
PER_FILE_TOOLS = ("ruff", "pyflakes")
PROGRESS_SECONDS = 0.5  # progress is reported at most this often (and at the end)
CONFIG_FILES = (
    "pyproject.toml",
    "ruff.toml",
    ".ruff.toml",
    "setup.cfg",
    "mypy.ini",
    ".mypy.ini",
    "tox.ini",
)
VENDORED_DIRS = {
    "vendor",
    "vendors",
    "vendored",
    "_vendor",
    "third_party",
    "third-party",
    "thirdparty",
    "external",
    "extern",
    "node_modules",
    "site-packages",
    "bower_components",
    ".venv",
    "venv",
    "__generated__",
    "generated",
}
GENERATED_NAME = re.compile(
    r"(_pb2(_grpc)?\.pyi?|\.pb\.go|\.min\.js|\.bundle\.js|_generated\.\w+|\.generated\.\w+)$"
)
GENERATED_HEADER = re.compile(
    r"@generated|do not edit|auto-?generated|automatically generated|code generated by"
    r"|generated by (?:the )?(?:protoc|protocol buffer|swig|cython|thrift|django)",
    re.IGNORECASE,
)
REFORMAT_MIN_HUNKS = 4
GIT_TIMEOUT = 120.0
CAT_FILE_ROUND = 256  # names asked of `git cat-file --batch` before reading its answers


# --------------------------------------------------------------------------- options, report


@dataclass
class HistoryOptions:
    branch: str | None = None  # default: HEAD
    since: str | None = None  # anything `git log --since` accepts
    max_commits: int | None = None  # at most this many commits in this run (oldest first)
    tools: list[str] | None = None  # default: DEFAULT_HISTORY_TOOLS that are installed
    max_file_size: int = 2_000_000
    max_diff_lines: int = 60
    batch_commits: int = 64  # commits read, checked (one detector process) and learned together
    workers: int = 0  # 0: one per CPU core
    detector_timeout: float = 120.0

    @classmethod
    def from_settings(cls, settings: Settings, **kw: Any) -> HistoryOptions:
        return cls(
            max_file_size=settings.max_file_size, max_diff_lines=settings.max_diff_lines, **kw
        )

    def to_payload(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_payload(cls, data: dict[str, Any]) -> HistoryOptions:
        names = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in data.items() if k in names})


@dataclass
class HistoryReport:
    head: str | None = None
    last_synced_sha: str | None = None
    commits_pending: int = 0  # commits not mined yet when the run started
    commits_total: int = 0  # commits this run was to mine
    commits_done: int = 0
    commits_skipped: dict[str, int] = field(default_factory=dict)
    files_changed: int = 0  # changed files in a detector's language
    files_skipped: dict[str, int] = field(default_factory=dict)
    versions_checked: int = 0  # file versions the detectors ran on
    versions_cached: int = 0  # file versions answered from the cache
    problems_gone: int = 0
    not_learned: dict[str, int] = field(default_factory=dict)
    solutions_learned: int = 0
    solutions_known: int = 0  # learned, but already stored (an earlier run or a live fix)
    tools: list[str] = field(default_factory=list)
    tool_errors: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0
    up_to_date: bool = False

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["seconds"] = round(self.seconds, 3)
        return data


ProgressFn = Callable[[float, str], Awaitable[None]]
ConnectionFactory = Callable[[], AbstractAsyncContextManager[Any]]


# --------------------------------------------------------------------------- git


class GitError(Exception):
    pass


@dataclass
class Commit:
    sha: str
    parents: list[str]
    author: str
    time: int  # author time, seconds since the epoch
    subject: str

    @property
    def when(self) -> datetime:
        return datetime.fromtimestamp(self.time, UTC)


@dataclass
class Change:
    status: str  # M or R
    old_path: str
    new_path: str
    old_blob: str
    new_blob: str


def _raw_changes(parts: list[bytes]) -> list[Change]:
    """Modified (or renamed with changes) regular files from `diff-tree -r -z` output split at
    NUL bytes."""
    changes: list[Change] = []
    i = 0
    while i < len(parts) - 1:
        meta = parts[i].decode("utf-8", "replace")
        if not meta.startswith(":"):
            i += 1
            continue
        fields = meta[1:].split()
        status = fields[4]
        if status[0] in "RC":
            old, new = parts[i + 1], parts[i + 2]
            i += 3
        else:
            old = new = parts[i + 1]
            i += 2
        if status[0] not in "MR" or not fields[0].startswith("100"):
            continue  # added, deleted, copied, type changes, submodules, symlinks
        if not fields[1].startswith("100"):
            continue
        changes.append(
            Change(
                status[0],
                old.decode("utf-8", "surrogateescape"),
                new.decode("utf-8", "surrogateescape"),
                fields[2],
                fields[3],
            )
        )
    return changes


class Git:
    """Read-only access to a repository's objects (never its working tree or index)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._cat: asyncio.subprocess.Process | None = None
        self._cat_lock = asyncio.Lock()

    async def run(self, *args: str, input: bytes | None = None, ok: Iterable[int] = (0,)) -> bytes:
        proc = await asyncio.create_subprocess_exec(
            "git",
            *args,
            cwd=self.root,
            stdin=asyncio.subprocess.PIPE if input is not None else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env={**os.environ, "GIT_OPTIONAL_LOCKS": "0", "LC_ALL": "C"},
        )
        try:
            async with asyncio.timeout(GIT_TIMEOUT):
                out, err = await proc.communicate(input)
        except BaseException:  # timed out, cancelled (Ctrl-C, SIGTERM): stopped and reaped
            await stop_process(proc)
            raise
        if proc.returncode not in set(ok):
            raise GitError(
                f"git {' '.join(args[:3])} failed: {err.decode('utf-8', 'replace').strip()}"
            )
        return out

    async def resolve(self, rev: str) -> str | None:
        try:
            out = await self.run("rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}")
        except GitError:
            return None
        return out.decode().strip() or None

    async def commits(self, head: str, exclude: str | None, since: str | None) -> list[Commit]:
        """Commits reachable from `head` and not from `exclude`, oldest first (topological)."""
        args = [
            "log",
            "--reverse",
            "--topo-order",
            "--format=%H%x00%P%x00%an <%ae>%x00%at%x00%s%x1e",
        ]
        if since:
            args.append(f"--since={since}")
        args.append(head)
        if exclude:
            args.append(f"^{exclude}")
        out = (await self.run(*args, "--")).decode("utf-8", "replace")
        commits = []
        for record in out.split("\x1e"):
            record = record.strip("\n")
            if not record:
                continue
            sha, parents, author, at, subject = record.split("\x00", 4)
            commits.append(Commit(sha, parents.split(), author, int(at or 0), subject))
        return commits

    async def changes(self, parent: str, child: str) -> list[Change]:
        """Files modified (or renamed with changes) between two commits."""
        out = await self.run("diff-tree", "-r", "-z", "-M", "--no-commit-id", parent, child)
        return _raw_changes(out.split(b"\x00"))

    async def changes_many(self, commits: Sequence[Commit]) -> dict[str, list[Change]]:
        """`changes(parent, commit)` of single-parent commits, from one git process."""
        if not commits:
            return {}
        wanted = {c.sha for c in commits}
        lines = "".join(f"{c.sha} {c.parents[0]}\n" for c in commits).encode()
        out = await self.run("diff-tree", "--stdin", "-r", "-z", "-M", input=lines)
        found: dict[str, list[bytes]] = {sha: [] for sha in wanted}
        current: list[bytes] | None = None
        for part in out.split(b"\x00"):
            # a commit's header is its sha (it leads every line of input with changes)
            if len(part) == 40 and not part.startswith(b":") and part.decode() in wanted:
                current = found[part.decode()]
                current.clear()
            elif current is not None:
                current.append(part)
        return {sha: _raw_changes([*parts, b""]) for sha, parts in found.items()}

    async def tree_entries(self, commit: str, paths: list[str]) -> dict[str, str]:
        """path -> blob sha for those of `paths` (literal) that exist in `commit`."""
        if not paths:
            return {}
        out = await self.run(
            "--literal-pathspecs", "ls-tree", "-z", "--full-tree", commit, "--", *paths
        )
        found: dict[str, str] = {}
        for entry in out.split(b"\x00"):
            if not entry:
                continue
            meta, _, path = entry.partition(b"\t")
            mode, kind, sha = meta.decode().split()
            if kind == "blob" and mode.startswith("100"):
                found[path.decode("utf-8", "surrogateescape")] = sha
        return found

    async def attributes(self, paths: list[str]) -> dict[str, set[str]]:
        """Which of linguist-vendored / linguist-generated are set for each path."""
        if not paths:
            return {}
        data = b"".join(p.encode("utf-8", "surrogateescape") + b"\x00" for p in paths)
        try:
            out = await self.run(
                "check-attr", "-z", "--stdin", "linguist-vendored", "linguist-generated",
                input=data,
            )  # fmt: skip
        except GitError:
            return {}
        parts = out.split(b"\x00")
        result: dict[str, set[str]] = defaultdict(set)
        for i in range(0, len(parts) - 2, 3):
            path, attr, value = (p.decode("utf-8", "surrogateescape") for p in parts[i : i + 3])
            if value in ("set", "true"):
                result[path].add(attr)
        return result

    async def blob(self, sha: str) -> bytes:
        (found,) = await self._objects([sha])
        if found is None:
            raise GitError(f"cannot read blob {sha}: missing")
        return found[1]

    async def blobs_at(self, commit: str, paths: Sequence[str]) -> dict[str, tuple[str, bytes]]:
        """path -> (blob sha, content) for those of `paths` that are files in `commit`."""
        names = [f"{commit}:{p}" for p in paths]
        found: dict[str, tuple[str, bytes]] = {}
        for start in range(0, len(names), CAT_FILE_ROUND):
            chunk = names[start : start + CAT_FILE_ROUND]
            for path, obj in zip(
                paths[start : start + CAT_FILE_ROUND], await self._objects(chunk), strict=True
            ):
                if obj is not None:
                    found[path] = obj
        return found

    async def _objects(self, names: Sequence[str]) -> list[tuple[str, bytes] | None]:
        """(sha, content) of each named blob (a sha or `commit:path`), None when there is no
        such blob, from one long-lived `git cat-file --batch` (all names asked, then read)."""
        async with self._cat_lock:
            if self._cat is None or self._cat.returncode is not None:
                self._cat = await asyncio.create_subprocess_exec(
                    "git", "cat-file", "--batch", cwd=self.root,
                    stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
                    stderr=asyncio.subprocess.DEVNULL, limit=1 << 20,
                )  # fmt: skip
            proc = self._cat
            assert proc.stdin is not None and proc.stdout is not None
            try:
                proc.stdin.write(
                    b"".join(n.encode("utf-8", "surrogateescape") + b"\n" for n in names)
                )
                await proc.stdin.drain()
                out: list[tuple[str, bytes] | None] = []
                for name in names:
                    header = (await proc.stdout.readline()).decode("utf-8", "replace").split()
                    if len(header) == 3 and header[2].isdigit():
                        data = (await proc.stdout.readexactly(int(header[2]) + 1))[:-1]
                        out.append((header[0], data) if header[1] == "blob" else None)
                    elif header[-1:] in (["missing"], ["ambiguous"]):
                        out.append(None)
                    else:
                        raise GitError(f"cannot read {name}: {' '.join(header)}")
            except BaseException:
                # stopped half-way through its answers (cancelled, or git failed): the stream is
                # out of step, so this process is stopped and the next call starts another
                self._cat = None
                await stop_process(proc)
                raise
            return out

    async def blame_time(self, commit: str, path: str, first: int, last: int) -> int | None:
        """Latest author time of lines first..last (1-based) of `path` at `commit`."""
        try:
            out = await self.run(
                "blame", "--porcelain", "-L", f"{first},{last}", commit, "--", path
            )
        except GitError:
            return None
        times = [int(m) for m in re.findall(rb"^author-time (\d+)$", out, re.MULTILINE)]
        return max(times) if times else None

    async def close(self) -> None:
        """Ends the `cat-file` process (asked to, then killed after 5 s) and reaps it."""
        proc, self._cat = self._cat, None
        if proc is None:
            return
        try:
            if proc.returncode is None and proc.stdin is not None:
                proc.stdin.close()
                with contextlib.suppress(TimeoutError):
                    await finish(_wait_at_most(proc, 5))
        finally:
            await stop_process(proc)


def _stop_if_cancelled() -> None:
    """Honour a cancellation of this task (Ctrl-C, SIGTERM) that an await below swallowed, at
    the next commit: Python 3.11's `asyncio.wait_for`, for one, returns its work's result when
    that work ends just as the task is cancelled (this module uses `asyncio.timeout` instead)."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


async def _wait_at_most(proc: asyncio.subprocess.Process, seconds: float) -> None:
    """Wait for `proc` to exit, at most `seconds` (then TimeoutError)."""
    async with asyncio.timeout(seconds):
        await proc.wait()


# --------------------------------------------------------------------------- noise filters


def vendored_or_generated_path(path: str) -> str | None:
    p = PurePosixPath(path)
    if any(part in VENDORED_DIRS for part in p.parts[:-1]):
        return "vendored"
    if GENERATED_NAME.search(p.name):
        return "generated"
    return None


def generated_header(text: str) -> bool:
    head = "\n".join(text.splitlines()[:8])[:2000]
    return bool(GENERATED_HEADER.search(head))


_TRAILING_COMMA = re.compile(r",(?=[)\]}])")


def _layout_free(lines: list[str]) -> str:
    """The text of some lines without layout: whitespace, quote style and trailing commas."""
    text = "".join("".join(line.split()) for line in lines).replace("'", '"')
    return _TRAILING_COMMA.sub("", text)


def hunks(before: list[str], after: list[str]) -> list[tuple[str, int, int, int, int]]:
    return [op for op in line_opcodes(before, after) if op[0] != "equal"]


def layout_only_hunks(
    before: list[str], after: list[str], ops: Sequence[Op] | None = None
) -> tuple[int, int]:
    """(hunks, of which layout-only) between two versions of a file (`ops`: their line opcodes
    when already computed)."""
    found = hunks(before, after) if ops is None else [op for op in ops if op[0] != "equal"]
    layout = sum(
        1
        for _, i1, i2, j1, j2 in found
        if _layout_free(before[i1:i2]) == _layout_free(after[j1:j2])
    )
    return len(found), layout


def is_reformatting(counts: Iterable[tuple[int, int]]) -> bool:
    """Most hunks of the commit change only layout."""
    total = layout = 0
    for t, n in counts:
        total += t
        layout += n
    return total >= REFORMAT_MIN_HUNKS and layout * 2 > total


# --------------------------------------------------------------------------- the miner

Op = tuple[str, int, int, int, int]


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


@lru_cache(maxsize=1 << 16)
def _signature(
    source: str, code: str | int | None, message: str, language: str | None
) -> Signature:
    """compute_signature, remembered: a report usually stays the same over many versions."""
    return compute_signature(source, code, message, language)


def _module_dirs(path: str) -> list[str]:
    parent = PurePosixPath(path).parent
    return [str(d) for d in (parent, *parent.parents) if str(d) != "."]


class HistoryMiner:
    """Mines one repository's history for one identity. Use `await miner.run()`.

    `git` may be another source of commits with the same interface (the GitHub sync passes
    merged pull requests read through the REST API); `solution_source` is what stored
    solutions say they were learned from."""

    solution_source = "git"

    def __init__(
        self,
        root: Path,
        memory: Memory,
        ident: Identity,
        connection: ConnectionFactory,
        options: HistoryOptions | None = None,
        progress: ProgressFn | None = None,
        git: Git | None = None,
    ) -> None:
        self.root = root.resolve()
        self.memory = memory
        self.ident = ident
        self.connection = connection
        self.options = options or HistoryOptions()
        self.progress = progress
        self.git = git or Git(self.root)
        self.report = HistoryReport()
        self.cache: dict[VersionKey, Checked] = {}
        self.scheduled: set[VersionKey] = set()  # versions being checked or checked
        self.attributes: dict[str, set[str]] = {}  # path -> linguist attributes set
        self.tools: list[str] = []
        self.executables: dict[str, str] = {}
        self.extensions: set[str] = set()
        self.project = load_project_config(self.root, self.root)
        self.workers = max(1, self.options.workers or os.cpu_count() or 2)
        self.last_progress = 0.0
        self.unsynced: str | None = None  # last commit done whose progress is not stored yet
        self.scratch = Path(tempfile.gettempdir())  # set by run(): where snapshots are written

    # --- setup ----------------------------------------------------------------------------

    def _choose_tools(self) -> None:
        wanted = self.options.tools or list(DEFAULT_HISTORY_TOOLS)
        asked = self.options.tools is not None
        if not asked and self.project.detectors is not None:
            wanted, asked = list(self.project.detectors), True  # the project's own choice
        if not asked and find_executable("ruff", self.root):
            wanted = [t for t in wanted if t != "pyflakes"]  # ruff includes its checks
        for tool in wanted:
            if tool not in HISTORY_TOOLS:
                self.report.tool_errors[tool] = "not supported for history (needs a whole project)"
                continue
            exe = find_executable(tool, self.root)
            if exe is None:
                self.report.tool_errors[tool] = "not installed"
                continue
            self.tools.append(tool)
            self.executables[tool] = exe
            self.extensions.update(TOOLS[tool].extensions)
        self.report.tools = list(self.tools)

    async def run(self) -> HistoryReport:
        started = time.monotonic()
        try:
            await self._run()
        finally:
            await self.git.close()
            self.report.seconds = time.monotonic() - started
        return self.report

    async def _run(self) -> None:
        opts = self.options
        if await self.git.resolve("HEAD") is None and opts.branch is None:
            raise GitError(f"{self.root} has no commits")
        head = await self.git.resolve(opts.branch or "HEAD")
        if head is None:
            raise GitError(f"no such branch or commit: {opts.branch}")
        self.report.head = head
        async with self.connection() as conn:
            repo = await identity_store.get_repo(conn, self.ident.repo_id)
        last = (repo or {}).get("last_synced_sha")
        if last and await self.git.resolve(last) is None:
            last = None  # rewritten history: start again (stored solutions are deduplicated)
        self.report.last_synced_sha = last
        commits = await self.git.commits(head, last, opts.since)
        self.report.commits_pending = len(commits)
        if opts.max_commits is not None:
            commits = commits[: max(opts.max_commits, 0)]
        self.report.commits_total = len(commits)
        if not commits:
            self.report.up_to_date = True
            await self._progress(1.0, "up to date")
            return
        self._choose_tools()
        with tempfile.TemporaryDirectory(
            prefix="codecortex-history-", ignore_cleanup_errors=True
        ) as tmp:
            await self._progress(0.0, f"0/{len(commits)} commits")
            self.scratch = Path(tmp)
            await self._mine(commits, Path(tmp))

    async def _mine(self, commits: list[Commit], scratch: Path) -> None:
        """A pipeline over batches of commits: while batch k's new versions are checked (the
        detectors' own processes), batch k+1 is read from git and batch k-1's fixes learned."""
        size = max(self.options.batch_commits, 1)
        batches = [commits[i : i + size] for i in range(0, len(commits), size)]
        tasks: list[asyncio.Task[Any]] = []
        try:
            reading = asyncio.create_task(self._prepare_batch(batches[0]))
            tasks.append(reading)
            previous: tuple[list[Prepared], asyncio.Task[None]] | None = None
            for k in range(len(batches)):
                _stop_if_cancelled()
                prepared = await reading
                snapshots = self._schedule(prepared)
                checking = asyncio.create_task(self._check(snapshots, scratch / f"b{k}"))
                tasks.append(checking)
                if k + 1 < len(batches):
                    reading = asyncio.create_task(self._prepare_batch(batches[k + 1]))
                    tasks.append(reading)
                if previous is not None:
                    await self._learn_batch(*previous)
                previous = (prepared, checking)
                tasks = [t for t in tasks if not t.done()]
            if previous is not None:
                await self._learn_batch(*previous)
        finally:
            # on an error or a cancellation: the other stages stopped and waited for (their
            # tools reaped, their threads done) before the scratch folder is removed
            await cancel_and_wait(tasks)

    async def _learn_batch(self, prepared: list[Prepared], checking: asyncio.Task[None]) -> None:
        await checking
        for item in prepared:
            _stop_if_cancelled()
            await self._learn_commit(item)
        if self.unsynced is not None:
            async with self.connection() as conn:
                await identity_store.set_last_synced(conn, self.ident.repo_id, self.unsynced)
            self.unsynced = None

    async def _progress(self, fraction: float, message: str) -> None:
        if self.progress is not None:
            await self.progress(fraction, message)

    def _skip_commit(self, reason: str) -> None:
        self.report.commits_skipped[reason] = self.report.commits_skipped.get(reason, 0) + 1

    def _skip_file(self, reason: str) -> None:
        self.report.files_skipped[reason] = self.report.files_skipped.get(reason, 0) + 1

    # --- preparing commits: changed files, their texts, the configuration ----------------------

    async def _prepare_batch(self, batch: list[Commit]) -> list[Prepared]:
        changed: dict[str, list[Change]] = {}
        if self.tools:
            changed = await self.git.changes_many([c for c in batch if len(c.parents) == 1])
            paths = {
                c.new_path
                for cs in changed.values()
                for c in cs
                if os.path.splitext(c.new_path)[1] in self.extensions
            }
            unknown = sorted(p for p in paths if p not in self.attributes)
            found = await self.git.attributes(unknown)
            for p in unknown:
                self.attributes[p] = set(found.get(p, ()))
        return [await self._prepare(c, changed.get(c.sha, [])) for c in batch]

    async def _prepare(self, commit: Commit, all_changes: list[Change]) -> Prepared:
        if len(commit.parents) > 1:
            return Prepared(commit, [], "merge")
        if not commit.parents:
            return Prepared(commit, [], "root commit")
        if not self.tools:
            return Prepared(commit, [], "no detector installed")
        changes = [
            c
            for c in all_changes
            if os.path.splitext(c.new_path)[1] in self.extensions
            and not self.project.ignores(self.root / c.new_path)
        ]
        if not changes:
            return Prepared(commit, [], "no modified source file")
        files: list[FilePair] = []
        counts: list[tuple[int, int]] = []
        for change in changes:
            self.report.files_changed += 1
            reason = vendored_or_generated_path(change.new_path)
            attrs = self.attributes.get(change.new_path)
            if reason is None and attrs:
                reason = "generated" if "linguist-generated" in attrs else "vendored"
            if reason:
                self._skip_file(reason)
                continue
            old_data = await self.git.blob(change.old_blob)
            new_data = await self.git.blob(change.new_blob)
            if max(len(old_data), len(new_data)) > self.options.max_file_size:
                self._skip_file("over the size limit")
                continue
            (old_text, _), (new_text, _) = decode_text(old_data), decode_text(new_data)
            if old_text is None or new_text is None:
                self._skip_file("binary or not UTF-8")
                continue
            if generated_header(new_text) or generated_header(old_text):
                self._skip_file("generated")
                continue
            old_lines = old_text.splitlines(keepends=True)
            new_lines = new_text.splitlines(keepends=True)
            ops = line_opcodes(old_lines, new_lines)
            counts.append(layout_only_hunks(old_lines, new_lines, ops))
            files.append(
                FilePair(change, language_for_path(change.new_path), old_text, new_text, ops)
            )
        if not files:
            return Prepared(commit, [], "only vendored, generated or unreadable files")
        if is_reformatting(counts):
            return Prepared(commit, [], "reformatting")
        # the child's configuration and package markers, for both versions
        wanted: list[str] = []
        for f in files:
            for path in (f.change.old_path, f.change.new_path):
                for d in _module_dirs(path):
                    wanted.extend(f"{d}/{name}" for name in CONFIG_FILES)
                    wanted.append(f"{d}/__init__.py")
        wanted.extend(CONFIG_FILES)
        entries = await self.git.blobs_at(commit.sha, sorted(set(wanted)))
        config = {p: data for p, (_sha, data) in sorted(entries.items())}
        config_key = hashlib.sha1(
            "\n".join(
                f"{p}:{sha}"
                for p, (sha, _data) in sorted(entries.items())
                if not p.endswith("__init__.py")
            ).encode()
        ).hexdigest()[:16]
        return Prepared(commit, files, None, config, config_key)

    # --- running the detectors on the versions not seen yet ------------------------------------

    def _schedule(self, prepared: list[Prepared]) -> list[Snapshot]:
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

    async def _check(self, snapshots: list[Snapshot], batch_dir: Path) -> None:
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
                if all(_ruff_configured(item.config, path) for path, _, _ in todo):
                    continue
                defaults = _ruff_defaults_config(item.config)
                if defaults is None:
                    alone.add(n)
                else:
                    overrides[n] = defaults
        dirs = await to_the_end(_fill_batch, batch_dir, snapshots, overrides)
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

    # --- learning: problems of the parent version gone in the child ----------------------------

    async def _learn_commit(self, item: Prepared) -> None:
        commit = item.commit
        learned: list[tuple[dict[str, Any], LearnedChange, int | None]] = []
        if item.skip:
            self._skip_commit(item.skip)
        else:
            for f in item.files:
                learned.extend(await self._learn_file(item, f))
        if not learned:
            # nothing to store: the batch's end records the progress (a run stopped before it
            # mines these commits again and, learning nothing from them, adds nothing)
            self.unsynced = commit.sha
            await self._commit_done()
            return
        async with self.connection() as conn:
            async with conn.transaction():
                for problem, change, seconds in learned:
                    chash = content_sha(
                        "\x00".join([problem["problem_signature"], change.before, change.after])
                    )
                    before = await history_store.solution_exists(conn, self.ident.user_id, chash)
                    solution_id = await self.memory.save_solution(
                        conn,
                        self.ident,
                        problem,
                        change,
                        seconds,
                        source=self.solution_source,
                        commit_sha=commit.sha,
                        author=commit.author,
                    )
                    if before:
                        self.report.solutions_known += 1
                    else:
                        self.report.solutions_learned += 1
                        await history_store.set_committed_at(conn, solution_id, commit.when)
                await identity_store.set_last_synced(conn, self.ident.repo_id, commit.sha)
        self.unsynced = None
        await self._commit_done()

    async def _commit_done(self) -> None:
        self.report.commits_done += 1
        done, total = self.report.commits_done, self.report.commits_total
        now = time.monotonic()
        if done == total or now - self.last_progress >= PROGRESS_SECONDS:
            self.last_progress = now
            await self._progress(
                done / total,
                f"{done}/{total} commits, {self.report.solutions_learned} fixes learned",
            )

    async def _learn_file(
        self, item: Prepared, f: FilePair
    ) -> list[tuple[dict[str, Any], LearnedChange, int | None]]:
        old = self.cache.get((f.change.old_path, f.change.old_blob, item.config_key))
        new = self.cache.get((f.change.new_path, f.change.new_blob, item.config_key))
        if old is None or new is None:
            return []
        tools = old.tools & new.tools
        if not tools:
            return []

        def sigs(diags: list[Diagnostic]) -> list[tuple[Diagnostic, Signature]]:
            return [
                (d, _signature(d.source, d.code, d.message, f.language))
                for d in diags
                if normalise_tool(d.source) in tools
            ]

        ops = f.ops
        old_sigs, new_sigs = sigs(old.diagnostics), sigs(new.diagnostics)
        gone = _gone(old_sigs, new_sigs, ops)
        new_problems = _appeared(old_sigs, new_sigs)
        found: list[tuple[dict[str, Any], LearnedChange, Diagnostic]] = []
        if gone and f.language and syntax_error_count(f.new_text, f.language) > 0:
            # a syntax error hides the other problems: they are not fixed
            self.report.problems_gone += len(gone)
            self._not_learned("the new version does not parse")
            return []
        for diag, sig in gone:
            self.report.problems_gone += 1
            reason = _hunk_too_large(ops, diag.range, self.options.max_diff_lines)
            if reason:
                self._not_learned(reason)
                continue
            context = problem_context(f.old_text, f.language, diag.range)
            change = learn_change(
                f.old_text,
                f.new_text,
                diag.range,
                f.language,
                max_diff_lines=self.options.max_diff_lines,
                symbol_hint=context.get("symbol_path"),
                names=[p.value for p in sig.values],
                opcodes=ops,
            )
            if not isinstance(change, LearnedChange):
                self._not_learned(_reason_kind(change.reason))
                continue
            why_not = not_a_fix(
                change,
                f.old_text,
                diag.range,
                sig.tool,
                diag.code,
                [p.value for p in sig.values],
                new_problems,
            )
            if why_not is not None:
                self._not_learned(_reason_kind(why_not))
                continue
            problem = {
                "id": None,
                "problem_signature": sig.key,
                "signature_values": [p.value for p in sig.values],
                "problem_type": classify_problem_type(sig, diag.severity),
                "tool": sig.tool,
                "code": sig.code,
                "language": f.language,
                "file_path": str(self.root / f.change.new_path),
                "error_message": diag.message,
                "context": context,
            }
            found.append((problem, change, diag))
        if not found:
            return []
        # when each problem appeared: `git blame` of its lines in the parent, in parallel
        limit = asyncio.Semaphore(self.workers)

        async def appeared(diag: Diagnostic) -> int | None:
            async with limit:
                return await self.git.blame_time(
                    item.commit.parents[0],
                    f.change.old_path,
                    diag.range.start.line + 1,
                    max(diag.range.start.line, _last_line(diag.range)) + 1,
                )

        times = await asyncio.gather(*(appeared(diag) for _, _, diag in found))
        return [
            (problem, change, max(0, item.commit.time - (when or item.commit.time)))
            for (problem, change, _), when in zip(found, times, strict=True)
        ]

    def _not_learned(self, reason: str) -> None:
        self.report.not_learned[reason] = self.report.not_learned.get(reason, 0) + 1


_RUFF_SECTION = re.compile(rb"^\s*\[tool\.ruff[\].]", re.MULTILINE)


def _ruff_configured(config: dict[str, bytes], path: str) -> bool:
    """Whether ruff finds a configuration of the project's for `path` (a ruff.toml, .ruff.toml
    or pyproject.toml with a [tool.ruff] section in its folder or above), given the commit's
    configuration files (repository path -> content)."""
    for d in [*_module_dirs(path), ""]:
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


def _ruff_defaults_config(config: dict[str, bytes]) -> dict[str, bytes] | None:
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


def _fill_batch(
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


def _last_line(rng: Range) -> int:
    el = rng.end.line
    if rng.end.character == 0 and el > rng.start.line:
        el -= 1
    return el


def _gone(
    old: list[tuple[Diagnostic, Signature]],
    new: list[tuple[Diagnostic, Signature]],
    ops: Sequence[tuple[str, int, int, int, int]],
) -> list[tuple[Diagnostic, Signature]]:
    """Problems of the old version with no equal problem (signature and values) in the new one,
    pairing each new problem with the old one nearest to its line mapped back to the old text."""

    def back(line: int) -> int:
        for tag, i1, _i2, j1, j2 in ops:
            if j1 <= line < j2 or (j1 == j2 == line):
                return i1 + (line - j1) if tag == "equal" else i1
        return line

    pool: dict[tuple[str, tuple[str, ...]], list[tuple[Diagnostic, Signature]]] = defaultdict(list)
    for d, s in old:
        pool[(s.key, tuple(p.value for p in s.values))].append((d, s))
    for d, s in sorted(new, key=lambda x: x[0].range.start.line):
        candidates = pool.get((s.key, tuple(p.value for p in s.values)))
        if not candidates:
            continue
        line = back(d.range.start.line)
        best = min(candidates, key=lambda x: abs(x[0].range.start.line - line))
        candidates.remove(best)
    gone = [x for xs in pool.values() for x in xs]
    gone.sort(key=lambda x: (x[0].range.start.line, x[0].range.start.character, x[1].key))
    return gone


def _appeared(
    old: list[tuple[Diagnostic, Signature]], new: list[tuple[Diagnostic, Signature]]
) -> list[Diagnostic]:
    """Problems of the new version that the old one did not have (more of them than before:
    every report of such a signature and values counts)."""
    count: dict[tuple[str, tuple[str, ...]], int] = defaultdict(int)
    for _d, s in old:
        count[(s.key, tuple(p.value for p in s.values))] += 1
    by_key: dict[tuple[str, tuple[str, ...]], list[Diagnostic]] = defaultdict(list)
    for d, s in new:
        by_key[(s.key, tuple(p.value for p in s.values))].append(d)
    return [d for k, ds in by_key.items() if len(ds) > count[k] for d in ds]


def _hunk_too_large(
    ops: Sequence[tuple[str, int, int, int, int]], rng: Range, limit: int
) -> str | None:
    sl, el = rng.start.line, _last_line(rng)
    for tag, i1, i2, j1, j2 in ops:
        if tag == "equal":
            continue
        if i1 <= el + 1 and max(i1, i2) >= sl - 1 and (i2 - i1) + (j2 - j1) > limit:
            return "hunk too large"
    return None


def _reason_kind(reason: str) -> str:
    """Group learn_change's reasons for the report (drop the numbers)."""
    return re.sub(r"\s*\(.*?\)|\d+", "", reason).strip()


# --------------------------------------------------------------------------- the job


def job_payload(root: Path, options: HistoryOptions, visibility: str) -> dict[str, Any]:
    return {"root": str(root), "options": options.to_payload(), "visibility": visibility}


def _worker_alive(locked_by: str | None) -> bool:
    """Whether the worker that holds a job still runs (unknown for other hosts: assume yes)."""
    if not locked_by:
        return False
    host, _, rest = locked_by.partition(":")
    pid_text = rest.partition(":")[0]
    if host != socket.gethostname() or not pid_text.isdigit():
        return True
    try:
        os.kill(int(pid_text), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


async def enqueue_learn_history(
    conn: Any, ident: Identity, root: Path, options: HistoryOptions
) -> str:
    """Queue mining of `root` (one job per repository at a time). A job left unfinished by an
    interrupted or dead process is taken over, with these options, and runnable at once.
    Returns the job id."""
    payload = job_payload(root, options, ident.visibility)
    job_id = await job_queue.enqueue(
        conn,
        JOB_TYPE,
        payload,
        dedupe_key=f"{JOB_TYPE}:{ident.repo_id}",
        user_id=ident.user_id,
        repo_id=ident.repo_id,
        max_attempts=10,
    )
    job = await job_queue.get_job(conn, job_id)
    if job is not None and (
        job.status == "pending" or (job.status == "running" and not _worker_alive(job.locked_by))
    ):
        await history_store.release_job(conn, job_id, payload)
    return job_id


def make_job_handler(settings: Settings, memory: Memory | None = None) -> Handler:
    """The `learn_history` job: payload {root, options, visibility}; the job's user and repo."""

    async def learn_history(ctx: JobContext) -> dict[str, Any]:
        payload = ctx.payload
        root = Path(str(payload.get("root") or ""))
        if not root.is_dir():
            raise PermanentJobError(f"no such repository: {root}")
        options = HistoryOptions.from_payload(dict(payload.get("options") or {}))
        ident = Identity(
            ctx.job.user_id,
            "",
            ctx.job.repo_id,
            str(payload.get("visibility") or settings.default_visibility),
        )
        miner = HistoryMiner(
            root, memory or Memory(settings), ident, ctx.connection, options, ctx.progress
        )
        try:
            report = await miner.run()
        except GitError as exc:
            raise PermanentJobError(str(exc)) from exc
        return report.to_json()

    return learn_history
