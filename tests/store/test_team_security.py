"""Team server privacy enforced by PostgreSQL: real roles created by `codecortex team init` /
`team add-user` on the embedded server, two developers, private and team rows, read through the
product (search, CLI) and through hand-written SQL."""

from __future__ import annotations

import json
import subprocess
import uuid
from pathlib import Path
from typing import Any

import psycopg
import pytest
from conftest import codecortex_exe
from psycopg.rows import dict_row

from codecortex.config import load_settings
from codecortex.knowledge.docs import add_note
from codecortex.memory.identity import Identity, resolve_identity
from codecortex.memory.problem_memory import Memory
from codecortex.store import problems as problem_store
from codecortex.store import solutions as solution_store
from codecortex.store.pool import connect


def run_cli(env: dict[str, str], *args: str, cwd: Path | None = None) -> str:
    proc = subprocess.run(
        [codecortex_exe(), *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr + proc.stdout
    return proc.stdout


async def add_rows(conn: Any, ident: Identity, memory: Memory, who: str) -> dict[str, Any]:
    """One private and one team solution and note, one problem and snapshot for `who`."""
    out: dict[str, Any] = {}
    for vis in ("private", "team"):
        word = f"{who}{vis}zebra"
        sid, created = await solution_store.insert_solution(
            conn,
            solution_store.NewSolution(
                user_id=ident.user_id, repo_id=ident.repo_id, problem_id=None,
                signature=f"ruff:F821:undefined name <name> {who}", values=[word],
                problem_type="error", description=f"print({word})",
                error_pattern=f"undefined name {word}", tool="ruff", code="F821",
                language="python", file_path="a.py", before_text=f"print({word})",
                after_text=f"import {word}\nprint({word})", diff=f"+import {word}", context={},
                source="live", confidence=1.0, visibility=vis, time_to_solve_seconds=120,
                content_hash=f"{who}-{vis}",
            ),
        )  # fmt: skip
        assert created
        await memory.embed_solutions(conn, [(sid, f"undefined name {word} zebra")])
        out[f"solution_{vis}"] = str(sid)
        out[f"note_{vis}"] = str(
            await add_note(
                conn, memory.embedder, user_id=ident.user_id, repo_id=ident.repo_id,
                text=f"note {word} about zebra", title=f"{who} {vis} zebra note", visibility=vis,
            )
        )  # fmt: skip
    out["problem"] = str(
        await problem_store.insert_problem(
            conn,
            problem_store.NewProblem(
                user_id=ident.user_id, repo_id=ident.repo_id, problem_type="error",
                signature=f"sig-{who}", values=[], tool="ruff", code="F821", language="python",
                severity=1, file_path=f"/src/{who}.py", line=1, column=0, end_line=1,
                end_column=3, message=f"{who} secret problem", code_context="", context={},
                detection_method="editor",
            ),
        )
    )  # fmt: skip
    await problem_store.put_snapshot(
        conn, ident.user_id, f"/src/{who}.py", "*", f"{who} secret code", "sha", 1
    )
    return out


@pytest.fixture
def team(fresh_db: str, cli_env: dict[str, str], tmp_path: Path) -> dict[str, Any]:
    """A team server (the fresh database, admin = superuser postgres) with two developers."""
    env = dict(cli_env)
    out = run_cli(env, "team", "init", "--database-url", fresh_db)
    assert "codecortex_developer" in out
    tag = uuid.uuid4().hex[:8]
    devs: dict[str, Any] = {}
    for who in ("alice", "bob"):
        name = f"{who}.{tag}@example.com"
        out = run_cli(env, "team", "add-user", name, "--database-url", fresh_db)
        url = out.strip().splitlines()[-1]
        role = f"cc_{who}_{tag}_example_com"
        assert f"role {role}" in out and url.startswith(f"postgresql://{role}:")
        devs[who] = {"name": name, "role": role, "url": url}
    return {"admin": fresh_db, "devs": devs, "env": env, "tmp": tmp_path}


async def test_two_developers_see_own_and_team_rows_only(team: dict[str, Any]) -> None:
    rows: dict[str, dict[str, Any]] = {}
    idents: dict[str, Identity] = {}
    memory = Memory(load_settings({}, env={}))
    for who, dev in team["devs"].items():
        # The `user` setting names someone else: the role decides who you are.
        settings = load_settings({"databaseUrl": dev["url"], "user": "mallory"}, env={})
        async with connect(settings) as conn:
            cur = await conn.execute("SELECT current_user AS r")
            assert (await cur.fetchone())["r"] == dev["role"]
            ident, _root = await resolve_identity(conn, settings, team["tmp"])
            cur = await conn.execute("SELECT name FROM users WHERE id = %s", (ident.user_id,))
            assert (await cur.fetchone())["name"] == dev["name"]
            idents[who] = ident
            rows[who] = await add_rows(conn, ident, memory, who)
    alice, bob = rows["alice"], rows["bob"]

    # Through the product: search ranks own and team rows together, with owner and time.
    settings = load_settings({"databaseUrl": team["devs"]["alice"]["url"]}, env={})
    async with connect(settings) as conn:
        hits = await memory.search(conn, idents["alice"], "zebra", limit=50)
        ids = {str(h["id"]) for h in hits}
        assert {alice["solution_private"], alice["solution_team"], alice["note_private"],
                alice["note_team"], bob["solution_team"], bob["note_team"]} <= ids  # fmt: skip
        assert bob["solution_private"] not in ids and bob["note_private"] not in ids
        owners = {str(h["id"]): h["owner"] for h in hits}
        assert owners[bob["solution_team"]] == team["devs"]["bob"]["name"]
        assert all(h["created_at"] is not None for h in hits)
        by_sig = await solution_store.solutions_for_signatures(
            conn, idents["alice"].user_id, ["ruff:F821:undefined name <name> bob"]
        )
        assert [str(s["id"]) for s in by_sig["ruff:F821:undefined name <name> bob"]] == [
            bob["solution_team"]
        ]

    # Through hand-written SQL as Alice, ignoring the product's filters entirely.
    with psycopg.connect(team["devs"]["alice"]["url"], autocommit=True, row_factory=dict_row) as c:
        sols = {str(r["id"]) for r in c.execute("SELECT id FROM past_solutions")}
        assert sols == {alice["solution_private"], alice["solution_team"], bob["solution_team"]}
        items = {str(r["id"]) for r in c.execute("SELECT id FROM items")}
        assert items == {alice["note_private"], alice["note_team"], bob["note_team"]}
        probs = [
            r["error_message"] for r in c.execute("SELECT error_message FROM detected_problems")
        ]
        assert probs == ["alice secret problem"]
        snaps = [r["content"] for r in c.execute("SELECT content FROM file_snapshots")]
        assert snaps == ["alice secret code"]
        emb_owners = {str(r["owner_id"]) for r in c.execute("SELECT owner_id FROM embeddings")}
        assert bob["solution_private"] not in emb_owners and bob["note_private"] not in emb_owners
        assert bob["solution_team"] in emb_owners
        # Writes to a teammate's private rows touch nothing; to their shared rows, counters only.
        cur = c.execute(
            "UPDATE past_solutions SET diff = 'x' WHERE id = %s", (bob["solution_private"],)
        )
        assert cur.rowcount == 0
        assert c.execute("DELETE FROM items WHERE id = %s", (bob["note_team"],)).rowcount == 0
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            c.execute("UPDATE past_solutions SET diff = 'x' WHERE id = %s", (bob["solution_team"],))
        c.execute(
            "UPDATE past_solutions SET reuse_count = reuse_count + 1,"
            " time_saved_seconds = time_saved_seconds + 115 WHERE id = %s",
            (bob["solution_team"],),
        )
        replay = c.execute("SELECT user_id, time_saved_seconds FROM codecortex_replays").fetchall()
        assert [(str(r["user_id"]), r["time_saved_seconds"]) for r in replay] == [
            (str(idents["alice"].user_id), 115)
        ]
        # Pretending to be Bob is refused.
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            c.execute(
                "INSERT INTO items (user_id, kind, content, content_hash) VALUES (%s, 'note',"
                " 'forged', 'h')",
                (idents["bob"].user_id,),
            )
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            c.execute("UPDATE users SET db_role = %s", (team["devs"]["alice"]["role"],))
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            c.execute(f'SET ROLE "{team["devs"]["bob"]["role"]}"')
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            c.execute("ALTER TABLE past_solutions DISABLE ROW LEVEL SECURITY")

    # Bob, symmetrically, sees none of Alice's private rows (and not her replay).
    with psycopg.connect(team["devs"]["bob"]["url"], autocommit=True, row_factory=dict_row) as c:
        sols = {str(r["id"]) for r in c.execute("SELECT id FROM past_solutions")}
        assert sols == {bob["solution_private"], bob["solution_team"], alice["solution_team"]}
        assert c.execute("SELECT COUNT(*) AS n FROM codecortex_replays").fetchone()["n"] == 0
        reused = c.execute(
            "SELECT reuse_count FROM past_solutions WHERE id = %s", (bob["solution_team"],)
        ).fetchone()
        assert reused["reuse_count"] == 1

    # The admin (table owner) sees everything: the policies bind developer roles only.
    with psycopg.connect(team["admin"], autocommit=True) as c:
        assert c.execute("SELECT COUNT(*) FROM past_solutions").fetchone()[0] == 4


def test_cli_search_and_share_as_developer(team: dict[str, Any], tmp_path: Path) -> None:
    env_a = dict(team["env"], CODECORTEX_DATABASE_URL=team["devs"]["alice"]["url"])
    env_b = dict(team["env"], CODECORTEX_DATABASE_URL=team["devs"]["bob"]["url"])
    out = run_cli(env_b, "note", "add", "bob keeps quokka secrets", cwd=tmp_path)
    private_id = out.split()[-1]
    run_cli(env_b, "note", "add", "--share", "bob shares quokka wisdom", cwd=tmp_path)
    found = json.loads(run_cli(env_a, "search", "quokka", "--json", cwd=tmp_path))["results"]
    assert [r["title"] for r in found] == ["bob shares quokka wisdom"]
    assert found[0]["owner"] == team["devs"]["bob"]["name"]
    # Alice cannot share Bob's note; Bob can.
    proc = subprocess.run(
        [codecortex_exe(), "team", "share", private_id[:12]], env=env_a, cwd=tmp_path,
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 2 and "no solution, note or snippet of yours" in proc.stderr
    assert "now visible to the team" in run_cli(env_b, "team", "share", private_id[:12])
    found = json.loads(run_cli(env_a, "search", "quokka", "--json", cwd=tmp_path))["results"]
    assert len(found) == 2
    listing = run_cli(dict(team["env"], CODECORTEX_DATABASE_URL=team["admin"]), "team", "list")
    assert team["devs"]["bob"]["role"] in listing


def test_team_commands_need_a_server(cli_env: dict[str, str]) -> None:
    proc = subprocess.run(
        [codecortex_exe(), "team", "add-user", "x"], env=cli_env, capture_output=True, text=True,
        timeout=60,
    )  # fmt: skip
    assert proc.returncode == 2 and "admin URL" in proc.stderr


async def test_developer_role_cannot_run_team_admin(team: dict[str, Any]) -> None:
    from codecortex.team import roles as team_mod

    settings = load_settings({"databaseUrl": team["devs"]["alice"]["url"]}, env={})
    async with connect(settings) as conn:
        with pytest.raises(team_mod.TeamError, match="cannot create roles"):
            await team_mod.add_developer(conn, settings.database_url, "eve@example.com")


def test_developer_url_forms() -> None:
    from codecortex.team.roles import developer_role_name, developer_url

    assert developer_role_name("Alice.Smith@Example.com") == "cc_alice_smith_example_com"
    assert (
        developer_url("postgresql://admin:pw@db.example:5432/cc", "cc_al", "p/w")
        == "postgresql://cc_al:p%2Fw@db.example:5432/cc"
    )
    assert developer_url("postgresql://postgres:@/cc?host=/tmp/x", "cc_al", None) == (
        "postgresql://cc_al@/cc?host=/tmp/x"
    )
    assert "user=cc_al" in developer_url("host=db dbname=cc user=admin", "cc_al", "pw")


def test_import_from_embedded_into_team_server_as_developer(
    team: dict[str, Any], pg: Any, tmp_path: Path
) -> None:
    """Memory exported from a single-user database moves to the team server under the
    developer's role: all rows land as theirs; their private ones stay invisible to Bob."""
    import asyncio

    from portable_memory import build_memory

    solo = pg.create_database("solo")
    work = tmp_path / "w"
    work.mkdir()
    asyncio.run(build_memory(solo, work))
    dump = tmp_path / "mine.ndjson"
    run_cli(dict(team["env"], CODECORTEX_DATABASE_URL=solo, CODECORTEX_USER="porter@example.com"),
            "export", "--private", str(dump), cwd=work)  # fmt: skip
    env_a = dict(team["env"], CODECORTEX_DATABASE_URL=team["devs"]["alice"]["url"])
    out = run_cli(env_a, "import", str(dump), cwd=work)
    assert "solutions: 2 added" in out and "problems: 3 added" in out
    assert "solutions: 0 added, 2 already there" in run_cli(env_a, "import", str(dump), cwd=work)
    with psycopg.connect(team["admin"], row_factory=dict_row) as c:
        owners = c.execute(
            "SELECT DISTINCT u.name FROM past_solutions s JOIN users u ON u.id = s.user_id"
        ).fetchall()
        assert [r["name"] for r in owners] == [team["devs"]["alice"]["name"]]
    with psycopg.connect(team["devs"]["bob"]["url"], row_factory=dict_row) as c:
        vis = [r["visibility"] for r in c.execute("SELECT visibility FROM past_solutions")]
        assert vis == ["team"]
        assert c.execute("SELECT COUNT(*) AS n FROM detected_problems").fetchone()["n"] == 0
