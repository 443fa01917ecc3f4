"""Passing for the committee over real WeChat ids (the Node Wechaty puppet harness): a member renames a group
like the committee's and himself like its director. Commands, urgent pushes, digests and overdue lists follow
room and sender ids, so he gets none of them; renaming the real committee room changes nothing either."""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime

import pytest
from sqlmodel import select

from handlers import texts
from storage.models import Inbox, Room, Ticket, TicketEvent
from tests.e2e.wechat_harness import eventually, running_wechat_app

NUMBER = re.compile(r"#(\d{4,})")
COMMITTEE_NAME = "书院路社区两委群"


class Clock:
    """Mid-October in Shanghai, until a test moves it (to when the digest and the overdue list are due)."""

    def __init__(self) -> None:
        self.now = datetime(2026, 10, 15, 2, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
async def app(wechat_settings):
    """`linju run` on the wechaty channel, its rooms and staff bound by the harness's ids (as config would)."""
    async with running_wechat_app(wechat_settings, clock=Clock()) as application:
        yield application


async def rows(app, model) -> list:
    async with app.dispatcher.sessions() as s:
        return list((await s.exec(select(model).order_by(model.id))).all())


async def handled(app, n: int) -> None:
    async def done() -> bool:
        inbox = await rows(app, Inbox)
        return len(inbox) >= n and all(r.status in ("done", "ignored", "failed") for r in inbox)

    await eventually(done, within=15, what=f"{n} messages handled")


async def report(harness, app, text: str, *, sender: str = "wangdajie") -> str:
    mark = await harness.mark()
    await harness.say(sender, text, room="leaders")
    [ack, *_] = await harness.wait_sent(lambda r: r["roomId"] == harness.rooms["leaders"]["id"], since=mark)
    return NUMBER.search(ack["text"]).group(1)


async def pass_for_the_committee(harness, app, caplog) -> None:
    """路人甲 renames himself 刘主任, speaks in his own group, then renames the group like the committee's."""
    await harness.rename_contact("lurenjia", "刘主任")
    before = len(await rows(app, Inbox))
    with caplog.at_level(logging.WARNING, logger="handlers.identity"):
        await harness.say("lurenjia", "大家好", room="hostile")
        await handled(app, before + 1)
        await harness.rename_room("hostile", COMMITTEE_NAME, by="lurenjia")
        await harness.say("lurenjia", "以后这里就是两委群", room="hostile")
        await handled(app, before + 2)
    hostile_id = harness.rooms["hostile"]["id"]
    [room] = [r for r in await rows(app, Room) if r.platform_id == hostile_id]
    assert room.topic == COMMITTEE_NAME, "the bot did see the new name"
    assert (room.kind, room.bound_by) == ("leaders", None), "and the room stayed an ordinary one"
    assert {r.sender_name for r in await rows(app, Inbox) if r.room_id == hostile_id} == {"刘主任"}
    told = [r for r in caplog.records if hostile_id in r.getMessage() and "linju rooms bind" in r.getMessage()]
    assert len(told) == 1, "the log says once how to bind a room named like a configured one"


async def test_a_renamed_group_and_a_renamed_member_cannot_run_staff_commands(harness, app, caplog):
    number = await report(harness, app, "4栋楼道灯坏了好几天了")
    await pass_for_the_committee(harness, app, caplog)
    before_tickets = [(t.status, t.assignee, t.category) for t in await rows(app, Ticket)]
    before_events = [(e.id, e.action) for e in await rows(app, TicketEvent)]
    mark = await harness.mark()
    commands = [f"驳回 {number} 不属于社区职责", f"办结 {number} 已处理", f"派单 {number} 路人甲", f"改类 {number} 排水",
                f"关闭 {number}", "工单 超期", "工单 未办结", f"工单 {number}"]
    n = len(await rows(app, Inbox))
    for text in commands:
        await harness.say("lurenjia", text, room="hostile")
    await handled(app, n + len(commands))
    assert [(t.status, t.assignee, t.category) for t in await rows(app, Ticket)] == before_tickets
    assert [(e.id, e.action) for e in await rows(app, TicketEvent)] == before_events
    sent = await harness.quiet_for(1.0, since=mark)
    assert all(r["roomId"] == harness.rooms["hostile"]["id"] for r in sent), "nobody else was told anything"
    for r in sent:
        assert "王大姐" not in r["text"] and "楼道灯" not in r["text"], r["text"]
    refusals = [r for r in sent if texts.STAFF_ONLY in r["text"]]
    assert len(refusals) == 7, "each changing command and each list was refused"
    assert sent[-1]["text"].endswith(texts.no_such_ticket(number)), "and the ticket's detail is not his to read"


async def test_urgent_pushes_digests_and_overdue_lists_reach_only_the_room_bound_by_id(harness, app, caplog):
    await pass_for_the_committee(harness, app, caplog)
    committee, hostile = harness.rooms["committee"]["id"], harness.rooms["hostile"]["id"]
    mark = await harness.mark()
    await report(harness, app, "7栋3单元有很重的煤气味，快来人", sender="zhaoayi")
    [alert] = await harness.wait_sent(lambda r: "【紧急】" in (r["text"] or ""), since=mark)
    assert alert["roomId"] == committee
    await report(harness, app, "9栋路灯坏了，晚上黑漆漆的")
    app.clock.now = datetime(2026, 11, 1, 2, 0, tzinfo=UTC)  # 10:00 on Nov 1: both overdue, October's digest due
    assert await app.remind_overdue() == 1
    assert await app.send_due_digests() == {committee: "sent"}
    sent = await harness.quiet_for(1.0, since=mark)
    overdue = [r for r in sent if "【超期提醒】" in (r["text"] or "")]
    digest = [r for r in sent if (r["text"] or "").startswith("【书院路社区") or r["file"]]
    assert [r["roomId"] for r in overdue] == [committee]
    assert len(digest) == 3 and {r["roomId"] for r in digest} == {committee}
    assert not [r for r in sent if r["roomId"] == hostile], "the look-alike group got nothing"


async def test_renaming_the_committee_room_or_a_staff_member_changes_nothing(harness, app):
    number = await report(harness, app, "4栋楼下下水道堵了")
    await harness.rename_room("committee", "随便聊聊", by="liuzhuren")
    await harness.rename_contact("xiaochen", "陈某某")
    mark = await harness.mark()
    await harness.say("xiaochen", f"派单 {number} 物业", room="committee")
    confirm, notice = await harness.wait_sent(since=mark, count=2)
    assert confirm["roomId"] == harness.rooms["committee"]["id"] and "已派给物业" in confirm["text"]
    assert notice["roomId"] == harness.rooms["leaders"]["id"] and "已派给物业处理" in notice["text"]
    [t] = await rows(app, Ticket)
    assert (t.status, t.assignee) == ("assigned", "物业")
    mark = await harness.mark()
    await report(harness, app, "5栋有人被困在电梯里了，快来人", sender="lishifu")
    [alert] = await harness.wait_sent(lambda r: "【紧急】" in (r["text"] or ""), since=mark)
    assert alert["roomId"] == harness.rooms["committee"]["id"]
