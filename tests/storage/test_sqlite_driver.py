"""The in-loop SQLite driver: statements on the loop's thread by default, in a worker thread when offloaded."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import text

from storage import engine as db


@pytest.mark.parametrize("offload", [False, True])
async def test_statements_run_on_the_loop_thread_unless_offloaded(tmp_path, offload):
    engine = db.create_engine(f"sqlite+aiosqlite:///{tmp_path / 'x.db'}", offload=offload)
    try:
        async with engine.connect() as conn:
            raw = (await conn.get_raw_connection()).driver_connection
            raw._live().create_function("thread_id", 0, threading.get_ident)
            [(ran_on,)] = (await conn.execute(text("SELECT thread_id()"))).all()
    finally:
        await engine.dispose()
    assert (ran_on == threading.get_ident()) is not offload


async def test_a_locked_database_is_waited_for_without_blocking_the_loop(tmp_path):
    import asyncio
    import sqlite3

    path = tmp_path / "x.db"
    engine = db.create_engine(f"sqlite+aiosqlite:///{path}", lock_timeout=5)
    try:
        async with engine.begin() as conn:
            await conn.execute(text("CREATE TABLE t (x INTEGER)"))
        holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        holder.execute("BEGIN IMMEDIATE")
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.01)
                ticks += 1

        async def release_later() -> None:
            await asyncio.sleep(0.3)
            holder.rollback()

        beat = asyncio.create_task(ticker())
        release = asyncio.create_task(release_later())
        async with engine.begin() as conn:
            await conn.execute(text("INSERT INTO t VALUES (1)"))
        await release
        beat.cancel()
        async with engine.connect() as conn:
            assert (await conn.execute(text("SELECT count(*) FROM t"))).scalar() == 1
    finally:
        holder.close()
        await engine.dispose()
    # While the insert waited for the lock, the loop kept running other tasks (a blocking busy wait stops them).
    assert ticks >= 5


async def test_the_wal_is_checkpointed_in_a_worker_thread_and_stays_short(tmp_path, monkeypatch):
    import asyncio

    from storage import sqlite_driver

    threads = []
    checkpoint = sqlite_driver._Checkpointer._checkpoint

    def counted(self) -> None:
        threads.append(threading.get_ident())
        checkpoint(self)

    monkeypatch.setattr(sqlite_driver._Checkpointer, "_checkpoint", counted)
    monkeypatch.setattr(sqlite_driver, "CHECKPOINT_BYTES", 64 * 1024)
    monkeypatch.setattr(sqlite_driver, "LOOP_CHECKPOINT_PAGES", 64)  # 256 KiB: the commit's own, as a backstop
    path = tmp_path / "x.db"
    engine = db.create_engine(f"sqlite+aiosqlite:///{path}")
    try:
        async with engine.begin() as conn:
            await conn.execute(text("CREATE TABLE t (x TEXT)"))
            [(autocheckpoint,)] = (await conn.execute(text("PRAGMA wal_autocheckpoint"))).all()
        for i in range(200):  # about 2.4 MB of pages written in all
            async with engine.begin() as conn:
                await conn.execute(text("INSERT INTO t VALUES (:x)"), {"x": "填" * 2000 + str(i)})
            await asyncio.sleep(0)
        wal = (path.parent / "x.db-wal").stat().st_size
    finally:
        await engine.dispose()
    assert autocheckpoint == 64  # the commit's own checkpoint comes late, only to start the WAL over
    assert threads and threading.get_ident() not in threads  # the copying is done off the loop
    assert wal < 1024 * 1024, f"the WAL grew to {wal} bytes: checkpoints did not keep up"


async def test_a_cancelled_offloaded_statement_is_closed_after_it_ends_not_under_it(tmp_path):
    import asyncio

    engine = db.create_engine(f"sqlite+aiosqlite:///{tmp_path / 'x.db'}", offload=True)
    slow = text("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 3000000) SELECT count(*) FROM n")

    async def long_read() -> None:
        async with engine.connect() as conn:
            await conn.execute(slow)

    task = asyncio.create_task(long_read())
    await asyncio.sleep(0.2)  # the worker thread is inside SQLite now
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    await engine.dispose()  # closing under a running statement crashed the interpreter once (SIGSEGV, full suite)
    again = db.create_engine(f"sqlite+aiosqlite:///{tmp_path / 'x.db'}", offload=True)
    try:
        async with again.connect() as conn:
            assert (await conn.execute(text("SELECT 1"))).scalar() == 1
    finally:
        await again.dispose()
