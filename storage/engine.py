"""Database engines: SQLite (WAL, file in the data dir) by default, PostgreSQL by URL; migrations."""

from __future__ import annotations

import logging
from pathlib import Path

from sqlalchemy import event, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import OperationalError, ProgrammingError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlmodel.ext.asyncio.session import AsyncSession

from storage import core, sqlite_driver

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
# The newest migration's revision (tests check it is alembic's head). A database already there is not
# handed to alembic at all: importing alembic was a twentieth of the bot's start-up (issue 9).
SCHEMA_HEAD = "0010"


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def create_engine(
    url: str, *, echo: bool = False, offload: bool = False, lock_timeout: float = 30.0
) -> AsyncEngine:
    """Create an async engine; SQLite gets WAL, foreign keys and our in-loop driver (see storage/sqlite_driver).

    Bound parameters are hidden from SQL errors (`hide_parameters`): they carry message text and phone numbers,
    and an error's text ends up in the inbox and the log.

    `offload=True` runs SQLite calls in a worker thread instead of on the event loop: for engines that run
    long reports (digests) while the bot keeps answering. `lock_timeout`: how long a SQLite write waits for
    another process's lock before "database is locked" (waiting without blocking the loop).
    """
    if is_sqlite(url):
        path = make_url(url).database or ":memory:"
        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        if core.FAST_PATH:
            engine = create_async_engine(
                url,
                echo=echo,
                hide_parameters=True,
                async_creator=sqlite_driver.connector(path, timeout=lock_timeout, offload=offload),
            )
        else:  # a SQLAlchemy our driver was not proven on: the library's own aiosqlite path
            engine = create_async_engine(url, echo=echo, hide_parameters=True, connect_args={"timeout": lock_timeout})

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record) -> None:  # pragma: no cover - trivial
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=FULL")  # each commit durable on power loss (WAL fsync per commit)
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        return engine
    return create_async_engine(
        url, echo=echo, hide_parameters=True, pool_pre_ping=True, pool_size=5, max_overflow=5
    )


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False)


def _alembic_config(connection: Connection):
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.attributes["connection"] = connection
    return cfg


def _upgrade(connection: Connection) -> None:
    from alembic import command

    command.upgrade(_alembic_config(connection), "head")


def _current(connection: Connection) -> str | None:
    from alembic.runtime.migration import MigrationContext

    return MigrationContext.configure(connection).get_current_revision()


async def upgrade(engine: AsyncEngine) -> None:
    """Apply all migrations (idempotent)."""
    if await _recorded_revisions(engine) == [SCHEMA_HEAD]:
        log.info("database schema is at the latest migration")
        return
    async with engine.begin() as conn:
        await conn.run_sync(_upgrade)
    log.info("database schema is at the latest migration")


async def _recorded_revisions(engine: AsyncEngine) -> list[str] | None:
    """The revisions in alembic's version table, or None when there is no such table yet."""
    async with engine.connect() as conn:
        try:
            return list((await conn.execute(text("SELECT version_num FROM alembic_version"))).scalars())
        except (OperationalError, ProgrammingError):  # no such table (a new database): alembic creates it
            return None


async def current_revision(engine: AsyncEngine) -> str | None:
    async with engine.connect() as conn:
        return await conn.run_sync(_current)
