"""Changing the embedder schedules a backfill job that embeds every row with the new model,
reported to the editor as work-done progress; the old model's vectors stay side by side."""

from __future__ import annotations

from pathlib import Path

import psycopg
from lsphelp import Editor, eventually, learn_unused_import, server_env, start_client, stats
from lsprotocol import types


async def test_switching_to_an_openai_embedder_backfills(
    editor: Editor, fresh_db: str, tmp_path: Path, fake_openai
) -> None:
    env = server_env(fresh_db, CODECORTEX_OPENAI_API_KEY="sk-test-not-a-real-key-000000")
    client = await start_client(env, tmp_path, editor)
    try:
        await eventually(lambda: stats(client))
        await learn_unused_import(client, tmp_path)  # stored with hash vectors
        client.workspace_did_change_configuration(
            types.DidChangeConfigurationParams(
                settings={"codecortex": {"embedder": "openai", "embeddingModel": "nomic-embed-text",
                                         "embeddingBaseUrl": fake_openai.base_url}}
            )
        )  # fmt: skip

        def models() -> dict[str, int]:
            with psycopg.connect(fresh_db) as conn:
                rows = conn.execute(
                    "SELECT model, COUNT(*) FROM embeddings WHERE owner_kind = 'past_solution'"
                    " GROUP BY model"
                ).fetchall()
            return dict(rows)

        async def backfilled():
            found = models()
            return found if found.get("openai:nomic-embed-text") else None

        found = await eventually(backfilled, timeout=40)
        assert found["hash-v1-384"] == found["openai:nomic-embed-text"] >= 1
        assert fake_openai.requests_to("embeddings")

        async def job_progress_ended():
            for token, reports in client.progress_reports.items():
                if str(token).startswith("job-") and reports and reports[-1].kind == "end":
                    return reports
            return None

        reports = await eventually(job_progress_ended)
        assert reports[0].title == "CodeCortex: embed backfill"
        assert reports[-1].message == "completed"
    finally:
        await client.shutdown_session()
