"""Two app instances on one PostgreSQL database, fed the same messages at once: each ticket once, no number twice."""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from datetime import UTC, datetime, timedelta

from bench.messages import generate
from bot.app import App
from storage import engine as db
from storage import repo
from tests.reliability.support import assert_consistent, outbox_replies, scaled, snapshot
from tests.support import FakeChannel, make_settings

MESSAGES = scaled(600, minimum=60)


async def start_instance(tmp_path, name: str, url: str) -> tuple[App, FakeChannel]:
    settings = make_settings(tmp_path / name, database={"url": url})
    channel = FakeChannel()
    app = App(settings, channel=channel)
    await app.start()
    return app, channel


async def feed(channel: FakeChannel, messages: list[dict], *, jitter: random.Random) -> None:
    for m in messages:
        await channel.say(m["text"], sender=m["sender"], room=m["room"], message_id=m["id"])
        if jitter.random() < 0.2:
            await asyncio.sleep(0)


async def test_two_instances_fed_the_same_messages_file_each_report_once(tmp_path, pg_url):
    messages = list(generate(MESSAGES, seed=5))
    a, chan_a = await start_instance(tmp_path, "a", pg_url)
    b, chan_b = await start_instance(tmp_path, "b", pg_url)
    try:
        await asyncio.gather(
            feed(chan_a, messages, jitter=random.Random(1)), feed(chan_b, messages, jitter=random.Random(2))
        )
    finally:
        await a.stop()
        await b.stop()
    snap = await snapshot(pg_url)
    assert_consistent(snap, expected_ids={m["id"] for m in messages})
    reports = [r for r in snap.inbox if r.intent == "report"]
    assert len(reports) > MESSAGES // 10
    # Every committed reply went out through one of the two instances.
    sent = Counter((r.room_id or r.contact_id, r.text) for r in chan_a.sent + chan_b.sent)
    missing = outbox_replies(snap) - sent
    assert not missing, f"replies committed but sent by neither instance: {list(missing)[:3]}"


async def test_two_instances_send_each_reply_once(tmp_path, pg_url):
    messages = list(generate(MESSAGES, seed=6))
    a, chan_a = await start_instance(tmp_path, "a", pg_url)
    b, chan_b = await start_instance(tmp_path, "b", pg_url)
    try:
        await asyncio.gather(
            feed(chan_a, messages, jitter=random.Random(3)), feed(chan_b, messages, jitter=random.Random(4))
        )
    finally:
        await a.stop()
        await b.stop()
    snap = await snapshot(pg_url)
    sent = Counter((r.room_id or r.contact_id, r.text) for r in chan_a.sent + chan_b.sent)
    extra = sent - outbox_replies(snap)
    assert not extra, f"{sum(extra.values())} replies sent twice (by both instances), e.g. {list(extra)[:3]}"


