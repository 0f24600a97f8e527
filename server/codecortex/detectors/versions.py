"""Check many versions of one file with one ruff run, each as if it were the file itself.

Verifying replayed fixes checks the same document many times (the original and one edited text
per candidate fix). One ruff process per text costs a process start, a configuration lookup
and, on this machine, most of the verification time. Here every text is written to a folder of
its own that mirrors the file's place in the file system, and one `ruff check` lints them all:

- every directory from `/` down to the file's own is a real directory in each mirror, so ruff
  finds the configuration files (`pyproject.toml`, `ruff.toml`, `.ruff.toml`, copied) and the
  package markers (`__init__.py`, copied) where they are, and the relative paths in the
  configuration — `per-file-ignores`, `src`, `extend` — resolve in the mirror as they do in the
  project;
- from the project root down, every other entry is a symbolic link to the real one, so what
  ruff looks up beside the file (first-party modules under `src`, sibling packages, a
  configuration that another one extends) exists;
- the text itself sits at the file's own path inside the mirror, with the real file's mode.

ruff runs from the project root, as `run_on_text` does, without a cache (the mirrors are
temporary). A text's diagnostics are the same as `run_on_text` gives for it (tests/
test_verify_batch.py holds the two side by side under a project configuration). When the batch
cannot run (ruff fails, the configuration is not reachable from the mirror) the caller falls
back to one run per text.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import stat
import tempfile
from collections.abc import Iterable
from pathlib import Path

from codecortex.detectors import parsers
from codecortex.detectors.parsers import DetectorOutputError
from codecortex.diagnostics import Diagnostic

__all__ = ["ruff_on_versions"]

_MARK = "codecortex-versions-"
# ruff's configuration files and package markers: present at every level, copied
COPIED_NAMES = frozenset(
    {"pyproject.toml", "ruff.toml", ".ruff.toml", "__init__.py", "__init__.pyi"}
)


def _scratch_base() -> str | None:
    """Where the mirrors go: a memory file system when there is one (creating directories on
    a journaling disk costs ~0.6 ms each here, on tmpfs ~6 µs), else the temporary folder."""
    for candidate in (os.environ.get("XDG_RUNTIME_DIR"), "/dev/shm"):
        if candidate and os.path.isdir(candidate) and os.access(candidate, os.W_OK | os.X_OK):
            return candidate
    return None


def _levels(path: Path) -> list[Path]:
    """The directories from `/` down to the one holding `path` (lexically, as ruff sees it)."""
    parent = Path(os.path.abspath(path)).parent
    return [*reversed(parent.parents), parent]


def _plan(path: Path, root: Path) -> list[tuple[Path, list[tuple[str, bool]]]]:
    """For each level: the entries a mirror holds there, (name, copied) — copied for
    configuration and package markers, linked for everything else from `root` down."""
    levels = _levels(path)
    root = Path(os.path.abspath(root))
    out: list[tuple[Path, list[tuple[str, bool]]]] = []
    for i, level in enumerate(levels):
        below_root = level == root or root in level.parents
        skip = levels[i + 1].name if i + 1 < len(levels) else path.name
        entries: list[tuple[str, bool]] = []
        try:
            names = os.listdir(level)
        except OSError:
            names = []
        for name in names:
            if name == skip:
                continue
            if name in COPIED_NAMES:
                if os.path.isfile(level / name):
                    entries.append((name, True))
            elif below_root:
                entries.append((name, False))
        out.append((level, entries))
    return out


def _build(scratch: Path, path: Path, root: Path, texts: list[str]) -> list[Path]:
    """Write one mirror per text under `scratch`; returns the files to lint, in order."""
    plan = _plan(path, root)
    try:
        mode = stat.S_IMODE(os.stat(path).st_mode)
    except OSError:
        mode = None
    name = Path(os.path.abspath(path)).name
    files = []
    for n, text in enumerate(texts):
        base = scratch / str(n)
        for level, entries in plan:
            mirror = base / level.relative_to(level.anchor)
            mirror.mkdir(parents=True, exist_ok=True)
            for entry, copied in entries:
                if copied:
                    shutil.copyfile(level / entry, mirror / entry)
                else:
                    os.symlink(level / entry, mirror / entry)
        target = base / plan[-1][0].relative_to(plan[-1][0].anchor) / name
        target.write_text(text, encoding="utf-8", errors="surrogatepass")
        if mode is not None:
            os.chmod(target, mode)
        files.append(target)
    return files


async def ruff_on_versions(
    exe: str,
    texts: list[str],
    path: Path,
    root: Path,
    *,
    select: Iterable[str] = (),
    timeout: float = 20,
) -> list[list[Diagnostic] | None]:
    """ruff's diagnostics for each of `texts` as the contents of `path` (one ruff run), in the
    order of `texts`; None for a text whose report names its mirror (a message quoting the
    file's path: check that one alone). `select`: rule codes checked in addition to the
    configured ones. Raises DetectorOutputError when the batch cannot run; the caller checks
    the texts one by one then."""
    from codecortex.detectors.process import run_tool
    from codecortex.detectors.text import extend_select_args, finish_text_diagnostics

    scratch = Path(tempfile.mkdtemp(prefix=_MARK, dir=_scratch_base()))
    try:
        try:
            files = await asyncio.to_thread(_build, scratch, path, root, texts)
        except OSError as exc:
            raise DetectorOutputError(
                f"ruff: could not write the versions to check: {exc}"
            ) from exc
        argv = [exe, "check", "--output-format=json", "--no-fix", "--exit-zero", "--quiet"]
        argv += ["--no-cache", *extend_select_args(select), *map(str, files)]
        rc, out, err = await run_tool(argv, root, timeout, "ruff")
        found = parsers.parse_ruff(out, err, rc, root)
        result: list[list[Diagnostic] | None] = []
        for file, text in zip(files, texts, strict=True):
            diags = found.pop(file.resolve(), [])
            if any(_MARK in d.message for d in diags):
                result.append(None)
            else:
                result.append(finish_text_diagnostics(diags, text))
        if found:  # a report for a file that is not one of ours: the mirror leaked
            raise DetectorOutputError(f"ruff reported {next(iter(found))} outside the versions")
        return result
    finally:
        await asyncio.to_thread(shutil.rmtree, scratch, True)
