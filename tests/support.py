"""Test helpers: a fake channel, settings in a temp dir, and throwaway PostgreSQL databases."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NoReturn

from bot.channels.base import Channel
from bot.config import Settings, load_settings
from handlers.types import Capabilities, IncomingMessage, Reply

REPO = Path(__file__).resolve().parent.parent
DEFAULT_CONFIG = REPO / "config.yaml"
SHARED = REPO.parent / "shared"

# Where the PostgreSQL tests run; override to point at another server.
PG_URL = os.environ.get("LINJU_TEST_PG_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")


def make_settings(tmp: Path, *, ids: bool = True, **overrides: Any) -> Settings:
    """The default config.yaml, with data in `tmp` and any overrides applied.

    With `ids`, configured rooms and staff get the platform ids FakeChannel gives them ("<name>@chatroom",
    "wxid_<name>"), as an operator binds them: rooms and staff are known by id, never by name.
    """
    overrides.setdefault("data_dir", tmp)
    settings = load_settings(DEFAULT_CONFIG, **overrides)
    if ids:
        for community in settings.communities:
            for room in community.rooms:
                room.id = room.id or f"{room.name}@chatroom"
        for staff in settings.staff:
            staff.wechat_id = staff.wechat_id or (f"wxid_{staff.name}" if staff.name else None)
    return settings


class FakeChannel(Channel):
    """A channel for tests: messages are pushed in with `say`, replies collected in `sent`."""

    name = "fake"
    # Like WeChat: ids are the platform's, names are not ids; its tickets' source is WeChat's.
    capabilities = Capabilities(source="wechat", ids_trustworthy=True, max_text_length=2000)

    def __init__(self) -> None:
        self.sent: list[Reply] = []
        self.on_message = None
        self.fail_sends = 0
        self._closed = asyncio.Event()
        self._n = 0

    async def start(self, on_message) -> None:
        self.on_message = on_message

    async def send(self, reply: Reply) -> None:
        if self.fail_sends > 0:
            self.fail_sends -= 1
            raise ConnectionError("channel down")
        self.sent.append(reply)

    async def wait_closed(self) -> None:
        await self._closed.wait()

    async def close(self) -> None:
        self._closed.set()

    async def say(
        self,
        text: str,
        *,
        sender: str = "王贵宝",
        room: str | None = "松涛里邻长群",
        message_id: str | None = None,
        kind: str = "text",
    ) -> list[Reply]:
        """Deliver a message as `sender` in `room` (None: private) and return the replies it caused."""
        self._n += 1
        before = len(self.sent)
        msg = IncomingMessage(
            message_id=message_id or f"t-{uuid.uuid4().hex}",
            sender_id=f"wxid_{sender}",
            sender_name=sender,
            text=text,
            room_id=f"{room}@chatroom" if room else None,
            room_topic=room,
            kind=kind,  # type: ignore[arg-type]
        )
        assert self.on_message is not None, "start the app first"
        handled = await self.on_message(msg)
        if handled is not None:
            await handled
        return self.sent[before:]


def daytime_clock(hour_utc: int = 2) -> Callable[[], datetime]:
    """Real time, moved to start at 10:00 in Xiangtan today (02:00 UTC): the default config holds non-urgent
    notices in quiet hours (22:00-07:00 local), so a test on the wall clock would behave differently at night."""
    now = datetime.now(UTC)
    offset = now.replace(hour=hour_utc, minute=0, second=0, microsecond=0) - now
    return lambda: datetime.now(UTC) + offset


@asynccontextmanager
async def running_app(settings: Settings, *, channel: Any = None, clock: Any = None) -> AsyncIterator[Any]:
    """The real app started on `channel` (a new FakeChannel by default, as `app.fake`); stopped afterwards."""
    from bot.app import App

    channel = channel if channel is not None else FakeChannel()
    app = App(settings, channel=channel, clock=clock if clock is not None else daytime_clock())
    await app.start()
    app.fake = channel
    try:
        yield app
    finally:
        await app.stop()


def llm_settings(tmp: Path, fake_llm: Any, monkeypatch: Any, **overrides: Any) -> Settings:
    """Settings whose LLM stage is the fake server, asked about every message the rules are not certain of."""
    monkeypatch.setenv("LINJU_LLM__API_KEY", "sk-test")
    llm = {"base_url": fake_llm.url, "model": "fake", "timeout_seconds": 2, "daily_budget": 10_000}
    return make_settings(tmp, llm={**llm, **overrides.pop("llm", {})}, classifier={"llm_below": 1.0}, **overrides)


NO_PG = "PostgreSQL is not reachable at LINJU_TEST_PG_URL (default 127.0.0.1:5432)"


def unavailable(reason: str, required_by: str) -> NoReturn:
    """Skip a test whose service is missing, or fail it where CI requires the service (`required_by`=1):
    a green CI run must have proved what the README claims on PostgreSQL and on the real puppet software."""
    import pytest

    if os.environ.get(required_by) == "1":
        pytest.fail(f"{reason}, and {required_by}=1 requires it", pytrace=False)
    pytest.skip(reason)


async def require_pg() -> None:
    if not await pg_available():
        unavailable(NO_PG, "LINJU_REQUIRE_PG")


async def pg_available() -> bool:
    import asyncpg

    try:
        conn = await asyncio.wait_for(asyncpg.connect(PG_URL.replace("+asyncpg", "")), timeout=3)
    except Exception:
        return False
    await conn.close()
    return True


@asynccontextmanager
async def pg_database() -> AsyncIterator[str]:
    """A fresh, empty PostgreSQL database for one test; dropped afterwards."""
    import asyncpg

    admin_url = PG_URL.replace("+asyncpg", "")
    name = f"linju_t_{uuid.uuid4().hex[:12]}"
    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    base = PG_URL.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        conn = await asyncpg.connect(admin_url)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()
