"""The memory learns only real fixes and offers only replays the detector confirms.

Real ruff and mypy on files in a temporary project (its pyproject.toml selects the rules), the
real `Memory` (observe -> learn, recall -> replay + verify) on the real embedded PostgreSQL.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from memory_project import NOQA, PYPROJECT, Project, view_for

from codecortex.config import load_settings
from codecortex.detectors import run_detectors
from codecortex.diagnostics import Range, apply_edits
from codecortex.memory.identity import Identity
from codecortex.memory.problem_memory import Memory
from codecortex.memory.replay import replay_fix
from codecortex.memory.verify import Verifier
from codecortex.store import identity as identity_store
from codecortex.store.pool import connect


@pytest.fixture
async def project(tmp_path: Path, db_settings: Any):
    (tmp_path / "pyproject.toml").write_text(PYPROJECT, encoding="utf-8")
    settings = load_settings({}, env={})
    async with connect(db_settings) as conn:
        user_id = await identity_store.ensure_user(conn, "dev@example.com")
        yield Project(tmp_path, conn, Memory(settings), Identity(user_id, "dev@example.com"))


async def test_wrong_target_f401_is_not_offered(project: Project) -> None:
    # learned: `cast` removed from a two-name `from typing import ...`
    obs = await project.teach(
        "a.py",
        "from typing import cast, Any\n\nX: Any = 1\n",
        "from typing import Any\n\nX: Any = 1\n",
    )
    assert [r.solution_id is not None for r in obs.resolved] == [True]
    # new: `glob` unused, three lines above a used two-name `from enum import Enum, auto`
    # that the old fix's shape (with renames) matches
    text = (
        "import glob\nimport sys\n\nfrom enum import Enum, auto\n\n\nclass C(Enum):\n"
        "    A = auto()\n\n\nprint(sys.argv)\n"
    )
    views = await project.offered("b.py", text)
    view = view_for(views, "F401")
    assert view.fixes == []


async def test_verified_fix_is_offered_and_marked(project: Project) -> None:
    await project.teach(
        "a.py",
        "import json\nimport os\n\nprint(os.sep)\n",
        "import os\n\nprint(os.sep)\n",
    )
    text = "import re\nimport sys\n\nprint(sys.argv)\n"
    views = await project.offered("b.py", text)
    fix = view_for(views, "F401").best_fix
    assert fix is not None and fix.verified is True
    assert fix.replay.new_text == "import sys\n\nprint(sys.argv)\n"
    assert fix.confidence >= 0.8


async def test_verifier_refutes_wrong_and_broken_edits(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(PYPROJECT, encoding="utf-8")
    path = tmp_path / "m.py"
    original = "import glob\nimport sys\n\nprint(sys.argv)\n"
    run = await run_detectors([_write(path, original)], root=tmp_path, tools=["ruff"])
    (problem,) = run.diagnostics[path.resolve()]
    verifier = Verifier()

    async def verdict(edited: str) -> bool | None:
        return (await verifier.check("ruff", problem, original, edited, path, tmp_path)).verified

    assert await verdict("import sys\n\nprint(sys.argv)\n") is True
    assert await verdict("import glob\n\nprint(sys.argv)\n") is False  # wrong import: F821
    assert await verdict("import glob\nimport sys\n\nprint(sys.argv) \n") is False  # stays
    assert await verdict("import sys\n\nprint(sys.argv\n") is False  # does not parse


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


async def test_behaviour_change_is_not_learned(project: Project) -> None:
    before = "def title(row):\n    name = row.get('title')\n    return name\n"
    after = "def title(row):\n    name = row.get('title')\n    return name.strip()\n"
    obs = await project.teach("a.py", before, after)
    (resolved,) = obs.resolved
    assert resolved.problem["code"] == "RET504"
    assert resolved.solution_id is None
    assert "behaviour change" in resolved.reason


async def test_real_fix_of_the_same_rule_is_learned(project: Project) -> None:
    before = "def title(row):\n    name = row.get('title')\n    return name\n"
    after = "def title(row):\n    return row.get('title')\n"
    obs = await project.teach("a.py", before, after)
    (resolved,) = obs.resolved
    assert resolved.solution_id is not None, resolved.reason


async def test_message_that_changed_with_its_quote_is_not_a_fix(project: Project) -> None:
    # SIM108 quotes the ternary it suggests: editing the branches changes the message, the
    # problem stays; that edit must not be learned as SIM108's fix
    before = (
        "def pick(flag):\n    if flag:\n        value = 1\n    else:\n        value = 2\n"
        "    return value\n"
    )
    after = before.replace("value = 2", "value = 3")
    obs = await project.teach("a.py", before, after, tools=("ruff",))
    assert all(r.solution_id is None for r in obs.resolved)


async def test_unverifiable_tool_fix_is_capped_and_says_so(project: Project) -> None:
    # mypy cannot check unsaved text: its fix is offered only because it edits the problem's
    # definition with a name from the message, capped below the preferred/--fix threshold
    before = "def label(x: int) -> str:\n    if x:\n        return str(x)\n    return None\n"
    after = before.replace("-> str:", "-> str | None:")
    obs = await project.teach("a.py", before, after, tools=("mypy",))
    assert [r.solution_id is not None for r in obs.resolved] == [True]
    text = "def show(n: int) -> str:\n    if n > 2:\n        return f'{n}'\n    return None\n"
    views = await project.offered("b.py", text, tools=("mypy",))
    (view,) = views
    fix = view.best_fix
    assert fix is not None and fix.verified is False
    assert fix.confidence <= 0.7
    assert apply_edits(text, fix.replay.edits).startswith("def show(n: int) -> str | None:\n")
    from codecortex.presentation import fix_title

    assert "unverified" in fix_title(fix)


def test_replay_whole_match_needs_an_anchor_or_the_problem() -> None:
    # failure mode 1: a two-name `from typing import` fix, renamed, must not hit `from enum`
    text = (
        "import glob\nimport sys\n\nfrom enum import Enum, auto\n\n\nclass C(Enum):\n"
        "    A = auto()\n"
    )
    learned = ("from typing import cast, Any\n", "from typing import Any\n")
    assert (
        replay_fix(*learned, ["typing.cast"], ["glob"], text, Range.of(0, 7, 0, 11), "python")
        is None
    )


def test_removing_one_of_several_imported_names_leaves_clean_code() -> None:
    # failure mode 7 (and a diff that must not confuse the kept name with the mapped value)
    learned = ("from typing import cast, Any\n", "from typing import Any\n")
    text = "import sys\nfrom typing import Any, Callable\n\nX: Callable = sys.exit\n"
    result = replay_fix(
        *learned, ["typing.cast"], ["typing.Any"], text, Range.of(1, 19, 1, 22), "python"
    )
    assert result is not None
    assert result.new_text == "import sys\nfrom typing import Callable\n\nX: Callable = sys.exit\n"


async def test_noqa_fix_replays(project: Project) -> None:
    # failure mode 3: B018 in tests fixed with a noqa comment (a comment-only change) replays
    # as that comment, not as a rewrite of the test
    obs = await project.teach(
        "test_a.py",
        "import pytest\n\n\ndef test_a(d):\n    with pytest.raises(KeyError):\n        d.missing\n",
        "import pytest\n\n\ndef test_a(d):\n    with pytest.raises(KeyError):\n"
        "        d.missing  " + NOQA + "\n",
    )
    assert [r.solution_id is not None for r in obs.resolved] == [True]
    text = (
        "import pytest\n\n\ndef test_b(obj):\n    with pytest.raises(AttributeError):\n"
        "        obj.attr.other\n    assert obj\n"
    )
    fix = view_for(await project.offered("test_b.py", text), "B018").best_fix
    assert fix is not None and fix.verified is True
    assert fix.replay.new_text == text.replace("obj.attr.other\n", "obj.attr.other  " + NOQA + "\n")


async def test_b904_replays_across_argument_lists(project: Project) -> None:
    # failure mode 4: learned on `raise Timeout()` -> `raise Timeout() from None`, replayed on
    # a raise with a different argument list
    obs = await project.teach(
        "a.py",
        "def get(c):\n    try:\n        return c.read()\n    except OSError:\n        raise Timeout()\n",
        "def get(c):\n    try:\n        return c.read()\n    except OSError:\n"
        "        raise Timeout() from None\n",
    )
    assert [r.solution_id is not None for r in obs.resolved] == [True]
    text = (
        "def find(table, key):\n    try:\n        return table[key]\n    except KeyError as err:\n"
        "        raise LookupError(str(err), key)\n"
    )
    fix = view_for(await project.offered("b.py", text), "B904").best_fix
    assert fix is not None and fix.verified is True
    assert fix.replay.new_text == text.replace("key)\n", "key) from None\n")


async def test_b904_from_err_uses_the_new_except_name(project: Project) -> None:
    await project.teach(
        "a.py",
        "def get(c):\n    try:\n        return c.read()\n    except OSError:\n        raise Timeout()\n",
        "def get(c):\n    try:\n        return c.read()\n    except OSError as e:\n"
        "        raise Timeout() from e\n",
    )
    text = (
        "def find(table, key):\n    try:\n        return table[key]\n    except KeyError as missing:\n"
        "        raise LookupError(f'{key}: {missing}')\n"
    )
    fix = view_for(await project.offered("b.py", text), "B904").best_fix
    assert fix is not None and fix.verified is True
    assert fix.replay.new_text.endswith("raise LookupError(f'{key}: {missing}') from missing\n")


async def test_f821_adds_the_import_at_the_top_in_its_group(project: Project) -> None:
    # failure mode 5: "Undefined name `re`" fixed by `import re` at the top of the file
    obs = await project.teach(
        "a.py",
        "import os\n\n\ndef names(path):\n    return re.findall(r'\\w+', os.fspath(path))\n",
        "import os\nimport re\n\n\ndef names(path):\n    return re.findall(r'\\w+', os.fspath(path))\n",
    )
    assert [r.solution_id is not None for r in obs.resolved] == [True], obs.resolved
    text = (
        '"""Load things."""\n\nimport os\nimport sys\n\nimport pytest\n\n\n'
        "def load(path):\n    with open(os.fspath(path)) as f:\n"
        "        return json.load(f), sys.argv, pytest\n"
    )
    fix = view_for(await project.offered("b.py", text), "F821").best_fix
    assert fix is not None and fix.verified is True
    assert fix.replay.new_text == text.replace("import os\n", "import json\nimport os\n")


async def test_candidate_beyond_five_by_reuse_is_found(project: Project) -> None:
    # failure mode 6: a dozen stored fixes of the signature, reused often, that do not apply;
    # the one that fits (never reused) is found anyway
    from codecortex.store import solutions as solution_store

    for i in range(12):
        obs = await project.teach(
            f"m{i}.py",
            f"def f{i}():\n    value_{i} = compute({i})\n    return {i}\n",
            f"def f{i}():\n    compute({i})\n    return {i}\n",
        )
        (resolved,) = obs.resolved
        assert resolved.solution_id is not None
        for _ in range(3):
            await solution_store.record_reuse(project.conn, resolved.solution_id, 10)
    obs = await project.teach(
        "fit.py",
        "def g(rows):\n    total = sum(rows)\n    return len(rows)\n",
        "def g(rows):\n    return len(rows)\n",
    )
    assert obs.resolved[0].solution_id is not None
    text = "def h(items):\n    count = sum(items)\n    return len(items)\n"
    fix = view_for(await project.offered("new.py", text), "F841").best_fix
    assert fix is not None and fix.verified is True
    assert fix.replay.new_text == "def h(items):\n    return len(items)\n"


def test_replayed_lines_keep_a_clean_layout() -> None:
    # item 5: a learned "after" with doubled spaces does not carry them over
    learned = ("f(a, b, verbose)\n", "f(a,  b,  verbose=True)\n")
    text = "def g(x, y):\n    return f(x, y, verbose)\n"
    result = replay_fix(*learned, [], [], text, Range.of(1, 11, 1, 27), "python")
    assert result is not None
    assert result.new_text == "def g(x, y):\n    return f(x, y, verbose=True)\n"


async def test_a_fix_that_brings_in_new_constants_is_not_learned(project: Project) -> None:
    # B018 `1 // 0` in a test "fixed" by raising another exception with a made-up message: the
    # test now checks something else; raising the same error is a fix
    head = "import pytest\n\n\ndef test_a():\n    with pytest.raises(ZeroDivisionError):\n"
    obs = await project.teach(
        "test_a.py", head + "        1 // 0\n", head + "        raise Exception('boom')\n"
    )
    assert [r.solution_id for r in obs.resolved] == [None]
    assert "constants" in obs.resolved[0].reason
    obs = await project.teach(
        "test_b.py", head + "        1 // 0\n", head + "        raise ZeroDivisionError\n"
    )
    assert obs.resolved[0].solution_id is not None


async def test_no_replay_removes_what_a_package_exports(project: Project) -> None:
    await project.teach(
        "a.py",
        "import json\nimport os\n\nprint(os.sep)\n",
        "import os\n\nprint(os.sep)\n",
    )
    pkg = project.root / "pkg"
    pkg.mkdir()
    text = "import glob\nimport sys\n\nprint(sys.argv)\n"
    views = await project.offered("pkg/__init__.py", text)
    assert view_for(views, "F401").fixes == []
    # the same removal in a plain module is fine
    views = await project.offered("pkg/main.py", text)
    assert view_for(views, "F401").best_fix is not None


def test_removing_the_last_imported_name_leaves_no_stray_comma() -> None:
    # learned from a sloppy fix that left `unquote,)`; the replay is clean
    learned = (
        "from .utils import (quote, unquote,\n    to_native)\n",
        "from .utils import (quote, unquote,)\n",
    )
    text = "from .cookies import (\n    jar_from_dict, morsel, merge)\n\nprint(jar_from_dict, morsel)\n"
    result = replay_fix(
        *learned, [".utils.to_native"], [".cookies.merge"], text, Range.of(1, 27, 1, 32), "python"
    )
    assert result is not None
    assert result.new_text == text.replace(", merge)", ")")


def test_a_string_made_from_a_renamed_name_follows_the_rename() -> None:
    # C408 `dict(arg=1)` -> `{"arg": 1}` replayed on `dict(key=2)`: the key is "key", not "arg"
    # (ruff would accept either; only one keeps the behaviour)
    learned = ("    shc.call(kwargs=dict(arg=1))\n", '    shc.call(kwargs={"arg": 1})\n')
    text = "def f(h):\n    h.call(kwargs=dict(key=2))\n"
    result = replay_fix(*learned, [], [], text, Range.of(1, 18, 1, 29), "python")
    assert result is not None
    assert result.new_text == 'def f(h):\n    h.call(kwargs={"key": 2})\n'


async def test_an_added_keyword_argument_replays_on_other_calls(project: Project) -> None:
    # B028: `stacklevel=2` added to one warnings.warn call; another call with other arguments,
    # laid out one per line with a trailing comma, gets it too
    obs = await project.teach(
        "a.py",
        "import warnings\n\n\ndef old():\n    warnings.warn('old', DeprecationWarning)\n",
        "import warnings\n\n\ndef old():\n    warnings.warn('old', DeprecationWarning, stacklevel=2)\n",
    )
    assert [r.solution_id is not None for r in obs.resolved] == [True]
    text = (
        "import warnings\n\n\ndef legacy(name):\n    warnings.warn(\n"
        "        f'{name} is going away',\n        FutureWarning,\n    )\n"
    )
    fix = view_for(await project.offered("b.py", text), "B028").best_fix
    assert fix is not None and fix.verified is True
    assert fix.replay.new_text == text.replace(
        "FutureWarning,\n", "FutureWarning,\n        stacklevel=2,\n"
    )


async def test_a_fix_that_replays_several_ways_is_kept_after_an_edit_above_it(
    project: Project,
) -> None:
    """A stored fix can replay several ways (here SIM102's collapse with and without the body
    dedented): when the document changes elsewhere, the offered fix is replayed again and
    kept, not dropped (the server's carry-over failed with "too many values to unpack" on
    pluggy's history)."""
    before = (
        "def pick(opts, name):\n    if opts is None:\n        if name.startswith('x'):\n"
        "            opts = {}\n    return opts\n"
    )
    after = (
        "def pick(opts, name):\n    if opts is None and name.startswith('x'):\n"
        "        opts = {}\n    return opts\n"
    )
    await project.teach("a.py", before, after)
    text = before.replace("pick", "choose")
    view = view_for(await project.offered("b.py", text), "SIM102")
    assert view.fixes and view.fixes[0].verified is True
    offered = view.fixes[0].replay.new_text
    options = project.memory.replay_candidates(view, [view.fixes[0].solution], text, "python")
    assert len(options) > 1  # the case this guards: one solution, several replays
    moved = '"""Choices."""\n\n' + text
    # the server's carry-over: the problem's new view (observed on the new text) gets the
    # fixes checked on the old text, replayed again
    moved_view = view_for((await project.check("b.py", moved)).views, "SIM102")
    moved_view.fixes = view.fixes
    again = project.memory.replay_again(moved_view, text, moved, "python")
    assert [f.replay.new_text for f in again] == [
        '"""Choices."""\n\n' + f.replay.new_text for f in view.fixes
    ]
    assert again[0].replay.new_text == '"""Choices."""\n\n' + offered
    assert again[0].verified is True


async def test_a_name_several_past_fixes_brought_in_is_offered_one_fix_s_is_not(
    project: Project,
) -> None:
    """`1 // 0` -> `raise ZeroDivisionError`: one past fix's new name is that place's choice
    (not offered elsewhere); the same edit from two different past fixes is a habit."""
    first = "def test_error(client):\n    def boom():\n        1 // 0\n    return boom\n"
    await project.teach("a.py", first, first.replace("1 // 0", "raise ZeroDivisionError"))
    text = (
        "import pytest\n\n\ndef test_handler(app):\n    @app.route('/')\n    def index():\n"
        "        1 // 0\n\n    assert index\n"
    )
    assert view_for(await project.offered("c.py", text), "B018").fixes == []

    # (a change identical to one stored is the same solution: this one is in a deeper block)
    second = "class Broken:\n    def get(self):\n        if self:\n            1 // 0\n"
    await project.teach("b.py", second, second.replace("1 // 0", "raise ZeroDivisionError"))
    fix = view_for(await project.offered("d.py", text), "B018").best_fix
    assert fix is not None and fix.verified is True
    assert fix.replay.new_text == text.replace("1 // 0", "raise ZeroDivisionError")


async def test_the_same_change_learned_in_two_places_is_a_habit(project: Project) -> None:
    """Two identical changes are one stored solution; learned from a second problem it counts
    a second place, which is what a name nothing near the problem explains needs."""
    first = "def test_one(client):\n    with client:\n        1 // 0\n"
    obs = await project.teach("a.py", first, first.replace("1 // 0", "raise ZeroDivisionError"))
    (one,) = [r.solution_id for r in obs.resolved]
    text = "def test_handler(app):\n    def index():\n        1 // 0\n\n    assert index\n"
    assert view_for(await project.offered("c.py", text), "B018").fixes == []

    second = "class Broken:\n    def get(self):\n        1 // 0\n"
    obs = await project.teach("b.py", second, second.replace("1 // 0", "raise ZeroDivisionError"))
    assert [r.solution_id for r in obs.resolved] == [one]  # the same stored solution
    fix = view_for(await project.offered("d.py", text), "B018").best_fix
    assert fix is not None and fix.verified is True and fix.support == 2
    assert fix.replay.new_text == text.replace("1 // 0", "raise ZeroDivisionError")

    # seen again from the same problem (the file checked once more) is no new place
    await project.teach("b.py", second, second.replace("1 // 0", "raise ZeroDivisionError"))
    fix = view_for(await project.offered("e.py", text), "B018").best_fix
    assert fix is not None and fix.support == 2
