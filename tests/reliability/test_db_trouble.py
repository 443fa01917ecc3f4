"""Database trouble: locks and dropped connections are retried; a message that fails for good is kept, said, retried."""

from __future__ import annotations

import asyncio
import json
import logging
import random
import sqlite3
import subprocess
import time

import asyncpg
import pytest
from sqlmodel import select

import bot.app as bot_app
from bench.messages import generate
from bot.app import App
from handlers.router import Router
from storage import engine as db
from storage import repo
from storage.models import Inbox, Ticket
from tests.reliability.support import (
    assert_consistent,
    cli_env,
    linju_command,
    outbox_replies,
    scaled,
    snapshot,
    write_config,
)
from tests.support import PG_URL, REPO, FakeChannel, make_settings, running_app

ADMIN_URL = PG_URL.replace("+asyncpg", "")


async def rows(app, model):
    async with app.dispatcher.sessions() as s:
        return list((await s.exec(select(model))).all())


# ---------------------------------------------------------------- SQLite busy / locked


def hold_write_lock(path, seconds: float) -> sqlite3.Connection:
    """Take SQLite's write lock from another connection (as a second process or a backup tool would)."""
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("BEGIN IMMEDIATE")
    asyncio.get_running_loop().call_later(seconds, conn.rollback)
    return conn


async def test_a_sqlite_write_lock_held_elsewhere_delays_a_message_but_loses_nothing(app, chat, settings):
    conn = hold_write_lock(settings.data_dir / "linju.db", 1.5)
    t0 = time.monotonic()
    try:
        replies = await chat.say("4栋楼道灯坏了，黑漆漆的")
    finally:
        conn.close()
    assert time.monotonic() - t0 >= 1.2, "the message went through while the database was locked?"
    assert len(replies) == 1 and "#" in replies[0].text
    [row] = await rows(app, Inbox)
    assert row.status == "done" and len(await rows(app, Ticket)) == 1


@pytest.fixture
def impatient_sqlite(monkeypatch):
    """SQLite that gives up on a lock after 50 ms (instead of 30 s), so 'database is locked' reaches the app."""
    create = db.create_engine

    def create_engine(url, **kw):
        return create(url, **{**kw, "lock_timeout": 0.05})

    monkeypatch.setattr(db, "create_engine", create_engine)


async def test_sqlite_busy_errors_are_retried_until_the_lock_is_released(impatient_sqlite, settings, caplog):
    channel = FakeChannel()
    app = App(settings, channel=channel)
    await app.start()
    try:
        conn = hold_write_lock(settings.data_dir / "linju.db", 0.6)
        with caplog.at_level(logging.WARNING):
            try:
                replies = await channel.say("3栋门口下水道堵了", message_id="busy-1")
            finally:
                conn.close()
        assert any("retrying" in r.getMessage() for r in caplog.records), "no retry happened: the lock never bit"
        assert len(replies) == 1
        [row] = await rows(app, Inbox)
        assert row.status == "done" and len(await rows(app, Ticket)) == 1
    finally:
        await app.stop()


# ---------------------------------------------------------------- PostgreSQL connections dropped


async def terminate_backends(url: str) -> int:
    """Drop every connection to the app's database, as a failover or an administrator would."""
    name = url.rsplit("/", 1)[1]
    conn = await asyncpg.connect(ADMIN_URL)
    try:
        killed = await conn.fetch(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
            name,
        )
        return len(killed)
    finally:
        await conn.close()


@pytest.fixture
async def pg_app(pg_url, tmp_path):
    async with running_app(make_settings(tmp_path, database={"url": pg_url})) as app:
        app.url = pg_url  # type: ignore[attr-defined]
        yield app


async def test_a_postgresql_connection_dropped_mid_transaction_is_retried(pg_app, caplog):
    route = pg_app.dispatcher.router.route
    dropped = []

    async def route_then_drop(ctx):
        # Inside the message's transaction: the connection dies after the handler's work, before the outbox
        # and inbox writes that commit with it.
        result = await route(ctx)
        if not dropped:
            dropped.append(await terminate_backends(pg_app.url))
        return result

    pg_app.dispatcher.router.route = route_then_drop
    with caplog.at_level(logging.WARNING):
        replies = await pg_app.fake.say("6栋电梯卡住了，麻烦叫维保来看下", message_id="drop-1")
    assert dropped and dropped[0] >= 1, "no connection was dropped mid-transaction"
    assert any("retrying" in r.getMessage() for r in caplog.records)
    assert len(replies) == 1 and "#" in replies[0].text
    [row] = await rows(pg_app, Inbox)
    [ticket] = await rows(pg_app, Ticket)
    assert row.status == "done" and row.ticket_number == ticket.number


