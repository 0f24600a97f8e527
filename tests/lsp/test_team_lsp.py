"""Team features over LSP (real server, stdio): share a just-learned fix with a code action, and
achievements announced once with window/showMessage."""

from __future__ import annotations

from pathlib import Path

import psycopg
from lsphelp import (
    Editor,
    change_doc,
    code_actions,
    command,
    eventually,
    forward,
    open_doc,
    server_env,
    start_client,
)
from lsprotocol import types

BEFORE = "import os\nimport sys\n\nprint(sys.argv)\n"
AFTER = "import sys\n\nprint(sys.argv)\n"
F401 = {
    "range": {"start": {"line": 0, "character": 7}, "end": {"line": 0, "character": 9}},
    "severity": 1,
    "code": "F401",
    "source": "ruff",
    "message": "`os` imported but unused",
}


async def stats(client) -> dict:
    result = await command(client, "codecortex.stats")
    return result if isinstance(result, dict) and "problems" in result else {}


async def test_share_learned_fix_and_announce_achievement_once(
    editor: Editor, fresh_db: str, tmp_path: Path
) -> None:
    ws = tmp_path / "ws"
    ws.mkdir()
    # notifications = all: achievements shown as messages too (default: the log only).
    client = await start_client(server_env(fresh_db), ws, editor, {"notifications": "all"})
    try:
        await eventually(lambda: stats(client))
        uri = open_doc(client, ws / "a.py", BEFORE)
        forward(client, uri, 1, [F401])

        async def announced() -> list[str]:
            return [m.message for m in client.messages if "achievement unlocked" in m.message]

        # The first problem recorded in this repository earns `first_repo`, shown once.
        assert await eventually(announced) == [
            "CodeCortex achievement unlocked: First repository — a repository where CodeCortex"
            " recorded one of your problems or solutions."
        ]
        assert all(m.type == types.MessageType.Info for m in client.messages
                   if "achievement" in m.message)  # fmt: skip

        change_doc(client, uri, AFTER, 2)
        forward(client, uri, 2, [])

        async def share_action():
            found = await code_actions(client, uri, F401)
            return [a for a in found if "share the fix you just made" in a.title]

        (action,) = await eventually(share_action)
        assert action.kind == "quickfix"  # listed in the editor's quick-fix menu (`only`)
        (solution_id,) = action.command.arguments
        with psycopg.connect(fresh_db) as conn:
            row = conn.execute(
                "SELECT visibility FROM past_solutions WHERE id = %s", (solution_id,)
            ).fetchone()
            assert row == ("private",)
        assert await command(client, action.command.command, *action.command.arguments) == {
            "shared": True,
            "kind": "solution",
        }
        with psycopg.connect(fresh_db) as conn:
            row = conn.execute(
                "SELECT visibility FROM past_solutions WHERE id = %s", (solution_id,)
            ).fetchone()
            assert row == ("team",)
        assert await share_action() == []  # not offered again

        # Not someone else's (or an unknown) id.
        result = await command(client, "codecortex.share", "00000000-0000-0000-0000-000000000000")
        assert result == {"shared": False}

        # More activity: still announced exactly once, and recorded as announced.
        forward(client, uri, 3, [])
        await eventually(lambda: stats(client))
        with psycopg.connect(fresh_db) as conn:
            rows = conn.execute(
                "SELECT achievement_type, announced_at IS NOT NULL FROM codecortex_achievements"
            ).fetchall()
        assert rows == [("first_repo", True)]
        assert len(await announced()) == 1
    finally:
        await client.shutdown_session()