class CollidingNumbers:
    """Stands in for `secrets` in storage.repo: ticket numbers from a space 25x smaller, so they collide."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)

    def randbelow(self, n: int) -> int:
        return self.rng.randrange(max(1, n // 25))


async def test_concurrent_ticket_creation_numbers_without_collisions(pg_url, monkeypatch):
    monkeypatch.setattr(repo, "secrets", CollidingNumbers(seed=11))
    engine = db.create_engine(pg_url)
    await db.upgrade(engine)
    sessions = db.session_factory(engine)
    per_worker, workers = scaled(40, minimum=10), 8

    async def worker(w: int) -> list[str]:
        numbers = []
        for i in range(per_worker):
            async with sessions() as s:
                t = await repo.insert_ticket(
                    s, category="repair", text=f"w{w} t{i}", reporter_id=f"wxid_{w}", inbox_message_id=f"n-{w}-{i}"
                )
                numbers.append(t.number)
                await asyncio.sleep(0)  # hold the transaction open while the others insert
                await s.commit()
        return numbers

    try:
        results = await asyncio.gather(*(worker(w) for w in range(workers)))
        async with sessions() as s:
            stored = await repo.list_tickets(s, limit=10_000)
    finally:
        await engine.dispose()
    numbers = [n for r in results for n in r]
    assert len(numbers) == per_worker * workers == len(stored)
    assert len(set(numbers)) == len(numbers), "two tickets were given the same number"
    assert {t.number for t in stored} == set(numbers)


# ---------------------------------------------------------------- scheduled and held sends, on two instances


class SharedClock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


class SlowChannel(FakeChannel):
    """Each send takes a moment: both instances are mid-flush together."""

    def __init__(self) -> None:
        super().__init__()
        self.sending = asyncio.Event()  # set once a send has gone out

    async def send(self, reply) -> None:
        await asyncio.sleep(0.02)
        await super().send(reply)
        self.sending.set()


async def _two(tmp_path, url: str, clock: SharedClock) -> list[tuple[App, SlowChannel]]:
    out = []
    for name in ("a", "b"):
        channel = SlowChannel()
        app = App(make_settings(tmp_path / name, database={"url": url}), channel=channel, clock=clock)
        await app.start()
        out.append((app, channel))
    return out


def _texts(channels) -> Counter:
    return Counter((r.room_id or r.contact_id, r.text) for c in channels for r in c.sent)


async def test_two_instances_send_the_overdue_reminder_once(tmp_path, pg_url):
    clock = SharedClock(datetime(2026, 11, 2, 2, 0, tzinfo=UTC))  # 10:00 in Xiangtan
    (a, chan_a), (b, chan_b) = await _two(tmp_path, pg_url, clock)
    try:
        await chan_a.say("4栋楼道灯坏了，晚上看不见", sender="王阿姨")
        await chan_b.say("6栋下水道堵了，污水冒出来", sender="李叔")
        clock.now += timedelta(days=10)  # both overdue
        before = {id(c): len(c.sent) for c in (chan_a, chan_b)}
        queued = await asyncio.gather(a.remind_overdue(), b.remind_overdue(), a.remind_overdue())
        again = await b.remind_overdue()  # later the same day: already done
    finally:
        await a.stop()
        await b.stop()
    sent = [r for c in (chan_a, chan_b) for r in c.sent[before[id(c)]:]]
    to_committee = [r for r in sent if r.room_id == "书院路社区两委群@chatroom"]
    assert sorted(queued) == [0, 0, 1] and again == 0, queued
    assert len(to_committee) == 1 and "超期" in to_committee[0].text, [r.text for r in sent]
    snap = await snapshot(pg_url)
    assert not (_texts([chan_a, chan_b]) - outbox_replies(snap)), "a reply was sent twice"


async def test_two_instances_flushing_together_send_each_held_notice_once(tmp_path, pg_url):
    clock = SharedClock(datetime(2026, 11, 2, 2, 0, tzinfo=UTC))
    (a, chan_a), (b, chan_b) = await _two(tmp_path, pg_url, clock)
    try:
        numbers = []
        for i in range(12):
            [ack] = await chan_a.say(f"{i + 1}栋楼道灯坏了，晚上看不见", sender=f"邻长{i}")
            numbers.append(ack.text.split("#")[1][:4])
        clock.now = datetime(2026, 11, 2, 15, 0, tzinfo=UTC)  # 23:00: notices to residents wait for 07:00
        for n in numbers:
            await chan_b.say(f"办结 {n} 回复：已修好", sender="刘主任", room="书院路社区两委群")
        snap = await snapshot(pg_url)
        held = [o for o in snap.outbox if o.sent_at is None]
        assert len(held) == 12, [o.payload for o in snap.outbox if o.sent_at is None]
        clock.now = datetime(2026, 11, 2, 23, 30, tzinfo=UTC)  # 07:30
        # The second instance flushes while the first is part-way through sending (its rows not yet marked).
        chan_a.sending.clear()
        first = asyncio.create_task(a.dispatcher.flush_outbox())
        await asyncio.wait_for(chan_a.sending.wait(), 30)
        flushed = [await b.dispatcher.flush_outbox(), await first]
    finally:
        await a.stop()
        await b.stop()
    assert sum(flushed) == 12, flushed
    snap = await snapshot(pg_url)
    assert all(o.sent_at is not None for o in snap.outbox)
    extra = _texts([chan_a, chan_b]) - outbox_replies(snap)
    assert not extra, f"{sum(extra.values())} held notices sent by both instances, e.g. {list(extra)[:2]}"
