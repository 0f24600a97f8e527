"""`codecortex export` / `import`: memory learned through the product round-trips into a fresh
database column for column; a second import adds nothing; private rows only when asked."""

from __future__ import annotations

import asyncio
import json
import subprocess
from pathlib import Path
from typing import Any

import psycopg
import pytest
from conftest import EmbeddedPostgres, codecortex_exe
from portable_memory import (
    LOCAL,
    USER,
    build_memory,
)
from psycopg.rows import dict_row


def table_rows(url: str, table: str, where: str = "TRUE") -> list[dict[str, Any]]:
    with psycopg.connect(url, row_factory=dict_row) as conn:
        rows = conn.execute(
            f"SELECT t.*, u.name AS owner_name, r.root_path AS repo_root FROM {table} t"
            f" LEFT JOIN users u ON u.id = t.user_id LEFT JOIN github_repos r ON r.id = t.repo_id"
            f" WHERE {where} ORDER BY t.id"
        ).fetchall()
    return [{k: v for k, v in row.items() if k not in LOCAL} for row in rows]


def cli(env: dict[str, str], *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [codecortex_exe(), *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=60
    )


@pytest.fixture
def exported(fresh_db: str, cli_env: dict[str, str], tmp_path: Path) -> dict[str, Any]:
    work = tmp_path / "repo"
    work.mkdir()
    asyncio.run(build_memory(fresh_db, work))
    env = dict(cli_env, CODECORTEX_DATABASE_URL=fresh_db, CODECORTEX_USER=USER)
    full, team = tmp_path / "all.ndjson", tmp_path / "team.ndjson"
    proc = cli(env, "export", "--private", str(full), cwd=work)
    assert proc.returncode == 0, proc.stderr
    assert "exported 1 repos, 3 problems, 2 items, 2 solutions" in proc.stderr
    proc = cli(env, "export", str(team), cwd=work)
    assert proc.returncode == 0, proc.stderr
    return {"source": fresh_db, "full": full, "team": team, "env": env, "work": work}


def test_export_import_round_trips_every_row(
    exported: dict[str, Any], pg: EmbeddedPostgres
) -> None:
    target = pg.create_database("port")
    env = dict(exported["env"], CODECORTEX_DATABASE_URL=target)
    proc = cli(env, "import", str(exported["full"]), cwd=exported["work"])
    assert proc.returncode == 0, proc.stderr
    assert "problems: 3 added, 0 already there" in proc.stdout
    assert "solutions: 2 added" in proc.stdout and "items: 2 added" in proc.stdout
    for table, where in (
        ("detected_problems", "TRUE"),
        ("past_solutions", "TRUE"),
        ("items", "kind <> 'doc'"),
    ):
        before, after = (
            table_rows(exported["source"], table, where),
            table_rows(target, table, where),
        )
        assert before == after, table
        assert before and all(r["owner_name"] == USER for r in after)
    # The learned links and counters survive; imported rows are searchable (embedded again).
    sols = table_rows(target, "past_solutions")
    assert all(s["problem_id"] is not None for s in sols)
    assert sorted(s["reuse_count"] for s in sols) == [0, 1]
    with psycopg.connect(target) as conn:
        n = conn.execute("SELECT COUNT(*) FROM embeddings WHERE owner_kind <> 'codecortex_item'")
        assert n.fetchone()[0] == 4
    proc = cli(env, "search", "lenght", "--json", cwd=exported["work"])
    assert any("lenght" in r["title"] or "lenght" in r["snippet"]
               for r in json.loads(proc.stdout)["results"])  # fmt: skip

    # A second import adds nothing.
    proc = cli(env, "import", str(exported["full"]), cwd=exported["work"])
    assert proc.returncode == 0, proc.stderr
    for kind, n in (("problems", 3), ("items", 2), ("solutions", 2)):
        assert f"{kind}: 0 added, {n} already there" in proc.stdout
    assert table_rows(target, "past_solutions") == sols


def test_private_rows_only_when_asked(exported: dict[str, Any]) -> None:
    records = [json.loads(line) for line in exported["team"].read_text().splitlines()]
    assert records[0]["type"] == "codecortex-export" and records[0]["private"] is False
    kinds = [r["type"] for r in records[1:]]
    assert sorted(kinds) == ["item", "repo", "solution"]
    assert all(r["row"].get("visibility", "team") == "team" for r in records[1:])
    assert "staging password" not in exported["team"].read_text()
    assert "staging password" in exported["full"].read_text()


def test_import_rejects_a_bad_file(exported: dict[str, Any], tmp_path: Path) -> None:
    bad = tmp_path / "bad.ndjson"
    lines = exported["full"].read_text().splitlines()
    bad.write_text("\n".join([*lines[:3], '{"type": "solution", "row": {"no": "id"}}']) + "\n")
    proc = cli(exported["env"], "import", str(bad), cwd=exported["work"])
    assert proc.returncode == 2 and "line 4: unknown record" in proc.stderr
    proc = cli(exported["env"], "import", str(tmp_path / "missing.ndjson"), cwd=exported["work"])
    assert proc.returncode == 2 and "cannot read" in proc.stderr
