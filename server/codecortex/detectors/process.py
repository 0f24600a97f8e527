"""A detector's process: started in its own process group with plain (colourless, UTF-8)
output, given a timeout, and stopped with whatever it spawned when it times out or its caller is
cancelled; where it may keep its cache."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from codecortex.cancellation import stop_process
from codecortex.detectors.parsers import DetectorOutputError


async def kill(proc: asyncio.subprocess.Process) -> None:
    """Stop a tool and whatever it spawned (its process group), and reap it."""
    await stop_process(proc, group=True)


async def run_tool(
    argv: list[str], cwd: Path, limit: float, tool: str, *, stdin: bytes | None = None
) -> tuple[int, str, str]:
    """(exit status, stdout, stderr) of a tool run from `cwd`, at most `limit` seconds, reading
    `stdin` (else nothing). DetectorOutputError when it cannot start or times out."""
    env = dict(os.environ, NO_COLOR="1", CARGO_TERM_COLOR="never", PYTHONIOENCODING="utf-8")
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv,
            cwd=str(cwd),
            stdin=asyncio.subprocess.DEVNULL if stdin is None else asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=env,
            start_new_session=True,  # its own process group, so a timeout can stop helpers too
        )
    except OSError as exc:
        raise DetectorOutputError(f"{tool} could not be started: {exc}") from exc
    try:
        async with asyncio.timeout(limit):
            out, err = await proc.communicate(stdin)
    except TimeoutError:
        await kill(proc)
        raise DetectorOutputError(f"{tool} timed out after {limit:g} s") from None
    except asyncio.CancelledError:
        await kill(proc)
        raise
    rc = proc.returncode if proc.returncode is not None else -1
    return rc, out.decode("utf-8", "replace"), err.decode("utf-8", "replace")


def cache_args(tool: str, root: Path) -> list[str]:
    """Where a tool may keep its cache: in the project as usual, or nowhere when the project
    cannot be written (a read-only checkout: ruff would fail on its cache and report nothing)."""
    if os.access(root, os.W_OK):
        return []
    return ["--no-cache"] if tool == "ruff" else ["--cache-dir", os.devnull]
