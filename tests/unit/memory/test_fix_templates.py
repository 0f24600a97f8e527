"""Fix templates (memory.templates) and the project's formatter, through the real memory.

Real ruff on files in a temporary project, the real `Memory` (observe -> learn, recall -> replay
+ verify) on the real embedded PostgreSQL, as in test_verified_memory.py.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from memory_project import Project, view_for

from codecortex.config import load_settings
from codecortex.diagnostics import Range
from codecortex.memory.identity import Identity
from codecortex.memory.problem_memory import Memory
from codecortex.memory.replay import replay_fix
from codecortex.memory.template_replay import replay_template
from codecortex.memory.templates import generalise, learn_template
from codecortex.store import identity as identity_store
from codecortex.store.pool import connect

PYPROJECT = """\
[tool.ruff.lint]
select = ["F", "B", "C4", "E7"]
"""


async def _project(root: Path, db_settings: Any, pyproject: str):
    (root / "pyproject.toml").write_text(pyproject, encoding="utf-8")
    settings = load_settings({}, env={})
    async with connect(db_settings) as conn:
        user_id = await identity_store.ensure_user(conn, "dev@example.com")
        yield Project(root, conn, Memory(settings), Identity(user_id, "dev@example.com"))


@pytest.fixture
async def project(tmp_path: Path, db_settings: Any):
    async for p in _project(tmp_path, db_settings, PYPROJECT):
        yield p


@pytest.fixture
async def formatted_project(tmp_path: Path, db_settings: Any):
    config = PYPROJECT.replace(
        "[tool.ruff.lint]", "[tool.ruff]\nline-length = 60\n\n[tool.ruff.lint]"
    )
    async for p in _project(tmp_path, db_settings, config + "\n[tool.ruff.format]\n"):
        yield p


async def test_an_imported_name_is_removed_at_any_position(project: Project) -> None:
    # learned: the middle name of three removed; offered: the first of two, the last of four
    obs = await project.teach(
        "a.py",
        "from os.path import join, exists, basename\n\nprint(join, basename)\n",
        "from os.path import join, basename\n\nprint(join, basename)\n",
    )
    assert [r.solution_id is not None for r in obs.resolved] == [True], obs.resolved
    text = "from os.path import dirname, split\n\nprint(split)\n"
    fix = view_for(await project.offered("b.py", text), "F401").best_fix
    assert fix is not None and fix.verified is True
    assert fix.replay.new_text == "from os.path import split\n\nprint(split)\n"
    text = "from json import dumps, loads, load, JSONDecodeError\n\nprint(dumps, loads, load)\n"
    fix = view_for(await project.offered("c.py", text), "F401").best_fix
    assert fix is not None and fix.verified is True
    assert (
        fix.replay.new_text == "from json import dumps, loads, load\n\nprint(dumps, loads, load)\n"
    )


async def test_a_structural_pattern_keeps_the_whole_expression(project: Project) -> None:
    # B011 fixed once: the message is a hole that takes any expression; a token replay would
    # close the call after the first string of `"missing " + name` (it parses, ruff accepts it)
    obs = await project.teach(
        "a.py",
        'def a():\n    assert False, "no a"\n',
        'def a():\n    raise AssertionError("no a")\n',
    )
    assert [r.solution_id is not None for r in obs.resolved] == [True], obs.resolved
    text = 'def c(name):\n    assert False, "missing " + name\n'
    fix = view_for(await project.offered("c.py", text), "B011").best_fix
    assert fix is not None and fix.verified is True
    assert fix.replay.new_text == 'def c(name):\n    raise AssertionError("missing " + name)\n'


async def test_a_name_written_as_a_string_follows_the_new_code(project: Project) -> None:
    # C408 learned on `dict(arg=1)`: the keyword becomes the dictionary's key, whatever it is
    await project.teach(
        "a.py", "def a(f):\n    f(kwargs=dict(arg=1))\n", 'def a(f):\n    f(kwargs={"arg": 1})\n'
    )
    text = "def b(g, n):\n    return g(2, options=dict(key=n + 1))\n"
    fix = view_for(await project.offered("b.py", text), "C408").best_fix
    assert fix is not None and fix.verified is True
    assert fix.replay.new_text == 'def b(g, n):\n    return g(2, options={"key": n + 1})\n'


async def test_an_expression_fix_keeps_its_context(project: Project) -> None:
    # C416 fixed inside `b"".join(...)` by passing the iterable itself: right there, wrong in
    # an assignment (a generator where a list was); ruff accepts both
    await project.teach(
        "a.py",
        'def a(s):\n    return b"".join([part for part in s])\n',
        'def a(s):\n    return b"".join(s)\n',
    )
    text = "def b(r):\n    parts = [part for part in r.iter()]\n    return parts\n"
    assert view_for(await project.offered("b.py", text), "C416").best_fix is None
    text = 'def c(r):\n    return b"".join([part for part in r.iter()])\n'
    fix = view_for(await project.offered("c.py", text), "C416").best_fix
    assert fix is not None and fix.verified is True
    assert fix.replay.new_text == 'def c(r):\n    return b"".join(r.iter())\n'


async def test_an_exception_chosen_in_one_place_is_not_replayed_elsewhere(
    project: Project,
) -> None:
    # E722 fixed with `except ValueError:` where the code parsed numbers: elsewhere it would
    # change what is caught (ruff is satisfied either way)
    await project.teach(
        "a.py",
        "def a(s):\n    try:\n        return int(s)\n    except:\n        return 0\n",
        "def a(s):\n    try:\n        return int(s)\n    except ValueError:\n        return 0\n",
    )
    text = "def b(p):\n    try:\n        return open(p).read()\n    except:\n        return ''\n"
    view = view_for(await project.offered("b.py", text), "E722")
    assert view.best_fix is None
    text = (
        "def c(s):\n    try:\n        return float(s)\n    except:\n        raise ValueError(s)\n"
    )
    fix = view_for(await project.offered("c.py", text), "E722").best_fix
    assert fix is not None and fix.verified is True  # ValueError is right there
    assert "except ValueError:" in fix.replay.new_text


def test_anti_unification_generalises_what_the_fixes_do_not_share() -> None:
    # F841 fixed twice by dropping the assignment of two different names: each fix alone keeps
    # its name; generalised, the name is a hole (and the call another)
    fixes = (
        ("    total = compute()\n", "    compute()\n"),
        ("    result = run(2)\n", "    run(2)\n"),
    )
    text = "def h(x):\n    data = self.load(x, y=3)\n    return x\n"
    rng = Range.of(1, 4, 1, 8)
    for fix in fixes:
        template = learn_template(*fix)
        assert template is not None
        assert replay_template(template, [], [], text, rng) is None
    (general,) = generalise(fixes)
    assert general.members == 2 and general.general
    result = replay_template(general, [], [], text, rng)
    assert result is not None
    assert result.new_text == "def h(x):\n    self.load(x, y=3)\n    return x\n"
    # a fix whose after side uses a part that its before side does not bind is not generalised
    # (`from None` and `from err`: where would $err come from?)
    other = (("raise X(a)\n", "raise X(a) from None\n"), ("raise Y()\n", "raise Y() from err\n"))
    assert generalise(other) == ()


def test_a_structural_fix_matches_only_at_the_problem() -> None:
    template = learn_template("    if x == None:\n", "    if x is None:\n")
    assert template is not None and template.before.type == "comparison_operator"
    text = "a = b == None\nif self.items[0].value == None:\n    pass\n"
    result = replay_template(template, [], [], text, Range.of(1, 3, 1, 30))
    assert result is not None
    assert result.new_text == "a = b == None\nif self.items[0].value is None:\n    pass\n"


async def test_replayed_lines_follow_the_configured_formatter(formatted_project: Project) -> None:
    # item 5: the project configures ruff format (line length 60): the replayed raise, too long
    # after `from None`, is wrapped as the formatter would; the lines around are left alone
    await formatted_project.teach(
        "a.py",
        "def get(c):\n    try:\n        return c.read()\n    except OSError:\n        raise Timeout()\n",
        "def get(c):\n    try:\n        return c.read()\n    except OSError:\n"
        "        raise Timeout() from None\n",
    )
    text = (
        "def find(table, key):\n    try:\n        return table[key]\n    except KeyError:\n"
        "        raise LookupError('no such key', key, table)\n"
        "    x = {'a':1}\n"
    )
    fix = view_for(await formatted_project.offered("b.py", text), "B904").best_fix
    assert fix is not None and fix.verified is True
    assert fix.replay.new_text == (
        "def find(table, key):\n    try:\n        return table[key]\n    except KeyError:\n"
        '        raise LookupError(\n            "no such key", key, table\n        ) from None\n'
        "    x = {'a':1}\n"
    )
    assert "formatted" in fix.replay.reason


def test_a_partial_token_match_needs_a_neighbour_of_the_edit() -> None:
    # the learned C416 fix inside a join; on an assignment, neither neighbour of the edit is
    # the learned one: no replay (a generator where a list was); inside a join it replays
    learned = (
        '    content = b"".join([part for part in self.iter_bytes()])\n',
        '    content = b"".join(self.iter_bytes())\n',
    )
    text = (
        "def f(response):\n    parts = [part for part in response.iter_raw()]\n    return parts\n"
    )
    assert replay_fix(*learned, [], [], text, Range.of(1, 12, 1, 50), "python") is None
    text = 'def g(response):\n    return b"".join([part for part in response.iter_raw()])\n'
    result = replay_fix(*learned, [], [], text, Range.of(1, 20, 1, 58), "python")
    assert result is not None
    assert result.new_text == 'def g(response):\n    return b"".join(response.iter_raw())\n'
