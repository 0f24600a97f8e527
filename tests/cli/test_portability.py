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
from psycopg.rows import dict_row

from codecortex.config import load_settings
from codecortex.diagnostics import Diagnostic, Range
from codecortex.knowledge.docs import add_note
from codecortex.memory.identity import resolve_identity
from codecortex.memory.problem_memory import Memory
from codecortex.store import solutions as solution_store
from codecortex.store.pool import connect

USER = "porter@example.com"
BEFORE = "def greet(name):\n    print(nmae)\n"
AFTER = "def greet(name):\n    print(name)\n"
BEFORE_2 = "def size(xs):\n    return lenght(xs)\n"
AFTER_2 = "def size(xs):\n    return len(xs)\n"
# Columns that legitimately differ between two databases (ids of local rows, derived vectors).
LOCAL = {"user_id", "repo_id", "embed_vector_id", "job_id", "search_tsv"}


def undefined(name: str, line: int, col: int) -> Diagnostic:
    return Diagnostic(
        "ruff", "F821", f"Undefined name `{name}`", Range.of(line, col, line, col + len(name))
    )


async def learn(memory: Memory, conn: Any, ident: Any, path: str, before: str, after: str,
                diag: Diagnostic) -> None:  # fmt: skip
    await memory.observe(conn, ident, path, before, "python", [diag])
    obs = await memory.observe(conn, ident, path, after, "python", [])
    assert obs.resolved and obs.resolved[0].solution_id is not None


async def build_memory(url: str, workdir: Path) -> dict[str, Any]:
    settings = load_settings({"databaseUrl": url, "user": USER}, env={})
    memory = Memory(settings)
    async with connect(settings) as conn:
        ident, _root = await resolve_identity(conn, settings, workdir)
        await learn(memory, conn, ident, str(workdir / "a.py"), BEFORE, AFTER,
                    undefined("nmae", 1, 10))  # fmt: skip
        ident.visibility = "team"
        await learn(memory, conn, ident, str(workdir / "b.py"), BEFORE_2, AFTER_2,
                    undefined("lenght", 1, 11))  # fmt: skip
        ident.visibility = "private"
        # An open problem too, and notes of both visibilities, and a reuse.
        await memory.observe(conn, ident, str(workdir / "c.py"), "x = y\n", "python",
                             [undefined("y", 0, 4)])  # fmt: skip
        await add_note(conn, memory.embedder, user_id=ident.user_id, repo_id=ident.repo_id,
                       text="private: staging password rotates monthly", visibility="private")  # fmt: skip
        await add_note(conn, memory.embedder, user_id=ident.user_id, repo_id=ident.repo_id,
                       text="use pathlib, not os.path", title="paths", tags=["style"],
                       kind="snippet", source_path="a.py", line_start=3, visibility="team")  # fmt: skip
        cur = await conn.execute("SELECT id FROM past_solutions WHERE visibility = 'team'")
        await solution_store.record_reuse(conn, (await cur.fetchone())["id"], 40)
    return {"settings": settings}


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
