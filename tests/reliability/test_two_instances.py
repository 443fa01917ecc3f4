"""Two app instances on one PostgreSQL database, fed the same messages at once: each ticket once, no number twice."""

from __future__ import annotations

import asyncio
import random
from collections import Counter

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
