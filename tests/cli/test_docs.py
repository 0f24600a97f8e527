"""The README documents what the code does: its settings table is the code's, its commands exist."""

from __future__ import annotations

import re
import subprocess

from conftest import ROOT, codecortex_exe

from codecortex.cli.main import COMMANDS
from codecortex.config import settings_table_markdown

README = (ROOT / "README.md").read_text()


def test_settings_table_matches_the_code() -> None:
    table = README.split("<!-- settings:start -->\n", 1)[1].split("\n<!-- settings:end -->", 1)[0]
    assert table == settings_table_markdown(), (
        "README settings table is stale; replace it with the output of\n"
        "python -c 'from codecortex.config import settings_table_markdown as t; print(t())'"
    )


def test_every_cli_command_is_documented_and_runs() -> None:
    documented = set(re.findall(r"`codecortex ([a-z-]+)", README))
    assert set(COMMANDS) <= documented
    for name in COMMANDS:
        result = subprocess.run([codecortex_exe(), name, "--help"], capture_output=True, text=True)
        assert result.returncode == 0, (name, result.stderr)


def test_readme_starts_with_setup_run_and_test_commands() -> None:
    blocks = re.findall(r"```sh\n(.*?)```", README, re.S)
    assert blocks[0].splitlines() == [
        'python3 -m venv .venv && .venv/bin/pip install -e ".[dev]"',
        ".venv/bin/codecortex check .",
    ]
    ci = (ROOT / ".ci" / "run").read_text()
    assert blocks[1].strip() in ci  # CI runs exactly the README's test command
