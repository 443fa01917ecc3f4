"""Read, check, change: two staff (or two instances) changing tickets at once lose neither change. Each write
unit locks what it read (SQLite: the write lock taken up front, as BEGIN IMMEDIATE does; PostgreSQL: SELECT …
FOR UPDATE), so the second waits for the first and then reads what the first wrote. On SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import re

from sqlmodel import select

from bot.wiring import build_ticket_ops
from handlers.context import Actor
from handlers.staff import Command
from storage import engine as db
from storage.models import Ticket
from tests.support import make_settings, running_app

STAFF = Actor(id="wxid_刘主任", name="刘主任", role="staff", communities=None)


async def test_two_merges_into_one_ticket_at_once_count_every_supporter(db_url, tmp_path):
    settings = make_settings(tmp_path, database={"url": db_url})
    numbers = []
    async with running_app(settings) as app:
        for i, who in enumerate(["王阿姨", "李叔", "赵姐"]):
            [ack] = await app.fake.say(f"{4 + i * 10}栋门口路灯坏了，晚上看不见", sender=who)
            numbers.append(re.search(r"#(\d+)", ack.text).group(1))
        understanding = app.understanding
    keep, a, b = numbers
    engines = [db.create_engine(db_url), db.create_engine(db_url)]  # two processes
    try:
        ops = [build_ticket_ops(settings, understanding), build_ticket_ops(settings, understanding)]
        for o in ops:
            slow = o.notifier.status_notice

            async def status_notice(*args, _slow=slow, **kw):
                await asyncio.sleep(0.2)  # after reading the kept ticket, before committing the change
                return await _slow(*args, **kw)

            o.notifier.status_notice = status_notice

        async def merge(i: int, number: str) -> None:
            async with db.session_factory(engines[i])() as s:
                await ops[i].apply(s, Command("merge", number=number, target=keep), actor=STAFF, now=app.clock())
                await s.commit()

        await asyncio.gather(merge(0, a), merge(1, b))
        async with db.session_factory(engines[0])() as s:
            tickets = {t.number: t for t in (await s.exec(select(Ticket))).all()}
    finally:
        for e in engines:
            await e.dispose()
    assert tickets[keep].supporters == 3, "one merge's supporters were lost"
    assert tickets[a].duplicate_of == keep and tickets[b].duplicate_of == keep
