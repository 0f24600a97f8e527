"""The benchmarks in bench/ (documented in bench/README.md) start: each answers --help, so a
module they import that moved or lost a name fails here, not when someone measures."""

from __future__ import annotations

import subprocess
import sys

import pytest
from conftest import ROOT

SCRIPTS = sorted(
    p for p in (ROOT / "bench").glob("*.py") if p.name not in ("common.py", "floor_server.py")
)


@pytest.mark.parametrize("script", SCRIPTS, ids=[p.stem for p in SCRIPTS])
def test_bench_script_answers_help(script) -> None:
    result = subprocess.run(
        [sys.executable, str(script), "--help"], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "usage:" in result.stdout
