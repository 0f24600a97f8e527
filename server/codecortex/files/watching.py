"""Files changed outside the editor (git checkout, generators), from watchfiles.

`changed_files` yields batches of the changed files worth a look (docs and source files outside
the skipped directories, not ignored by git), a new directory standing for the files in it."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from codecortex.files.listing import git_ignored
from codecortex.syntax.grammars import language_for_path

log = logging.getLogger(__name__)


def _interesting(
    skip_dirs: frozenset[str] | set[str], doc_suffixes: frozenset[str] | set[str]
) -> Callable[[Any, str], bool]:
    from watchfiles import Change

    def interesting(change: Any, path: str) -> bool:
        p = Path(path)
        if any(part in skip_dirs for part in p.parts):
            return False
        if p.suffix.lower() in doc_suffixes or language_for_path(p) is not None:
            return True
        # A new directory: files written into it before its watch existed raise no event.
        return bool(change == Change.added and p.is_dir())

    return interesting


async def changed_files(
    roots: list[str], skip_dirs: frozenset[str] | set[str], doc_suffixes: frozenset[str] | set[str]
) -> AsyncIterator[set[Path]]:
    """Batches of changed files under `roots` that git does not ignore."""
    from watchfiles import Change

    interesting = _interesting(skip_dirs, doc_suffixes)

    def expand(changes: Any) -> set[Path]:
        found: set[Path] = set()
        for _change, name in changes:
            path = Path(name)
            if path.is_dir():
                found.update(p for p in path.rglob("*") if interesting(Change.modified, str(p)))
            else:
                found.add(path)
        return found

    async for changes in _watch(roots, interesting):
        # a new directory is walked on a worker thread: it may hold a checkout's worth of files
        found = await asyncio.to_thread(expand, changes)
        found -= await git_ignored(sorted(found))
        yield found


async def _watch(roots: list[str], watch_filter: Callable[[Any, str], bool]) -> AsyncIterator[Any]:
    """watchfiles on a daemon thread of our own, its batches handed to the event loop.

    (watchfiles' awatch runs on AnyIO's worker threads, which are not daemons and idle on for
    10 s: every server exit would wait for them.)"""
    from watchfiles import watch

    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[Any] = asyncio.Queue()
    stop = threading.Event()

    def deliver(item: Any) -> None:
        try:
            loop.call_soon_threadsafe(queue.put_nowait, item)
        except RuntimeError:  # the event loop is gone: stop watching
            stop.set()

    def run() -> None:
        try:
            for changes in watch(
                *roots, watch_filter=watch_filter, debounce=400, step=100, stop_event=stop
            ):
                deliver(changes)
        except Exception as exc:  # a root vanished, too many watches: stop watching, say why
            deliver(exc)

    threading.Thread(target=run, name="codecortex-watch", daemon=True).start()
    try:
        while True:
            item = await queue.get()
            if isinstance(item, Exception):
                log.warning("watching for file changes stopped: %s", item)
                return
            yield item
    finally:
        stop.set()
