"""Timings of the extension in a real VS Code, from tests/e2e/test_vscode_e2e.py.

Runs the e2e test (code-server in headless Chromium: learn a fix in a.py, apply it in b.py)
`--runs` times and prints one JSON object: each run's figures and their medians.

- window_to_first_diagnostic_s: page opened -> ruff's warning on a.py shown by CodeCortex
  (workbench load, extension host, server start, database, detectOnSave);
- open_b_to_hint_s: b.py opened -> CodeCortex's hint on it;
- window_to_first_hint_s: page opened -> that hint (includes fixing a.py by typing);
- apply_to_edited_buffer_s: "apply past fix" clicked -> the edited line in the buffer.

    .venv/bin/python bench/vscode_e2e.py --runs 3 > vscode_e2e.json   # ~1 min per run
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TEST = "tests/e2e/test_vscode_e2e.py::test_vscode_learns_a_fix_and_applies_it_in_another_file"
FIGURES = re.compile(r"^timings \(figures, not assertions\): (\{.*\})$", re.M)


def one_run() -> dict[str, float]:
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-s", "-p", "no:cacheprovider", TEST],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    found = FIGURES.search(proc.stdout)
    if proc.returncode != 0 or found is None:
        tail = (proc.stdout[-3000:] + proc.stderr[-2000:]).strip()
        raise SystemExit(f"the e2e test did not pass (exit {proc.returncode}):\n{tail}")
    figures: dict[str, float] = json.loads(found.group(1))
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=1)
    args = parser.parse_args()
    runs = []
    for n in range(args.runs):
        print(f"run {n + 1}/{args.runs}", file=sys.stderr)
        runs.append(one_run())
    keys = [k for k in runs[0] if k.endswith("_s")]
    print(
        json.dumps(
            {
                "runs": runs,
                "median": {k: round(statistics.median(r[k] for r in runs), 3) for k in keys},
                "machine": {"cpus": os.cpu_count(), "load_average_at_end": os.getloadavg()},
            },
            indent=2,
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
