"""Core SQL on a session's connection: the bot's hot path, with statements built and compiled once.

Measured on the benchmark machine: building a SQLAlchemy statement and computing its cache key cost several
times what SQLite takes to run it (an UPDATE with a subquery: 714 µs built per call, 110 µs built once), and
SQLAlchemy's execution layers cost several times SQLite's work even then (a two-row indexed SELECT: ~200 µs
through `AsyncConnection.execute`, ~50 µs in sqlite3). So the statements run for every message are module
constants with bound parameters, and on SQLite (our own in-loop driver, storage/sqlite_driver.py) `rows` and
`run` execute them as SQL compiled once per dialect, with SQLAlchemy's own type conversions, on the session's
connection and inside its transaction. Elsewhere (PostgreSQL) they go through SQLAlchemy as usual; the same
statement objects either way, so there is one definition of each query.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy
from sqlalchemy import Table, false, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError, StatementError
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel.ext.asyncio.session import AsyncSession

from storage import sqlite_driver
from storage.models import Ticket

# The fast path here leans on SQLAlchemy internals: Session._is_clean, the compiled statement's positiontup,
# and (storage/sqlite_driver.py) what the aiosqlite adapter reaches into. It is proven on the 2.1 series,
# which pyproject.toml pins (>=2.1.0,<2.2: the suite has run on 2.1.0 and on 2.1.9); on any other version
# the public path is taken instead (about 8 % slower end to end, `make bench`), never a guess.
FAST_PATH = tuple(int(p) for p in sqlalchemy.__version__.split(".")[:2]) == (2, 1)

_CONN = "linju.core.connection"
# Changes nothing; on SQLite it begins the write transaction (any table would do: the lock is the database's).
_TAKE_WRITE_LOCK = update(Ticket.__table__).where(false()).values(id=Ticket.__table__.c.id)
_RAW = "linju.core.sqlite"


async def connection(session: AsyncSession) -> AsyncConnection:
    """The session's connection, in its transaction.

    Core statements do not autoflush, so ORM changes still pending in the session (a staff command earlier in
    the same batch) are written first: a Core read must see them.
    """
    sync = session.sync_session
    # SQLAlchemy's own autoflush test is cheaper than building new/dirty/deleted.
    if (not sync._is_clean()) if FAST_PATH else bool(sync.new or sync.dirty or sync.deleted):
        await session.flush()
    conn = sync.info.get(_CONN)
    if conn is None or conn.closed or not conn.in_transaction():
        conn = await session.connection()
        sync.info[_CONN] = conn
        sync.info[_RAW] = await _sqlite(conn)
    return conn


async def _fast(session: AsyncSession) -> tuple[AsyncConnection, sqlite_driver.Connection | None]:
    """The session's connection and, on our SQLite driver, the driver connection under it."""
    conn = await connection(session)
    return conn, session.sync_session.info.get(_RAW)


async def take_write_lock(session: AsyncSession) -> None:
    """On SQLite, begin writing now (a no-op UPDATE takes the database's write lock, as BEGIN IMMEDIATE does):
    what the transaction reads from here to its commit cannot change under it. On PostgreSQL rows are locked
    as they are read instead (SELECT … FOR UPDATE), so this does nothing there."""
    conn = await connection(session)
    if conn.dialect.name == "sqlite":
        await conn.execute(_TAKE_WRITE_LOCK)


def insert_ignoring(table: Table, conflict: list[str]) -> Mapping[str, Any]:
    """INSERT … ON CONFLICT DO NOTHING for each supported dialect; pick one with `for_dialect`."""
    return {
        "sqlite": sqlite.insert(table).on_conflict_do_nothing(index_elements=conflict),
        "postgresql": postgresql.insert(table).on_conflict_do_nothing(index_elements=conflict),
    }


def for_dialect(statements: Mapping[str, Any], conn: AsyncConnection) -> Any:
    return statements[conn.dialect.name]


# ---------------------------------------------------------------- execution


