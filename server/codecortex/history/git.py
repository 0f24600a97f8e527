"""Read-only git access for the history miner: commits, their changed files (one `diff-tree
--stdin` per batch), tree entries, linguist attributes, blame times, and file contents from one
long-lived `cat-file --batch` process. Never the working tree or the index."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from codecortex.cancellation import finish, stop_process

GIT_TIMEOUT = 120.0
CAT_FILE_ROUND = 256  # names asked of `git cat-file --batch` before reading its answers


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
                    await finish(wait_at_most(proc, 5))
        finally:
            await stop_process(proc)


async def wait_at_most(proc: asyncio.subprocess.Process, seconds: float) -> None:
    """Wait for `proc` to exit, at most `seconds` (then TimeoutError)."""
    async with asyncio.timeout(seconds):
        await proc.wait()
