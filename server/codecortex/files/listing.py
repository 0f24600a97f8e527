"""Which files of a workspace count: inside a git work tree what `git ls-files` lists (so
.gitignore is honoured), elsewhere a walk; never DEFAULT_SKIP_DIRS; source files only (a
tree-sitter grammar), not too large, not binary, valid UTF-8. And which paths git ignores."""

from __future__ import annotations

import asyncio
import os
import shutil
import stat
import subprocess
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from codecortex.syntax.grammars import language_for_path

__all__ = [
    "DEFAULT_SKIP_DIRS",
    "SNIFF_BYTES",
    "SkippedFile",
    "SourceFile",
    "content_problem",
    "iter_source_files",
    "list_workspace_files",
]

DEFAULT_SKIP_DIRS = frozenset(
    {
        ".git",
        ".hg",
        ".svn",
        "node_modules",
        ".venv",
        "venv",
        "__pycache__",
        "build",
        "dist",
        ".tox",
        ".nox",
        ".mypy_cache",
        ".pytest_cache",
        ".ruff_cache",
        ".eggs",
        "site-packages",
    }
)
SNIFF_BYTES = 8192


@dataclass(frozen=True, slots=True)
class SourceFile:
    path: str  # relative to the root, POSIX separators
    abs_path: Path
    language: str
    size: int


@dataclass(frozen=True, slots=True)
class SkippedFile:
    path: str
    reason: str


def _git_files(root: Path) -> list[str] | None:
    if shutil.which("git") is None:
        return None
    try:
        proc = subprocess.run(
            ["git", "ls-files", "-co", "--exclude-standard", "-z"],
            cwd=root,
            capture_output=True,
            timeout=60,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if proc.returncode != 0:
        return None
    if not proc.stdout:
        # an empty listing may mean that root itself is git-ignored (a checkout inside an ignored
        # directory, e.g. a virtualenv or pyenv version): then git has nothing to say about it
        try:
            ignored = subprocess.run(
                ["git", "check-ignore", "-q", "."], cwd=root, capture_output=True, timeout=30
            )
        except (OSError, subprocess.SubprocessError):
            return None
        if ignored.returncode == 0:
            return None
    return [p for p in proc.stdout.decode("utf-8", "surrogateescape").split("\0") if p]


def _walk_files(root: Path, skip_dirs: frozenset[str]) -> Iterator[str]:
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in skip_dirs)
        rel_dir = os.path.relpath(dirpath, root)
        for name in sorted(filenames):
            rel = name if rel_dir == "." else f"{rel_dir}/{name}"
            yield rel.replace(os.sep, "/")


def content_problem(data: bytes) -> str | None:
    if b"\0" in data[:SNIFF_BYTES]:
        return "binary"
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return "not UTF-8"
    return None


def list_workspace_files(
    root: Path, exclude_dirs: Iterable[str] = ()
) -> tuple[Iterable[str], bool]:
    """(relative POSIX paths of the workspace's files, whether git listed them).

    Inside a git work tree: `git ls-files -co --exclude-standard` (so .gitignore is honoured);
    elsewhere a walk. Either way DEFAULT_SKIP_DIRS and `exclude_dirs` are left out."""
    skip_dirs = DEFAULT_SKIP_DIRS | frozenset(exclude_dirs)
    listed = _git_files(root)
    if listed is not None:
        return sorted(p for p in listed if not skip_dirs.intersection(p.split("/")[:-1])), True
    return _walk_files(root, skip_dirs), False


def iter_source_files(
    root: Path | str,
    max_file_size: int = 2_000_000,
    *,
    skipped: list[SkippedFile] | None = None,
    check_content: bool = True,
    exclude_dirs: Iterable[str] = (),
) -> Iterator[SourceFile]:
    """Source files (those with a tree-sitter grammar) under `root`, honouring .gitignore.

    Inside a git work tree the list comes from `git ls-files -co --exclude-standard`; elsewhere a
    walk that skips DEFAULT_SKIP_DIRS (which are also skipped inside git, for untracked virtualenvs).
    Files too large, binary or not UTF-8 are not yielded; with `skipped` given, each is recorded
    there with its reason. `check_content=False` leaves the binary/UTF-8 check to the caller.
    """
    root = Path(root)
    names, in_git = list_workspace_files(root, exclude_dirs)
    for rel in names:
        language = language_for_path(rel)
        if language is None:
            continue
        abs_path = root / rel
        try:
            st = abs_path.stat()
        except OSError as exc:
            if skipped is not None and not in_git:
                skipped.append(SkippedFile(rel, f"unreadable: {exc.strerror or exc}"))
            continue  # a deleted-but-tracked file in git mode
        if not stat.S_ISREG(st.st_mode):  # `is_file()` from the same stat
            continue
        size = st.st_size
        if size > max_file_size:
            if skipped is not None:
                skipped.append(SkippedFile(rel, f"too large ({size} bytes > {max_file_size})"))
            continue
        if check_content:
            try:
                data = abs_path.read_bytes()
            except OSError as exc:
                if skipped is not None:
                    skipped.append(SkippedFile(rel, f"unreadable: {exc.strerror or exc}"))
                continue
            problem = content_problem(data)
            if problem is not None:
                if skipped is not None:
                    skipped.append(SkippedFile(rel, problem))
                continue
        yield SourceFile(rel, abs_path, language, size)


async def git_ignored(paths: list[Path]) -> set[Path]:
    """The paths among `paths` that git ignores (`git check-ignore`; none without git)."""
    if not paths:
        return set()
    try:
        proc = await asyncio.create_subprocess_exec(
            "git",
            "check-ignore",
            "--stdin",
            cwd=paths[0].parent if paths[0].parent.exists() else None,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
        )
        out, _ = await proc.communicate("\n".join(str(p) for p in paths).encode())
    except OSError:
        return set()
    return {Path(line) for line in out.decode().splitlines() if line}
