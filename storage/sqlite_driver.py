"""A SQLite connection for SQLAlchemy's asyncio engine that runs statements on the event loop's own thread.

Why: aiosqlite runs every call (cursor, execute, fetch, close) in a worker thread and hands the result back
through the loop; for the bot's short statements those hand-offs cost far more than SQLite's own work (the
profile of `make bench` showed the loop idle half the time, waiting on them). Here each call is made inline;
SQLAlchemy's aiosqlite dialect drives this object exactly as it drives an aiosqlite connection (`async_creator`).

What it gives up, and how that is handled:
- A statement blocks the loop while SQLite runs it. The bot's hot path is index lookups and small writes
  (tens of microseconds); long reports (digests over a million tickets) use an engine in `offload` mode, whose
  calls run in one worker thread per connection as aiosqlite's do.
- SQLite's own busy timeout would block the loop while another process holds the write lock. So the busy
  timeout is zero and a locked database is waited for here, with `asyncio.sleep` between attempts, up to
  `timeout` seconds, after which the "database is locked" error surfaces as it would with a busy timeout.
- A commit that crosses SQLite's auto-checkpoint size copies the WAL back into the database file (and syncs
  it), which costs milliseconds on the loop. So a passive checkpoint runs on its own connection in a worker
  thread whenever the WAL has grown past `CHECKPOINT_BYTES`, and the commit's own checkpoint waits for four
  times that: under a steady stream of writes only a writer can start the WAL over, so it still checkpoints
  now and then, cheaply, as the worker has already copied nearly everything.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sqlite3
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

log = logging.getLogger(__name__)

SQLITE_BUSY = 5
SQLITE_LOCKED = 6
_FIRST_WAIT = 0.001
_MAX_WAIT = 0.05
CHECKPOINT_BYTES = 4 * 1024 * 1024  # SQLite's own default: 1,000 pages of 4 KiB
LOOP_CHECKPOINT_PAGES = 4000  # the commit's own checkpoint (16 MiB of 4 KiB pages): keeps the WAL bounded


def _is_busy(exc: sqlite3.OperationalError) -> bool:
    # The primary code only: BUSY_SNAPSHOT (517) means the transaction must restart, which waiting cannot fix.
    code = getattr(exc, "sqlite_errorcode", None)
    if code is None:
        return "database is locked" in str(exc)
    return code in (SQLITE_BUSY, SQLITE_LOCKED)


class _Runner:
    """Runs blocking SQLite calls inline (the default) or in the connection's own worker thread (offload)."""

    def __init__(self, timeout: float, offload: bool) -> None:
        self.timeout = timeout
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="sqlite") if offload else None

    async def __call__(self, fn: Callable[..., Any], *args: Any) -> Any:
        deadline = None
        wait = _FIRST_WAIT
        while True:
            try:
                if self._pool is None:
                    return fn(*args)
                return await asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)
            except sqlite3.OperationalError as exc:
                if not _is_busy(exc):
                    raise
                now = time.monotonic()
                if deadline is None:
                    deadline = now + self.timeout
                if now >= deadline:
                    raise
                await asyncio.sleep(min(wait, deadline - now))
                wait = min(wait * 2, _MAX_WAIT)

    def last(self, fn: Callable[[], Any]) -> None:
        """Run `fn` after whatever this connection's worker is still doing, then let the worker go.

        A statement whose caller was cancelled keeps running in the worker; closing the connection under it
        from another thread would crash the process, so the close queues behind it.
        """
        if self._pool is None:
            fn()
            return
        self._pool.submit(fn)
        self._pool.shutdown(wait=False)