async def rows(session: AsyncSession, stmt: Any, params: Mapping[str, Any] | None = None) -> list[Sequence[Any]]:
    """The rows a SELECT (or a statement with RETURNING) gives, as tuples."""
    conn, raw = await _fast(session)
    if raw is None:
        return list((await conn.execute(stmt, params)).all())
    prepared = _prepare(stmt, conn.dialect, params or {})
    try:
        got = await raw.run_sql(prepared.sql, prepared.bind(params or {}), rows=True)
    except sqlite3.Error as exc:
        raise _wrapped(prepared.sql, params, exc) from exc
    return prepared.convert(got)


async def run(session: AsyncSession, stmt: Any, params: Mapping[str, Any] | Sequence[Mapping[str, Any]]) -> None:
    """Execute a statement that returns no rows, once or (a list of parameter sets) many times."""
    conn, raw = await _fast(session)
    if raw is None:
        await conn.execute(stmt, params)
        return
    many = not isinstance(params, Mapping)
    batch: Sequence[Mapping[str, Any]] = [params] if isinstance(params, Mapping) else params
    if not batch:
        return
    prepared = _prepare(stmt, conn.dialect, batch[0])
    try:
        if many:
            await raw.run_sql(prepared.sql, [prepared.bind(p) for p in batch], many=True)
        else:
            await raw.run_sql(prepared.sql, prepared.bind(batch[0]))
    except sqlite3.Error as exc:
        raise _wrapped(prepared.sql, params, exc) from exc


async def _sqlite(conn: AsyncConnection) -> sqlite_driver.Connection | None:
    if conn.dialect.name != "sqlite" or not FAST_PATH:
        return None
    raw = (await conn.get_raw_connection()).driver_connection
    return raw if isinstance(raw, sqlite_driver.Connection) else None


def _wrapped(sql: str, params: Any, exc: sqlite3.Error) -> StatementError:
    """The error as SQLAlchemy would have raised it (OperationalError for a locked database, and so on)."""
    return DBAPIError.instance(sql, params, exc, sqlite3.Error, hide_parameters=True)


@dataclass(frozen=True, slots=True)
class _Prepared:
    sql: str
    slots: tuple[tuple[str, Any, Callable[[Any], Any] | None], ...]  # (name, default, bind processor)
    results: tuple[Callable[[Any], Any] | None, ...]

    def bind(self, params: Mapping[str, Any]) -> tuple[Any, ...]:
        out = []
        for name, default, process in self.slots:
            value = params.get(name, default)
            out.append(process(value) if process is not None and value is not None else value)
        return tuple(out)

    def convert(self, got: list[Sequence[Any]]) -> list[Sequence[Any]]:
        if not any(self.results):
            return got
        procs = self.results
        return [tuple(v if p is None or v is None else p(v) for p, v in zip(procs, r, strict=True)) for r in got]


_PREPARED: dict[tuple[int, frozenset[str]], tuple[Any, _Prepared]] = {}


def _prepare(stmt: Any, dialect: Dialect, params: Mapping[str, Any]) -> _Prepared:
    key = (id(stmt), frozenset(params))
    hit = _PREPARED.get(key)
    if hit is not None and hit[0] is stmt:
        return hit[1]
    compiled = stmt.compile(dialect=dialect, column_keys=sorted(params))
    if compiled.positiontup is None or any(b.expanding for b in compiled.binds.values()):
        raise ValueError("the fast path takes positional statements without expanding IN lists")
    if getattr(compiled, "insert_prefetch", None) or getattr(compiled, "update_prefetch", None):
        raise ValueError("the fast path does not compute column defaults: give every value")
    slots = []
    for name in compiled.positiontup:
        bp = compiled.binds[name]
        process = bp.type.dialect_impl(dialect).bind_processor(dialect)
        slots.append((name, None if bp.required else bp.effective_value, process))
    results = tuple(c.type.dialect_impl(dialect).result_processor(dialect, None) for c in stmt.exported_columns)
    prepared = _Prepared(compiled.string, tuple(slots), results)
    _PREPARED[key] = (stmt, prepared)  # the statement is kept alive, so its id is never reused
    return prepared
