"""A ticket's source is where it came from, supplied by the channel; a reporter from any chat source hears
of progress, one from an offline source (意见箱, 议事会 …) has nobody to tell in a chat."""

from __future__ import annotations

import re

import pytest
from sqlmodel import select

from handlers import texts
from handlers.types import Capabilities
from storage.models import Ticket
from tests.support import FakeChannel, make_settings, running_app

NUMBER = re.compile(r"#(\d{4,})")
LEADERS, COMMITTEE = "松涛里邻长群", "书院路社区两委群"


def elsewhere(source: str) -> FakeChannel:
    """The fake channel as another chat platform would be: its own ids, its own ticket source."""

    class Elsewhere(FakeChannel):
        name = f"fake-{source}"
        capabilities = Capabilities(source=source, ids_trustworthy=True)

    return Elsewhere()


async def ticket(app, number: str) -> Ticket:
    async with app.dispatcher.sessions() as s:
        return (await s.exec(select(Ticket).where(Ticket.number == number))).one()


@pytest.mark.parametrize("source", sorted(texts.CHAT_SOURCES - {"wechat"}))
async def test_a_reporter_on_another_chat_platform_is_told_of_progress(tmp_path, source):
    async with running_app(make_settings(tmp_path), channel=elsewhere(source)) as app:
        chat = app.fake
        [ack] = await chat.say("4栋楼下下水道堵了，污水都冒出来了", sender="王贵宝", room=LEADERS)
        number = NUMBER.search(ack.text).group(1)
        assert (await ticket(app, number)).source == source  # from the channel, not a fixed "wechat"
        confirm, notice = await chat.say(f"派单 {number} 物业", sender="刘主任", room=COMMITTEE)
        assert notice.room_id == f"{LEADERS}@chatroom" and [m.name for m in notice.mentions] == ["王贵宝"]
        assert f"#{number}" in notice.text and "已派给物业处理" in notice.text
        [private] = await chat.say("5栋门口路灯不亮了", sender="李建国", room=None)
        privately = NUMBER.search(private.text).group(1)
        replies = await chat.say(f"办结 {privately} 回复：已修好", sender="刘主任", room=COMMITTEE)
        assert any(r.contact_id == "wxid_李建国" and "已修好" in r.text for r in replies)


async def test_an_offline_ticket_gets_no_chat_notice_whatever_the_channel(tmp_path):
    async with running_app(make_settings(tmp_path), channel=elsewhere("console")) as app:
        chat = app.fake
        [ok] = await chat.say("登记 来源:议事会 金穗小区健身器材需要增设", sender="刘主任", room=COMMITTEE)
        number = NUMBER.search(ok.text).group(1)
        assert (await ticket(app, number)).source == "meeting"
        replies = await chat.say(f"派单 {number} 物业", sender="刘主任", room=COMMITTEE)
        assert [r.room_id for r in replies] == [f"{COMMITTEE}@chatroom"]  # staff's confirmation only


async def test_reports_from_any_chat_source_count_towards_the_limits(tmp_path):
    settings = make_settings(tmp_path)
    settings.limits.sender.tickets_per_hour = 3
    async with running_app(settings, channel=elsewhere("wecom")) as app:
        said = []
        for b in range(1, 7):
            said += await app.fake.say(f"{b}栋楼道灯坏了好几天了", sender="刘大爷", room=LEADERS)
        acks = [r for r in said if r.room_id == f"{LEADERS}@chatroom"]
        assert len(acks) == 3 and all("已登记为工单" in r.text for r in acks)
        async with app.dispatcher.sessions() as s:
            assert len((await s.exec(select(Ticket))).all()) == 3
