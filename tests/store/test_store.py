"""Foundation: migrations, pgvector + HNSW, the job queue, against the real embedded PostgreSQL."""

from __future__ import annotations

import asyncio
import subprocess

import numpy as np
import psycopg
import pytest
from conftest import codecortex_exe
from pgvector.psycopg import register_vector_async

from codecortex.store import jobs as q
from codecortex.store.embedded import MigrationError
from codecortex.store.migrations import Migration, load_migrations, migrate, migration_status

EXPECTED_TABLES = {
    "users", "github_repos", "processing_jobs", "items", "embeddings", "detected_problems",
    "past_solutions", "knowledge_search_results", "synthesized_solutions", "code_insights",
    "insight_priorities", "codecortex_items", "code_relationships",
    "codecortex_analysis_sessions", "codecortex_ai_cache",
}  # fmt: skip


async def aconnect(url: str) -> psycopg.AsyncConnection:
    return await psycopg.AsyncConnection.connect(url, autocommit=True)


async def test_migrations_from_empty_then_noop(fresh_db: str) -> None:
    conn = await aconnect(fresh_db)
    try:
        applied = await migrate(conn)
        assert [m.name for m in applied] == [m.name for m in load_migrations()]
        cur = await conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
        )
        tables = {r[0] for r in await cur.fetchall()}
        assert EXPECTED_TABLES <= tables
        assert await migrate(conn) == []
        states = await migration_status(conn)
        assert {s.status for s in states} == {"applied"}
    finally:
        await conn.close()


async def test_modified_applied_migration_is_refused(fresh_db: str) -> None:
    conn = await aconnect(fresh_db)
    try:
        original = [Migration(1, "001_a.sql", "CREATE TABLE a (x int);")]
        await migrate(conn, original)
        changed = [Migration(1, "001_a.sql", "CREATE TABLE a (x bigint);")]
        with pytest.raises(MigrationError, match=r"001_a\.sql was changed"):
            await migrate(conn, changed)
        assert [s.status for s in await migration_status(conn, changed)] == ["modified"]
    finally:
        await conn.close()


def test_two_processes_migrating_at_once(fresh_db: str, cli_env: dict[str, str]) -> None:
    env = {**cli_env, "CODECORTEX_DATABASE_URL": fresh_db}
    procs = [
        subprocess.Popen(
            [codecortex_exe(), "db", "migrate"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    applied_lines = [line for out, _ in outs for line in out.splitlines() if "applied" in line]
    assert len(applied_lines) == len(load_migrations())  # each file applied exactly once
    status = subprocess.run(
        [codecortex_exe(), "db", "status"], env=env, capture_output=True, text=True, timeout=60
    )
    assert status.returncode == 0
    assert "0 pending" in status.stdout


def test_two_processes_start_a_new_embedded_data_dir(tmp_path, cli_env) -> None:
    env = {**cli_env, "CODECORTEX_DATA_DIR": str(tmp_path / "data")}
    procs = [
        subprocess.Popen([codecortex_exe(), "db", "migrate"], env=env, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]  # fmt: skip
    outs = [p.communicate(timeout=180) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    status = subprocess.run(
        [codecortex_exe(), "db", "status"], env=env, capture_output=True, text=True, timeout=60
    )
    assert "0 pending" in status.stdout, status


async def test_vector_round_trip_and_hnsw_plan(fresh_db: str) -> None:
    conn = await aconnect(fresh_db)
    try:
        await migrate(conn)
        await register_vector_async(conn)
        rng = np.random.default_rng(7)
        vectors = rng.normal(size=(3000, 384)).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        async with conn.cursor() as cur:
            await cur.executemany(
                "INSERT INTO embeddings (owner_kind, owner_id, model, dimension, embedding)"
                " VALUES ('item', gen_random_uuid(), 'hash-test', 384, %s)",
                [(v,) for v in vectors],
            )
        await conn.execute("ANALYZE embeddings")
        target = vectors[42]
        query = (
            "SELECT embedding FROM embeddings WHERE dimension = 384"
            " ORDER BY embedding::vector(384) <=> %s::vector(384) LIMIT 5"
        )
        cur = await conn.execute(query, (target,))
        rows = await cur.fetchall()
        assert np.allclose(rows[0][0].to_numpy(), target, atol=1e-6)  # round trip, nearest first
        cur = await conn.execute("EXPLAIN " + query, (target,))
        plan = "\n".join(r[0] for r in await cur.fetchall())
        assert "idx_embeddings_hnsw_384" in plan, plan
    finally:
        await conn.close()


@pytest.fixture
async def queue_url(fresh_db: str) -> str:
    conn = await aconnect(fresh_db)
    await migrate(conn)
    await conn.close()
    return fresh_db


async def test_two_workers_never_claim_the_same_job(queue_url: str) -> None:
    setup = await aconnect(queue_url)
    for i in range(40):
        await q.enqueue(setup, "index", {"n": i})
    await setup.close()

    async def worker(name: str) -> list[str]:
        conn = await aconnect(queue_url)
        claimed = []
        while (job := await q.claim(conn, name, ["index"])) is not None:
            claimed.append(job.job_id)
            await q.complete(conn, job.job_id, name, {"by": name})
        await conn.close()
        return claimed

    a, b = await asyncio.gather(worker("a"), worker("b"))
    assert len(a) + len(b) == 40
    assert not set(a) & set(b)


async def test_crashed_workers_job_is_reclaimed_after_lease(queue_url: str) -> None:
    conn = await aconnect(queue_url)
    try:
        job_id = await q.enqueue(conn, "mine", {})
        first = await q.claim(conn, "dies", lease_seconds=0.5)
        assert first is not None and first.job_id == job_id
        assert await q.claim(conn, "other", lease_seconds=30) is None  # lease still held
        await asyncio.sleep(0.7)
        again = await q.claim(conn, "other", lease_seconds=30)
        assert again is not None and again.job_id == job_id and again.attempts == 2
        # The dead worker can no longer complete it.
        await q.complete(conn, job_id, "dies", {})
        assert (await q.get_job(conn, job_id)).status == "running"
    finally:
        await conn.close()


async def test_retries_with_backoff_then_failure(queue_url: str) -> None:
    conn = await aconnect(queue_url)
    try:
        job_id = await q.enqueue(conn, "flaky", {}, max_attempts=2)
        job = await q.claim(conn, "w")
        assert await q.fail(conn, job.job_id, "w", "boom 1") == "pending"
        assert await q.claim(conn, "w") is None  # backing off
        await conn.execute(
            "UPDATE processing_jobs SET run_after = NOW() WHERE job_id = %s", (job_id,)
        )
        job = await q.claim(conn, "w")
        assert job is not None and job.attempts == 2
        assert await q.fail(conn, job.job_id, "w", "boom 2") == "failed"
        final = await q.get_job(conn, job_id)
        assert final.status == "failed" and final.last_error == "boom 2"
    finally:
        await conn.close()


async def test_cancel_running_job_is_seen_at_next_progress(queue_url: str) -> None:
    conn = await aconnect(queue_url)
    try:
        job_id = await q.enqueue(conn, "long", {})
        job = await q.claim(conn, "w")
        assert await q.report_progress(conn, job.job_id, "w", 0.3, "a third") is False
        await q.request_cancel(conn, job_id)
        assert await q.report_progress(conn, job.job_id, "w", 0.5) is True
    finally:
        await conn.close()
