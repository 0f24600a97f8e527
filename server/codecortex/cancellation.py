"""Cancellation that leaves nothing running: work that must not be abandoned half-way (a thread
writing or removing files, a child process being stopped, a task being cancelled) is waited for
to its end even when the caller is cancelled meanwhile, and the cancellation is re-raised after.

Ctrl-C and SIGTERM cancel the CLI's main task (see `codecortex.cli.main`); with these helpers,
every `finally` below it runs to completion before the scratch folders it guards are removed.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, TypeVar

T = TypeVar("T")


async def finish(awaitable: Awaitable[T]) -> T:
    """Await `awaitable` to its end. Cancelled meanwhile, it keeps waiting for it, then raises
    CancelledError whatever the work's outcome (the work is not cancelled: it finishes)."""
    future = asyncio.ensure_future(awaitable)
    cancelled = False
    while not future.done():
        try:
            await asyncio.wait([future])  # (asyncio.wait never cancels what it waits for)
        except asyncio.CancelledError:
            cancelled = True
    if cancelled:
        if not future.cancelled():
            future.exception()  # retrieved: asyncio would log it as never retrieved
        raise asyncio.CancelledError
    return future.result()


async def to_the_end(fn: Callable[..., T], *args: Any) -> T:
    """`fn(*args)` on a worker thread. Cancelled meanwhile, it waits for the thread before it
    re-raises, so that no file is written or removed after the caller has cleaned up."""
    return await finish(asyncio.to_thread(fn, *args))


async def cancel_and_wait(tasks: Iterable[asyncio.Future[Any]]) -> None:
    """Cancel `tasks` and wait until every one has ended (their own cleanup included), even if
    the caller is cancelled meanwhile (then CancelledError is raised after). Their results and
    errors are dropped: the caller is already ending with an error or a cancellation of its own."""
    pending = [t for t in tasks if not t.done()]
    for t in pending:
        t.cancel()
    try:
        await finish(asyncio.gather(*pending, return_exceptions=True))
    finally:
        for t in tasks:  # retrieved: asyncio would log them as never retrieved
            if t.done() and not t.cancelled():
                t.exception()


async def stop_process(proc: asyncio.subprocess.Process, *, group: bool = False) -> None:
    """Kill `proc` (and its process group when it leads one) unless it has exited, close our
    ends of its pipes, and wait until it is reaped, even if cancelled meanwhile (CancelledError
    is raised after).

    Closing the pipes matters: asyncio's `Process.wait()` returns only once the process has
    exited *and* its pipes are closed, and a pipe whose reader was cancelled (`communicate()`
    interrupted) stops being read when its buffer fills (128 KiB: one batch's ruff report, one
    `diff-tree` of 64 commits), so its end of file is never seen and `wait()` never returns.
    (learn-history hung that way after Ctrl-C or SIGTERM, about once in 50 interrupts.)"""
    if proc.returncode is None:
        try:
            if group:
                os.killpg(proc.pid, signal.SIGKILL)
            else:
                proc.kill()
        except (ProcessLookupError, PermissionError):
            # exited already (or its group is gone): the leader may still need reaping
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
    transport = getattr(proc, "_transport", None)  # asyncio keeps no public handle on it
    if transport is not None:
        transport.close()
    await finish(proc.wait())
