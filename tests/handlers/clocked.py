"""Fixtures for the handler tests that move a clock: the real app on a fake channel, one understanding per module.

Import with `from tests.handlers.clocked import *`; the names are pytest fixtures: app, chat, clock, understanding.
"""

from __future__ import annotations

import asyncio

import pytest

from bot.app import App
from tests.handlers.test_ticket_life import Chat, Clock
from tests.support import make_settings

__all__ = ["app", "chat", "clock", "understanding"]


@pytest.fixture(scope="module")
def understanding(tmp_path_factory):
    from bot.understanding import build_understanding

    return asyncio.run(build_understanding(make_settings(tmp_path_factory.mktemp("u")), use_llm=False))


async def _no_close() -> None:
    return None


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def app(tmp_path, clock, understanding, monkeypatch):
    async def shared(settings, **kw):
        return understanding

    monkeypatch.setattr("bot.app.build_understanding", shared)
    monkeypatch.setattr(understanding, "close", _no_close)
    settings = make_settings(tmp_path)
    application = App(settings, channel=Chat(), clock=clock)
    await application.start()
    try:
        yield application
    finally:
        await application.stop()


@pytest.fixture
def chat(app) -> Chat:
    return app.channel


