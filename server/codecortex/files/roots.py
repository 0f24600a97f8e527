"""Who the developer is and what a workspace folder is (git root, remote, branch, HEAD)."""

from __future__ import annotations

import asyncio
import getpass
import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlparse

from codecortex.cancellation import stop_process
from codecortex.syntax.grammars import language_for_path


async def git(root: Path, *args: str, timeout: float = 10) -> str | None:
    """Output of a git command in `root`, or None when git or the repository is not there."""
    try:
        proc = await asyncio.create_subprocess_exec(
            "git",
            *args,
            cwd=root,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
        )
    except OSError:
        return None
    try:
        async with asyncio.timeout(timeout):
            out, _ = await proc.communicate()
    except TimeoutError:
        await stop_process(proc)
        return None
    except asyncio.CancelledError:
        await stop_process(proc)
        raise
    if proc.returncode != 0:
        return None
    return out.decode("utf-8", "replace").strip()


async def user_name(configured: str, cwd: Path | None = None) -> tuple[str, str | None]:
    """(identity, email): the `user` setting, else git user.email, else the OS user."""
    if configured:
        return configured, configured if "@" in configured else None
    email = await git(cwd or Path.cwd(), "config", "user.email")
    if email:
        return email, email
    try:
        return getpass.getuser(), None
    except (KeyError, OSError):
        return os.environ.get("USER", "developer"), None


@dataclass
class RepoInfo:
    root: Path
    name: str
    remote: str | None
    branch: str | None
    head: str | None


async def repo_info(folder: Path) -> RepoInfo:
    top = await git(folder, "rev-parse", "--show-toplevel")
    root = Path(top) if top else folder
    remote = await git(root, "config", "--get", "remote.origin.url") if top else None
    branch = await git(root, "rev-parse", "--abbrev-ref", "HEAD") if top else None
    head = await git(root, "rev-parse", "HEAD") if top else None
    return RepoInfo(root.resolve(), root.name, remote, branch, head)


def uri_to_path(uri: str) -> Path | None:
    parsed = urlparse(uri)
    if parsed.scheme != "file":
        return None
    path = unquote(parsed.path)
    if "\x00" in path:  # no file has such a name (and os calls would raise on it)
        return None
    return Path(path)


def path_to_uri(path: Path | str) -> str:
    return Path(path).resolve().as_uri()


def language_of(path: Path | None, language_id: str | None) -> str | None:
    from codecortex.syntax.grammars import normalise_language

    return normalise_language(language_id) or (language_for_path(path) if path else None)
