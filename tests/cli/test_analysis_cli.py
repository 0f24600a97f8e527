"""`codecortex analyze` and `codecortex insights` as a user runs them (real executable, real db)."""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import textwrap
import time
from pathlib import Path

from conftest import codecortex_exe

VULNERABLE = textwrap.dedent(
    '''\
    """Loading settings."""

    import pickle

    import yaml


    def settings(path):
        """Read settings."""
        return yaml.load(open(path))


    def cached(fh):
        """Read the cache."""
        return pickle.load(fh)
    '''
)


def workspace(tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    (root / "app").mkdir(parents=True)
    (root / "app" / "__init__.py").write_text("")
    (root / "app" / "settings.py").write_text(VULNERABLE)
    (root / "app" / "one.py").write_text('"""One."""\n\nfrom app import two\n\nX = two\n')
    (root / "app" / "two.py").write_text('"""Two."""\n\nfrom app import one\n\nY = one\n')
    return root


def cc(env: dict[str, str], *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [codecortex_exe(), *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=120
    )


def test_analyze_ranks_insights_and_ignored_ones_stay_ignored(
    cli_env: dict[str, str], fresh_db: str, tmp_path: Path
) -> None:
    env = {**cli_env, "CODECORTEX_DATABASE_URL": fresh_db}
    root = workspace(tmp_path)

    proc = cc(env, "analyze", str(root), "--json")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["status"] == "completed"
    phases = report["session"]["phases"]
    assert [phases[p]["status"] for p in ("quick", "medium", "deep")] == [
        "completed",
        "completed",
        "skipped",
    ]
    assert phases["deep"]["reason"] == "no model configured"
    insights = report["insights"]
    rules = [i["rule"] for i in insights]
    assert {"security.yaml_load", "security.pickle_load", "architecture.import_cycle"} <= set(rules)
    priorities = [i["priority"] for i in insights]
    assert priorities == sorted(priorities, reverse=True)  # ranked
    yaml_insight = next(i for i in insights if i["rule"] == "security.yaml_load")
    assert (yaml_insight["file"], yaml_insight["line"]) == ("app/settings.py", 10)
    assert yaml_insight["hasFix"] and yaml_insight["howToFix"]
    # not a terminal: no progress at all
    assert "%" not in proc.stderr and "analyze" not in proc.stderr

    # The human table.
    proc = cc(env, "analyze", str(root), "--phase", "medium")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].split()[:5] == ["ID", "PRI", "SEVERITY", "TYPE", "LOCATION"]
    assert yaml_insight["id"][:8] in proc.stdout and "app/settings.py:10" in proc.stdout
    assert "0 files analysed, 4 unchanged" in proc.stdout  # nothing changed since the last run

    # Ignore by id prefix; it stays ignored after the file changes and is analysed again.
    proc = cc(env, "insights", "ignore", yaml_insight["id"][:8])
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith(f"ignored {yaml_insight['id'][:8]} app/settings.py:10")
    (root / "app" / "settings.py").write_text("# header\n\n" + VULNERABLE)
    proc = cc(env, "analyze", str(root), "--json")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["result"]["changed"] == 1
    assert "security.yaml_load" not in [i["rule"] for i in report["insights"]]
    assert "security.pickle_load" in [i["rule"] for i in report["insights"]]
    assert report["summary"]["ignored"] == 1

    proc = cc(env, "insights", "list", str(root), "--status", "ignored", "--json")
    (ignored,) = json.loads(proc.stdout)["insights"]
    assert ignored["id"] == yaml_insight["id"] and ignored["line"] == 12

    proc = cc(env, "insights", "reopen", ignored["id"])
    assert proc.returncode == 0
    proc = cc(env, "insights", "list", str(root), "--json")
    assert yaml_insight["id"] in [i["id"] for i in json.loads(proc.stdout)["insights"]]

    proc = cc(env, "insights", "ignore", "ffffffff")
    assert proc.returncode == 2 and "no insight" in proc.stderr


def test_progress_bar_on_a_terminal(cli_env: dict[str, str], fresh_db: str, tmp_path: Path):
    env = {**cli_env, "CODECORTEX_DATABASE_URL": fresh_db, "COLUMNS": "100"}
    root = workspace(tmp_path)
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [codecortex_exe(), "analyze", str(root), "--phase", "quick"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=slave,
        text=False,
    )
    os.close(slave)
    chunks: list[bytes] = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.2)
        if ready:
            try:
                data = os.read(master, 4096)
            except OSError:
                break
            if not data:
                break
            chunks.append(data)
        elif proc.poll() is not None:
            break
    out, _ = proc.communicate(timeout=60)
    os.close(master)
    assert proc.returncode == 0
    tty = b"".join(chunks).decode("utf-8", "replace")
    # rich's bar with the time elapsed and remaining
    assert "━" in tty and "100%" in tty and "eta" in tty and "0:00:0" in tty
    assert b"security_issue" in out
