"""Replays through the real language server over stdio: only verified fixes are offered."""

from __future__ import annotations

from pathlib import Path

from lsphelp import (
    Editor,
    apply_workspace_edit,
    change_doc,
    code_actions,
    command,
    eventually,
    forward,
    open_doc,
    ruff_diagnostics,
    server_env,
    start_client,
)


async def _teach(client, path: Path, before: str, after: str) -> None:
    uri = open_doc(client, path, before)
    forward(client, uri, 1, ruff_diagnostics(path, before))
    await eventually(lambda: _views(client, uri))
    change_doc(client, uri, after, 2)
    forward(client, uri, 2, ruff_diagnostics(path, after))


async def _views(client, uri: str):
    """The document's views once its fixes are all replayed and checked."""
    shown = await command(client, "codecortex.showSolutions", uri)
    if not isinstance(shown, dict) or shown.get("checking"):
        return None
    return shown.get("problems")


async def _solutions(client, minimum: int):
    result = await command(client, "codecortex.stats")
    ok = isinstance(result, dict) and result.get("solutions", 0) >= minimum
    return result if ok else None


async def test_wrong_target_is_not_offered_and_a_verified_fix_is(
    editor: Editor, fresh_db: str, tmp_path: Path
) -> None:
    ws = tmp_path / "ws"
    ws.mkdir()
    client = await start_client(server_env(fresh_db), ws, editor)
    try:
        await eventually(lambda: command(client, "codecortex.stats"))
        # learned: `cast` removed from a two-name import
        await _teach(
            client,
            ws / "a.py",
            "from typing import cast, Any\n\nX: Any = 1\n",
            "from typing import Any\n\nX: Any = 1\n",
        )
        await eventually(lambda: _solutions(client, 1))

        # `glob` unused three lines above a two-name `from enum import Enum, auto` in use:
        # the old fix (renamed) would remove `Enum`; nothing may be offered
        b_path = ws / "b.py"
        b_text = (
            "import glob\nimport sys\n\nfrom enum import Enum, auto\n\n\nclass C(Enum):\n"
            "    A = auto()\n\n\nprint(sys.argv)\n"
        )
        b_uri = open_doc(client, b_path, b_text)
        (glob_diag,) = ruff_diagnostics(b_path, b_text)
        forward(client, b_uri, 1, [glob_diag])
        await eventually(lambda: _views(client, b_uri))
        actions = await code_actions(client, b_uri, glob_diag)
        assert not [a for a in actions if "apply past fix" in a.title]

        # learned: a plain unused import removed; now a fix applies, and ruff confirms it
        await _teach(
            client,
            ws / "c.py",
            "import json\nimport os\n\nprint(os.sep)\n",
            "import os\n\nprint(os.sep)\n",
        )
        await eventually(lambda: _solutions(client, 2))
        d_path = ws / "d.py"
        d_uri = open_doc(client, d_path, b_text)
        forward(client, d_uri, 1, [glob_diag])

        async def fix_actions():
            found = await code_actions(client, d_uri, glob_diag)
            return [a for a in found if "apply past fix" in a.title]

        (action, *_) = await eventually(fix_actions)
        assert "unverified" not in action.title
        assert action.is_preferred
        assert apply_workspace_edit(b_text, d_uri, action.edit, editor) == b_text.replace(
            "import glob\n", ""
        )
    finally:
        await client.shutdown_session()


async def test_a_fix_offered_before_an_edit_above_it_still_applies_at_its_new_place(
    editor: Editor, fresh_db: str, tmp_path: Path
) -> None:
    """Recalled problems keep their fixes across edits (replayed on the new text, not looked
    up again): the fix follows the problem when lines are added above it."""
    ws = tmp_path / "ws"
    ws.mkdir()
    client = await start_client(server_env(fresh_db), ws, editor)
    try:
        await eventually(lambda: command(client, "codecortex.stats"))
        await _teach(
            client,
            ws / "a.py",
            "import json\nimport os\n\nprint(os.sep)\n",
            "import os\n\nprint(os.sep)\n",
        )
        await eventually(lambda: _solutions(client, 1))
        b_path = ws / "b.py"
        text = "import glob\nimport sys\n\nprint(sys.argv)\n"
        b_uri = open_doc(client, b_path, text)
        forward(client, b_uri, 1, ruff_diagnostics(b_path, text))

        async def fix_for(current: str):
            (diag,) = ruff_diagnostics(b_path, current)
            found = await code_actions(client, b_uri, diag)
            return [a for a in found if "apply past fix" in a.title] or None

        async def solutions_at(line: int):
            shown = await command(client, "codecortex.showSolutions", b_uri, line)
            problems = shown.get("problems") if isinstance(shown, dict) else None
            return [p for p in problems or [] if p["solutions"]] or None

        await eventually(lambda: solutions_at(0))
        (first, *_) = await eventually(lambda: fix_for(text))
        assert apply_workspace_edit(text, b_uri, first.edit, editor) == text.replace(
            "import glob\n", ""
        )

        moved = '"""Tools."""\n\n' + text
        change_doc(client, b_uri, moved, 2)
        forward(client, b_uri, 2, ruff_diagnostics(b_path, moved))
        await eventually(lambda: solutions_at(2))  # the server's view moved with the problem
        (again, *_) = await eventually(lambda: fix_for(moved))
        assert apply_workspace_edit(moved, b_uri, again.edit, editor) == moved.replace(
            "import glob\n", ""
        )
    finally:
        await client.shutdown_session()
