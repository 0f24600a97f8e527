"""Indexed docs are private to whoever indexed them; shared with the team only on purpose
(`shareDocs`). Two developers on one database, each with the real server over stdio."""

from __future__ import annotations

from pathlib import Path

from lsphelp import Editor, command, eventually, server_env, start_client

RUNBOOK = "# Runbook\n\n## Rotating the payment gateway keys\n\nAsk Zebediah for the vault.\n"


async def _search(client, query: str) -> list[dict]:
    result = await command(client, "codecortex.search", query)
    return [r for r in (result or {}).get("results", []) if r["kind"] == "knowledge"]


async def _found(client, query: str):
    return await _search(client, query) or None


async def test_docs_are_private_unless_shared(
    editor: Editor, fresh_db: str, tmp_path: Path
) -> None:
    for share in (False, True):
        alice_ws = tmp_path / f"alice-{share}"
        alice_ws.mkdir()
        (alice_ws / "RUNBOOK.md").write_text(RUNBOOK.replace("Zebediah", f"Zebediah{share}"))
        bob_ws = tmp_path / f"bob-{share}"
        bob_ws.mkdir()
        env = server_env(fresh_db)
        alice = await start_client(
            env, alice_ws, editor, {"user": "alice@example.com", "shareDocs": share}
        )
        bob = await start_client(env, bob_ws, editor.other, {"user": "bob@example.com"})
        try:
            query = f"Zebediah{share} payment gateway vault"
            hits = await eventually(lambda a=alice, q=query: _found(a, q))  # indexed: hers
            hit = hits[0]
            assert "Zebediah" in hit["snippet"], hits
            assert hit["visibility"] == ("team" if share else "private")
            if share:
                seen = await eventually(lambda b=bob, q=query: _found(b, q))
                assert seen[0]["owner"] == "alice@example.com" and "Zebediah" in seen[0]["snippet"]
            else:
                assert not [h for h in await _search(bob, query) if "Zebediah" in h["snippet"]]
        finally:
            await alice.shutdown_session()
            await bob.shutdown_session()
