"""The detectors known (`TOOLS`: program, where to look for it, file extensions) and where their
programs are: the project's node_modules, the running interpreter's or the project's venv, PATH,
~/.cargo/bin; whether cargo has a working toolchain."""

from __future__ import annotations

import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

PY_EXT = (".py", ".pyi")
TS_EXT = (".ts", ".tsx", ".mts", ".cts")
JS_EXT = (".js", ".jsx", ".mjs", ".cjs", ".ts", ".tsx", ".mts", ".cts")
RS_EXT = (".rs",)


@dataclass(frozen=True)
class Tool:
    name: str
    program: str
    family: str  # "python" | "node" | "cargo": where to look for the executable
    extensions: tuple[str, ...]


TOOLS: dict[str, Tool] = {
    "ruff": Tool("ruff", "ruff", "python", PY_EXT),
    "mypy": Tool("mypy", "mypy", "python", PY_EXT),
    "pyflakes": Tool("pyflakes", "pyflakes", "python", PY_EXT),
    "tsc": Tool("tsc", "tsc", "node", TS_EXT),
    "eslint": Tool("eslint", "eslint", "node", JS_EXT),
    "cargo": Tool("cargo", "cargo", "cargo", RS_EXT),
}
ALL_EXTENSIONS = frozenset(e for t in TOOLS.values() for e in t.extensions)


def _is_exe(p: Path) -> bool:
    return p.is_file() and os.access(p, os.X_OK)


def find_executable(tool: str, root: Path | None = None) -> str | None:
    """Path of a tool: node tools from the project's node_modules/.bin (or an ancestor's), Python
    tools next to the running interpreter (its venv) or in the project's .venv, then PATH."""
    spec = TOOLS[tool]
    candidates: list[Path] = []
    if spec.family == "node" and root is not None:
        for d in (root, *root.parents):
            candidates.append(d / "node_modules" / ".bin" / spec.program)
    if spec.family == "python":
        candidates.append(Path(sys.executable).parent / spec.program)
        if root is not None:
            candidates.append(root / ".venv" / "bin" / spec.program)
    for c in candidates:
        if _is_exe(c):
            return str(c)
    found = shutil.which(spec.program)
    if found:
        return found
    if spec.family == "cargo":
        home = Path.home() / ".cargo" / "bin" / spec.program
        if _is_exe(home):
            return str(home)
    return None


def cargo_toolchain(exe: str | None = None) -> tuple[str | None, str]:
    """(cargo's path, its version) when cargo runs, else (None, why not): rustup's cargo proxy
    is on PATH without a default toolchain on many machines. Blocking (a few ms)."""
    import subprocess

    exe = exe or find_executable("cargo")
    if exe is None:
        return None, "not installed"
    try:
        proc = subprocess.run(
            [exe, "--version"], capture_output=True, text=True, timeout=20, check=False
        )
    except (OSError, subprocess.SubprocessError) as exc:
        return None, f"{exe} does not run ({exc})"
    if proc.returncode != 0:
        lines = (proc.stderr or proc.stdout).strip().splitlines()
        reason = lines[0] if lines else f"exit status {proc.returncode}"
        return None, f"no working toolchain ({reason})"
    return exe, proc.stdout.strip()


def available_detectors(root: Path | None = None) -> dict[str, str | None]:
    """Tool name -> executable path, or None when not installed (for `codecortex doctor`)."""
    root = root.resolve() if root is not None else None
    return {name: find_executable(name, root) for name in TOOLS}
