"""A small memory learned through the product (fixes of two visibilities, an open problem, notes
and a reuse) for the export/import and team-import tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

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
