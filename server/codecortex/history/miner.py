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

The stages live in modules of their own: git access (`git`), options (`options`), reading and
filtering commits (`prepare`, with the noise filters of `filters`), the detector stage
(`checks`), the problem comparison (`fixes`) and the job (`job`).
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import time
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

from codecortex.cancellation import cancel_and_wait
from codecortex.config import load_project_config
from codecortex.detectors import TOOLS, find_executable
from codecortex.diagnostics import Diagnostic
from codecortex.history.checks import FilePair, Prepared, VersionChecks
from codecortex.history.fixes import (
    appeared_problems,
    cached_signature,
    gone_problems,
    hunk_too_large,
    last_line,
    reason_kind,
)
from codecortex.history.git import Commit, Git, GitError
from codecortex.history.options import (
    DEFAULT_HISTORY_TOOLS,
    HISTORY_TOOLS,
    HistoryOptions,
    HistoryReport,
)
from codecortex.history.prepare import CommitReader
from codecortex.memory.identity import Identity
from codecortex.memory.learning import LearnedChange, learn_change
from codecortex.memory.observe import content_sha, problem_context
from codecortex.memory.problem_memory import Memory
from codecortex.memory.real_fix import not_a_fix
from codecortex.memory.signatures import Signature, classify_problem_type, normalise_tool
from codecortex.store import history as history_store
from codecortex.store import identity as identity_store
from codecortex.syntax.grammars import syntax_error_count

PROGRESS_SECONDS = 0.5  # progress is reported at most this often (and at the end)

ProgressFn = Callable[[float, str], Awaitable[None]]
ConnectionFactory = Callable[[], AbstractAsyncContextManager[Any]]


def stop_if_cancelled() -> None:
    """Honour a cancellation of this task (Ctrl-C, SIGTERM) that an await below swallowed, at
    the next commit: Python 3.11's `asyncio.wait_for`, for one, returns its work's result when
    that work ends just as the task is cancelled (this module uses `asyncio.timeout` instead)."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


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
        self.extensions: set[str] = set()
        self.project = load_project_config(self.root, self.root)
        self.workers = max(1, self.options.workers or os.cpu_count() or 2)
        self.checks = VersionChecks(self.options, self.report, self.workers)
        self.last_progress = 0.0
        self.unsynced: str | None = None  # last commit done whose progress is not stored yet

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
            self.checks.tools.append(tool)
            self.checks.executables[tool] = exe
            self.extensions.update(TOOLS[tool].extensions)
        self.report.tools = list(self.checks.tools)

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
            self.checks.scratch = Path(tmp)
            await self._mine(commits, Path(tmp))

    async def _mine(self, commits: list[Commit], scratch: Path) -> None:
        """A pipeline over batches of commits: while batch k's new versions are checked (the
        detectors' own processes), batch k+1 is read from git and batch k-1's fixes learned."""
        reader = CommitReader(
            self.git, self.root, self.project, self.options, self.report, self.checks.tools,
            self.extensions,
        )  # fmt: skip
        size = max(self.options.batch_commits, 1)
        batches = [commits[i : i + size] for i in range(0, len(commits), size)]
        tasks: list[asyncio.Task[Any]] = []
        try:
            reading = asyncio.create_task(reader.prepare_batch(batches[0]))
            tasks.append(reading)
            previous: tuple[list[Prepared], asyncio.Task[None]] | None = None
            for k in range(len(batches)):
                stop_if_cancelled()
                prepared = await reading
                snapshots = self.checks.schedule(prepared)
                checking = asyncio.create_task(self.checks.check(snapshots, scratch / f"b{k}"))
                tasks.append(checking)
                if k + 1 < len(batches):
                    reading = asyncio.create_task(reader.prepare_batch(batches[k + 1]))
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
            stop_if_cancelled()
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
        old = self.checks.cache.get((f.change.old_path, f.change.old_blob, item.config_key))
        new = self.checks.cache.get((f.change.new_path, f.change.new_blob, item.config_key))
        if old is None or new is None:
            return []
        tools = old.tools & new.tools
        if not tools:
            return []

        def sigs(diags: list[Diagnostic]) -> list[tuple[Diagnostic, Signature]]:
            return [
                (d, cached_signature(d.source, d.code, d.message, f.language))
                for d in diags
                if normalise_tool(d.source) in tools
            ]

        ops = f.ops
        old_sigs, new_sigs = sigs(old.diagnostics), sigs(new.diagnostics)
        gone = gone_problems(old_sigs, new_sigs, ops)
        new_problems = appeared_problems(old_sigs, new_sigs)
        found: list[tuple[dict[str, Any], LearnedChange, Diagnostic]] = []
        if gone and f.language and syntax_error_count(f.new_text, f.language) > 0:
            # a syntax error hides the other problems: they are not fixed
            self.report.problems_gone += len(gone)
            self._not_learned("the new version does not parse")
            return []
        for diag, sig in gone:
            self.report.problems_gone += 1
            reason = hunk_too_large(ops, diag.range, self.options.max_diff_lines)
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
                self._not_learned(reason_kind(change.reason))
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
                self._not_learned(reason_kind(why_not))
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
                    max(diag.range.start.line, last_line(diag.range)) + 1,
                )

        times = await asyncio.gather(*(appeared(diag) for _, _, diag in found))
        return [
            (problem, change, max(0, item.commit.time - (when or item.commit.time)))
            for (problem, change, _), when in zip(found, times, strict=True)
        ]

    def _not_learned(self, reason: str) -> None:
        self.report.not_learned[reason] = self.report.not_learned.get(reason, 0) + 1
