"""Recall keeps each signature's stored fixes in memory between recalls (codecortex.memory.candidates):
what it offers must still be what the database holds now, whoever changed it, and the fix that
fits must be found however many fixes of the signature rank above it by reuse.

Real ruff, the real `Memory` per developer process, the real embedded PostgreSQL.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from memory_project import PYPROJECT, Project, view_for

from codecortex.config import load_settings
from codecortex.memory.fix_options import MAX_REPLAYED_CANDIDATES
from codecortex.memory.identity import Identity
from codecortex.memory.problem_memory import Memory
from codecortex.store import identity as identity_store
from codecortex.store import solutions as solution_store
from codecortex.store.pool import connect

UNUSED = "def h(items):\n    count = sum(items)\n    return len(items)\n"
DELETED = "def h(items):\n    return len(items)\n"


@pytest.fixture
async def team(tmp_path: Path, db_settings: Any):
    """Two developers sharing fixes with the team, each with their own `Memory` (process)."""
    (tmp_path / "pyproject.toml").write_text(PYPROJECT, encoding="utf-8")
    settings = load_settings({}, env={})
    async with connect(db_settings) as conn:
        out = []
        for name in ("ada@example.com", "bob@example.com"):
            user_id = await identity_store.ensure_user(conn, name)
            ident = Identity(user_id, name, visibility="team")
            out.append(Project(tmp_path, conn, Memory(settings), ident))
        yield out


async def _teach_unused_total(project: Project, name: str) -> Any:
    obs = await project.teach(
        name,
        "def g(rows):\n    total = sum(rows)\n    return len(rows)\n",
        "def g(rows):\n    return len(rows)\n",
    )
    (resolved,) = obs.resolved
    assert resolved.solution_id is not None
    return resolved.solution_id


async def _teach_keeping_the_call(project: Project) -> None:
    """A stored fix of the signature that keeps the call: offered for UNUSED, not the deletion."""
    await project.teach(
        "a.py",
        "def f():\n    value = compute()\n    return 1\n",
        "def f():\n    compute()\n    return 1\n",
    )


async def test_a_fix_a_teammate_makes_private_is_not_offered_any_more(team: list[Project]) -> None:
    ada, bob = team
    solution_id = await _teach_unused_total(ada, "a.py")
    fix = view_for(await bob.offered("b.py", UNUSED), "F841").best_fix
    assert fix is not None and fix.replay.new_text == DELETED
    assert await solution_store.set_visibility(ada.conn, solution_id, ada.ident.user_id, "private")
    # bob's process recalled this signature a moment ago; ada's change is seen at once
    assert view_for(await bob.offered("c.py", UNUSED), "F841").fixes == []


async def test_a_fix_a_teammate_learns_after_a_recall_is_offered_on_the_next(
    team: list[Project],
) -> None:
    ada, bob = team
    await _teach_keeping_the_call(ada)
    before = view_for(await bob.offered("b.py", UNUSED), "F841").fixes
    assert before and DELETED not in [f.replay.new_text for f in before]
    await _teach_unused_total(ada, "c.py")
    fix = view_for(await bob.offered("d.py", UNUSED), "F841").best_fix
    assert fix is not None and fix.verified is True and fix.replay.new_text == DELETED


async def test_the_fitting_fix_is_found_below_many_more_reused_ones(team: list[Project]) -> None:
    # more fixes of the signature than are replayed per problem, each reused often and none
    # fitting; the one that fits was never reused
    ada, bob = team
    for i in range(MAX_REPLAYED_CANDIDATES + 4):
        obs = await ada.teach(
            f"m{i}.py",
            f"def f{i}():\n    value_{i} = compute({i})\n    return {i}\n",
            f"def f{i}():\n    compute({i})\n    return {i}\n",
        )
        (resolved,) = obs.resolved
        for _ in range(3):
            await solution_store.record_reuse(ada.conn, resolved.solution_id, 10)
    await _teach_unused_total(ada, "fit.py")
    fix = view_for(await bob.offered("new.py", UNUSED), "F841").best_fix
    assert fix is not None and fix.verified is True and fix.replay.new_text == DELETED


async def test_recalling_an_open_document_again_sees_a_teammates_new_fix(
    team: list[Project],
) -> None:
    # The editor's background refresh recalls the same views on the same text: what was found
    # stays (nothing to replay again) until the signature's stored fixes change.
    ada, bob = team
    await _teach_keeping_the_call(ada)
    views = await bob.offered("b.py", UNUSED)
    before = [f.replay.new_text for f in view_for(views, "F841").fixes]
    assert before and DELETED not in before

    async def refresh() -> list[str]:
        await bob.memory.recall(
            bob.conn, bob.ident, UNUSED, "python", views, related=False,
            path=bob.root / "b.py", root=bob.root,
        )  # fmt: skip
        return [f.replay.new_text for f in view_for(views, "F841").fixes]

    assert await refresh() == before
    await _teach_unused_total(ada, "c.py")
    # not seen before the refresh
    assert [f.replay.new_text for f in view_for(views, "F841").fixes] == before
    after = await refresh()
    assert after[0] == DELETED and view_for(views, "F841").fixes[0].verified is True
