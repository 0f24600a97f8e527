"""Which files of a workspace count: the ones git does not ignore."""

from __future__ import annotations

import asyncio
from pathlib import Path


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
