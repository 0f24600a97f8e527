"""The server's database connection under many documents at once: a busy pool is not an outage.

Real embedded PostgreSQL; the real `Database` the server uses.
"""

from __future__ import annotations

import asyncio
from typing import Any

from codecortex.session import database
from codecortex.session.database import Database


async def test_a_pool_busy_with_other_work_is_waited_for_not_reported_down(
    db_settings: Any,
) -> None:
    states: list[str] = []
    db = Database(db_settings, on_state=lambda state, _error: states.append(state))
    assert await db.start()
    pool = db._pool
    assert pool is not None
    held = asyncio.Event()
    release = asyncio.Event()
    holding = 0

    async def hold() -> None:  # e.g. one document's recall each
        nonlocal holding
        async with db.connection() as conn:
            await conn.execute("SELECT 1")
            holding += 1
            if holding == pool.max_size:
                held.set()
            await release.wait()

    holders = [asyncio.create_task(hold()) for _ in range(pool.max_size)]
    await asyncio.wait_for(held.wait(), 60)
    # every connection stays in use for longer than one acquire timeout
    asyncio.get_running_loop().call_later(database.ACQUIRE_TIMEOUT + 1, release.set)
    try:
        async with db.connection() as conn:
            row = await (await conn.execute("SELECT 41 + 1 AS n")).fetchone()
        assert row is not None and row["n"] == 42
        assert release.is_set()  # it did wait past the timeout for a connection to come back
        assert db.state == "connected" and "down" not in states
    finally:
        release.set()
        await asyncio.gather(*holders)
        await db.close()