class _Checkpointer:
    """Keeps the WAL short from a worker thread: a passive checkpoint never waits for, or blocks, a writer."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.wal = path + "-wal"
        self._running = False
        self._commits = 0

    def after_commit(self) -> None:
        self._commits += 1
        if self._running or self._commits % 16:
            return
        try:
            size = os.path.getsize(self.wal)
        except OSError:
            return
        if size >= CHECKPOINT_BYTES:
            self._running = True
            future = asyncio.get_running_loop().run_in_executor(None, self._checkpoint)
            future.add_done_callback(self._done)

    def _checkpoint(self) -> None:
        conn = sqlite3.connect(self.path, timeout=5, check_same_thread=False)
        try:
            conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
        finally:
            conn.close()

    def _done(self, future: asyncio.Future) -> None:
        self._running = False
        if not future.cancelled() and future.exception() is not None:
            log.warning("WAL checkpoint failed: %s", future.exception())


class Cursor:
    """The subset of an aiosqlite cursor that SQLAlchemy's adapter uses."""

    __slots__ = ("_cursor", "_run")

    def __init__(self, cursor: sqlite3.Cursor, run: _Runner) -> None:
        self._cursor = cursor
        self._run = run

    async def __aenter__(self) -> Cursor:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def execute(self, sql: str, parameters: Iterable[Any] | None = None) -> Cursor:
        if parameters is None:
            await self._run(self._cursor.execute, sql)
        else:
            await self._run(self._cursor.execute, sql, parameters)
        return self

    async def executemany(self, sql: str, seq_of_parameters: Iterable[Iterable[Any]]) -> Cursor:
        await self._run(self._cursor.executemany, sql, list(seq_of_parameters))
        return self

    async def fetchall(self) -> list[Any]:
        return await self._run(self._cursor.fetchall)

    async def fetchone(self) -> Any:
        return await self._run(self._cursor.fetchone)

    async def fetchmany(self, size: int | None = None) -> list[Any]:
        return await self._run(self._cursor.fetchmany, size if size is not None else self._cursor.arraysize)

    async def close(self) -> None:
        await self._run(self._cursor.close)  # in the worker, when offloaded: it may still be stepping

    @property
    def description(self) -> Any:
        return self._cursor.description

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount

    @property
    def lastrowid(self) -> int | None:
        return self._cursor.lastrowid

    @property
    def arraysize(self) -> int:
        return self._cursor.arraysize

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        self._cursor.arraysize = value


class _InlineQueue:
    """Stands in for aiosqlite's request queue, which the dialect's isolation-level setter uses directly."""

    __slots__ = ()

    def put_nowait(self, item: tuple[asyncio.Future, Callable[[], Any]]) -> None:
        future, function = item
        try:
            future.set_result(function())
        except Exception as exc:
            future.set_exception(exc)


class Connection:
    """The subset of an aiosqlite connection that SQLAlchemy's aiosqlite dialect uses."""

    _tx = _InlineQueue()

    def __init__(self, conn: sqlite3.Connection, run: _Runner, checkpointer: _Checkpointer | None = None) -> None:
        self._conn: sqlite3.Connection | None = conn
        self._run = run
        self._checkpointer = checkpointer

    @property
    def _connection(self) -> sqlite3.Connection | None:  # the dialect checks this before commit/rollback
        return self._conn

    def _live(self) -> sqlite3.Connection:
        if self._conn is None:
            raise ValueError("no active connection")
        return self._conn

    def cursor(self) -> Cursor:
        return Cursor(self._live().cursor(), self._run)

    async def execute(self, sql: str, parameters: Iterable[Any] | None = None) -> Cursor:
        return await self.cursor().execute(sql, parameters)

    async def commit(self) -> None:
        await self._run(self._live().commit)
        if self._checkpointer is not None:
            self._checkpointer.after_commit()

    async def run_sql(self, sql: str, parameters: Any, *, many: bool = False, rows: bool = False) -> Any:
        """Run one already-compiled statement (storage/core.py's fast path): its rows, or its row count."""

        def work() -> Any:
            cur = self._live().cursor()
            try:
                if many:
                    cur.executemany(sql, parameters)
                else:
                    cur.execute(sql, parameters)
                return cur.fetchall() if rows else cur.rowcount
            finally:
                cur.close()

        return await self._run(work)

    async def rollback(self) -> None:
        await self._run(self._live().rollback)

    async def close(self) -> None:
        self.stop()

    def stop(self) -> None:  # also the dialect's forced terminate
        conn, self._conn = self._conn, None
        if conn is None:
            return

        def close() -> None:
            try:
                conn.close()
            except sqlite3.Error as exc:
                log.warning("closing a SQLite connection: %s", exc)

        self._run.last(close)

    async def create_function(self, *args: Any, **kw: Any) -> None:
        self._live().create_function(*args, **kw)

    @property
    def isolation_level(self) -> str | None:
        return self._live().isolation_level

    @isolation_level.setter
    def isolation_level(self, value: str | None) -> None:
        self._live().isolation_level = value  # type: ignore[assignment]  # typeshed omits "" (plain BEGIN)


def connector(path: str, *, timeout: float = 30.0, offload: bool = False) -> Callable[[], Any]:
    """An `async_creator` for `create_async_engine("sqlite+aiosqlite:///…")` opening `path` with this driver."""
    checkpointer = _Checkpointer(path) if path != ":memory:" else None

    async def connect() -> Connection:
        run = _Runner(timeout, offload)
        # isolation_level "" (plain BEGIN, sqlite3's own default) is missing from typeshed's literal type.
        conn = sqlite3.connect(path, timeout=0, check_same_thread=False, isolation_level="")  # type: ignore[call-overload]
        conn.execute("PRAGMA busy_timeout=0")
        if checkpointer is not None:
            conn.execute(f"PRAGMA wal_autocheckpoint={LOOP_CHECKPOINT_PAGES}")
        return Connection(conn, run, checkpointer)

    return connect