async def test_connections_dropped_again_and_again_lose_no_message_and_file_none_twice(pg_app):
    messages = list(generate(scaled(300, minimum=50), seed=9))
    stop = asyncio.Event()
    drops = 0

    async def chaos() -> None:
        nonlocal drops
        rng = random.Random(9)
        while not stop.is_set():
            await asyncio.sleep(rng.uniform(0.1, 0.4))
            drops += await terminate_backends(pg_app.url)

    chaos_task = asyncio.create_task(chaos())
    try:
        for m in messages:
            await pg_app.fake.say(m["text"], sender=m["sender"], room=m["room"], message_id=m["id"])
    finally:
        stop.set()
        await chaos_task
    assert drops >= 3, "the connections were hardly ever dropped"
    snap = await snapshot(pg_app.url)
    assert_consistent(snap, expected_ids={m["id"] for m in messages})
    sent = {(r.room_id or r.contact_id, r.text) for r in pg_app.fake.sent}
    assert set(outbox_replies(snap)) <= sent


async def test_a_message_arriving_while_the_database_refuses_connections_is_not_lost(pg_app):
    """The channel is told (the call fails) rather than the message being dropped; a redelivery then goes through."""
    name = pg_app.url.rsplit("/", 1)[1]
    admin = await asyncpg.connect(ADMIN_URL)
    try:
        await admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
        await terminate_backends(pg_app.url)
        with pytest.raises(Exception):  # noqa: B017 - whatever the driver raises, it must not pass silently
            await pg_app.fake.say("9栋外墙瓷砖往下掉，差点砸到人", message_id="down-1")
    finally:
        await admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
        await admin.close()
    replies = await pg_app.fake.say("9栋外墙瓷砖往下掉，差点砸到人", message_id="down-1")
    assert len(replies) >= 1
    assert len(await rows(pg_app, Ticket)) == 1


async def test_linju_chat_during_a_database_outage_handles_every_message_or_fails_loudly(pg_url, tmp_path):
    """Messages fed while PostgreSQL refuses connections are handled after it returns, or the process says so."""
    config = write_config(tmp_path, database_url=pg_url)
    name = pg_url.rsplit("/", 1)[1]
    lines = [json.dumps(m, ensure_ascii=False) + "\n" for m in generate(60, seed=10)]
    proc = await asyncio.create_subprocess_exec(
        *linju_command("chat", "--jsonl", "--config", str(config)), stdin=subprocess.PIPE,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=REPO, env=cli_env(),
    )
    assert proc.stdin is not None
    pipe_open = True

    async def feed(chunk: list[str]) -> None:
        nonlocal pipe_open
        if not pipe_open:
            return
        try:
            proc.stdin.write("".join(chunk).encode())
            await proc.stdin.drain()
        except (BrokenPipeError, ConnectionResetError):
            pipe_open = False  # the process is gone: what follows was never accepted

    communicate = asyncio.create_task(asyncio.sleep(0))
    admin = await asyncpg.connect(ADMIN_URL)
    try:
        await feed(lines[:20])
        await asyncio.sleep(4)
        await admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
        await terminate_backends(pg_url)
        await feed(lines[20:40])
        await asyncio.sleep(3)
    finally:
        await admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
        await admin.close()
    await feed(lines[40:])
    if pipe_open:
        proc.stdin.close()
    await communicate
    stdout, stderr = await asyncio.wait_for(
        asyncio.gather(proc.stdout.read(), proc.stderr.read()), timeout=300
    )
    returncode = await proc.wait()
    snap = await snapshot(pg_url)
    ids = {json.loads(x)["id"] for x in lines}
    lost = ids - {r.message_id for r in snap.inbox}
    err = stderr.decode("utf-8", "replace")
    print(f"exit {returncode}, {len(lost)} of {len(ids)} messages not in the inbox, pipe open {pipe_open}")
    if returncode == 0:
        assert not lost, f"exit status 0, yet {len(lost)} messages never reached the inbox: a silent drop"
        assert_consistent(snap, expected_ids=ids)
    else:
        assert "ERROR" in err or "linju:" in err, f"the process failed without saying why: {err[-1000:]}"


