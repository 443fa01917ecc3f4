"""The digest schedule inside the app: which period is due, catch-up at start-up, once across restarts."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from bot.app import App
from bot.digest_job import due_period, last_fire
from storage import digest_queries as q
from storage import engine as db
from tests.handlers.test_digest import seed, seeded_tickets
from tests.support import FakeChannel, make_settings

COMMITTEE = "书院路社区两委群"


def test_the_due_period_is_the_month_before_the_last_scheduled_run(tmp_path):
    s = make_settings(tmp_path)
    # 08:30 on Nov 1 in Shanghai: the November 1st run has not happened yet, so September's is the last due.
    assert due_period(s, datetime(2026, 11, 1, 0, 30, tzinfo=UTC)).label == "2026-09"
    assert due_period(s, datetime(2026, 11, 1, 1, 0, 1, tzinfo=UTC)).label == "2026-10"
    assert due_period(s, datetime(2026, 11, 20, tzinfo=UTC)).label == "2026-10"
    fired = last_fire("0 9 1 * *", "Asia/Shanghai", datetime(2026, 11, 20, tzinfo=UTC))
    assert fired.isoformat() == "2026-11-01T09:00:00+08:00"


def test_a_weekly_schedule_covers_the_previous_iso_week(tmp_path):
    s = make_settings(tmp_path, schedule={"digest_cron": "0 9 * * 1", "digest_period": "week"})
    assert due_period(s, datetime(2026, 11, 4, tzinfo=UTC)).label == "2026-W44"


def test_the_digest_is_a_scheduled_job_on_the_configured_cron(tmp_path):
    app = App(make_settings(tmp_path))
    jobs = {name: cron for name, cron, _ in app.scheduled_jobs()}
    assert jobs["digest"] == "0 9 1 * *" and "digest-retry" in jobs


async def _seeded(settings, tickets=None) -> None:
    engine = db.create_engine(settings.database_url)
    await db.upgrade(engine)
    sessions = db.session_factory(engine)
    await seed(sessions, tickets)  # the committee room is bound by the id config gives it (tests.support)
    await engine.dispose()


async def _run_once(settings, now: datetime) -> list:
    channel = FakeChannel()
    app = App(settings, channel=channel, clock=lambda: now)
    await app.start()
    try:
        assert app.digest_catchup is not None
        await app.digest_catchup
    finally:
        await app.stop()
    return channel.sent


async def test_a_missed_digest_is_sent_at_start_up_and_only_once_across_restarts(tmp_path):
    settings = make_settings(tmp_path)
    await _seeded(settings)
    # The bot was down at 09:00 on Nov 1 and comes back on Nov 3.
    sent = await _run_once(settings, datetime(2026, 11, 3, 2, tzinfo=UTC))
    assert [r.room_id for r in sent] == [f"{COMMITTEE}@chatroom"] * 3
    assert sent[0].text.startswith("【书院路社区·2026年10月诉求月报】")
    assert sent[1].file.suffix == ".png" and sent[2].file.suffix == ".xlsx"
    assert await _run_once(settings, datetime(2026, 11, 3, 3, tzinfo=UTC)) == []


async def test_the_scheduled_run_sends_and_a_fresh_install_sends_nothing_for_before_it(tmp_path):
    settings = make_settings(tmp_path)
    october = q.parse_period("2026-10")
    await _seeded(settings, [t for t in seeded_tickets() if t.created_at >= october.start])
    # Before 09:00 on Nov 1 the due period is September: this bot had recorded nothing by then.
    assert await _run_once(settings, datetime(2026, 11, 1, 0, 30, tzinfo=UTC)) == []
    channel = FakeChannel()
    app = App(settings, channel=channel, clock=lambda: datetime(2026, 11, 1, 1, 0, 0, tzinfo=UTC))
    await app.start()
    try:
        await app.digest_catchup
        assert len(channel.sent) == 3  # the catch-up found October due the moment the cron fired
        assert await app.send_due_digests() == {f"{COMMITTEE}@chatroom": "already_sent"}  # the cron firing too
    finally:
        await app.stop()


class SlowChannel(FakeChannel):
    async def send(self, reply) -> None:
        await asyncio.sleep(0.3)
        await super().send(reply)


async def test_two_app_instances_on_one_database_send_the_digest_once(pg_url, tmp_path):
    """On PostgreSQL (two instances on one SQLite file: the two-engine race in test_digest_send)."""
    settings = make_settings(tmp_path, database={"url": pg_url})
    await _seeded(settings)
    now = datetime(2026, 11, 3, 2, tzinfo=UTC)
    channels = [SlowChannel(), SlowChannel()]
    apps = [App(settings, channel=c, clock=lambda: now) for c in channels]
    try:
        for app in apps:  # one after the other: the first is still sending when the second catches up
            await app.start()
        await asyncio.gather(*(app.digest_catchup for app in apps))
    finally:
        for app in apps:
            await app.stop()
    assert sorted(len(c.sent) for c in channels) == [0, 3]


async def test_a_subdistrict_room_gets_the_whole_subdistricts_digest_once(tmp_path):
    settings = make_settings(tmp_path)
    settings.schedule.subdistrict_rooms = ["书院路街道工作群@chatroom"]  # by id, as every bound room
    await _seeded(settings)
    sent = await _run_once(settings, datetime(2026, 11, 3, 2, tzinfo=UTC))
    whole = [r for r in sent if r.room_id == "书院路街道工作群@chatroom"]
    assert len(whole) == 3 and len(sent) == 6  # the community's committee room still gets its own
    assert not whole[0].text.startswith("【书院路社区")  # not scoped to one community
    assert "2026年10月" in whole[0].text
    assert await _run_once(settings, datetime(2026, 11, 3, 3, tzinfo=UTC)) == []


async def test_digests_read_off_the_event_loop_on_sqlite_and_through_the_one_engine_on_postgresql(db_url, tmp_path):
    import threading

    from sqlalchemy import text

    app = App(make_settings(tmp_path, database={"url": db_url}))
    await app.open()
    try:
        async with app.report_sessions()() as s:
            conn = await s.connection()
            if db_url.startswith("sqlite"):
                raw = (await conn.get_raw_connection()).driver_connection
                raw._live().create_function("thread_id", 0, threading.get_ident)
                ran_on = (await conn.execute(text("SELECT thread_id()"))).scalar()
        on_sqlite = db_url.startswith("sqlite")
        assert (app.report_engine is not app.engine) is on_sqlite
        if on_sqlite:
            assert ran_on != threading.get_ident()  # a digest over a year of tickets never stalls the bot
    finally:
        await app.stop()
