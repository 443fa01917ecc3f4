"""Shared fixtures: settings in a temp dir, the app on a fake channel, database URLs (SQLite and PostgreSQL)."""

from __future__ import annotations

import pytest

from tests.support import FakeChannel, make_settings, pg_available, pg_database

_PG: bool | None = None


async def _pg_up() -> bool:
    global _PG
    if _PG is None:
        _PG = await pg_available()
    return _PG


@pytest.fixture(params=["sqlite", "postgresql"])
async def db_url(request, tmp_path):
    """Every storage test runs on a SQLite file, and on PostgreSQL where one answers."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'linju.db'}"
        return
    if not await _pg_up():
        pytest.skip("PostgreSQL is not reachable at LINJU_TEST_PG_URL (default 127.0.0.1:5432)")
    async with pg_database() as url:
        yield url


@pytest.fixture
async def sessions(db_url):
    """A session factory on a migrated database of each kind (see db_url)."""
    from storage import engine as db

    engine = db.create_engine(db_url)
    await db.upgrade(engine)
    try:
        yield db.session_factory(engine)
    finally:
        await engine.dispose()


@pytest.fixture
def settings(tmp_path):
    return make_settings(tmp_path)


@pytest.fixture
async def app(settings):
    """The real app (config → router → storage) on a fake channel and a SQLite file."""
    from bot.app import App

    channel = FakeChannel()
    application = App(settings, channel=channel)
    await application.start()
    application.fake = channel  # type: ignore[attr-defined]
    try:
        yield application
    finally:
        await application.stop()


@pytest.fixture
def chat(app) -> FakeChannel:
    return app.fake