# ---------------------------------------------------------------- a message that fails for good


class Exploding:
    """A handler with a bug: it raises on any message that mentions BOOM."""

    name = "exploding"

    def __init__(self) -> None:
        self.calls = 0

    async def __call__(self, ctx):
        if "BOOM" in ctx.text:
            self.calls += 1
            raise RuntimeError("handler exploded on purpose")
        return None


async def start_app(settings, *, exploding: Exploding | None = None) -> tuple[App, FakeChannel]:
    """The app, with the exploding handler first in its router if given (in place before start-up recovery)."""
    channel = FakeChannel()
    app = App(settings, channel=channel)
    with pytest.MonkeyPatch.context() as mp:
        if exploding is not None:
            build = bot_app.build_router
            mp.setattr(bot_app, "build_router", lambda *a, **k: Router([exploding, *build(*a, **k).handlers]))
        await app.start()
    return app, channel


async def test_a_message_that_fails_for_good_is_kept_failed_logged_and_handled_at_the_next_start(
    settings, caplog, capsys, monkeypatch
):
    boom = Exploding()
    app, channel = await start_app(settings, exploding=boom)
    try:
        with caplog.at_level(logging.ERROR):
            assert await channel.say("BOOM 4栋楼道灯坏了", message_id="boom-1") == []
        # One bad message holds back nothing behind it.
        assert len(await channel.say("5栋电梯坏了", message_id="after-1")) == 1
        rows_ = {r.message_id: r for r in await rows(app, Inbox)}
    finally:
        await app.stop()
    assert boom.calls >= 1
    failed = rows_["boom-1"]
    assert failed.status == "failed" and "handler exploded on purpose" in (failed.error or "")
    assert rows_["after-1"].status == "done"
    logged = [r for r in caplog.records if r.levelno >= logging.ERROR and "boom-1" in r.getMessage()]
    assert logged, "the failure was not logged with the message id"
    # ... and visible from the shell
    from bot.cli import main
    from tests.support import DEFAULT_CONFIG

    monkeypatch.setenv("LINJU_DATA_DIR", str(settings.data_dir))
    capsys.readouterr()
    assert await asyncio.to_thread(main, ["tickets", "failed", "--config", str(DEFAULT_CONFIG)]) == 0
    shown = capsys.readouterr().out
    assert "boom-1" in shown and "handler exploded on purpose" in shown

    app, channel = await start_app(settings)  # the bug fixed: a healthy router
    try:
        assert len(channel.sent) == 1 and "#" in channel.sent[0].text, "the failed message was not handled at start"
        row = next(r for r in await rows(app, Inbox) if r.message_id == "boom-1")
        assert row.status == "done" and row.ticket_number
        assert len(await rows(app, Ticket)) == 2
    finally:
        await app.stop()


async def test_a_message_that_keeps_failing_is_retried_at_each_start_up_to_five_attempts_and_kept(settings):
    boom = Exploding()
    app, channel = await start_app(settings, exploding=boom)
    try:
        await channel.say("BOOM 8栋门口下水道堵了", message_id="boom-2")
    finally:
        await app.stop()
    for _ in range(6):
        app, channel = await start_app(settings, exploding=boom)
        await app.stop()
    assert boom.calls == 5, f"handled {boom.calls} times; expected the first try and four retries at start"
    snap = await snapshot(settings.database_url)
    [row] = snap.inbox
    assert row.status == "failed" and row.attempts == 5 and "exploded" in row.error
    assert snap.tickets == [] and snap.outbox == []


async def test_a_room_first_seen_in_a_batch_that_was_retried_is_recorded(app, chat, monkeypatch):
    """The room row is upserted inside the batch's transaction; when that transaction is rolled back and retried,
    the room must be written again (a committee room's digests need it), not skipped as already recorded."""
    from sqlalchemy.exc import OperationalError

    from storage import messages as storage_messages

    finish = storage_messages.finish_many
    failed = []

    async def busy_once(session, outcomes):
        if not failed:
            failed.append(True)
            raise OperationalError("UPDATE inbox", {}, Exception("database is locked"))
        return await finish(session, outcomes)

    monkeypatch.setattr(storage_messages, "finish_many", busy_once)
    await chat.say("大家好", room="新建的三片区群")
    assert failed
    async with app.dispatcher.sessions() as s:
        room = await repo.get_room(s, "新建的三片区群@chatroom")
    assert room is not None and room.topic == "新建的三片区群"
