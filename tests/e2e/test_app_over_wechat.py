"""The real app (config → wechaty channel → router → storage → reply) against the Node Wechaty puppet server."""

from __future__ import annotations

import asyncio
import hashlib
import re
from pathlib import Path

import pytest
from sqlmodel import select

from storage.models import Inbox, Ticket
from tests.e2e.wechat_harness import eventually, running_wechat_app

NUMBER = re.compile(r"#(\d{4,})")


@pytest.fixture
async def app(wechat_settings):
    async with running_wechat_app(wechat_settings) as application:
        yield application


async def tickets(app) -> list[Ticket]:
    async with app.dispatcher.sessions() as s:
        return list((await s.exec(select(Ticket))).all())


async def inbox(app) -> list[Inbox]:
    async with app.dispatcher.sessions() as s:
        return list((await s.exec(select(Inbox))).all())


async def report(
    harness, text: str, *, sender: str = "wangdajie", room: str = "leaders", **kw
) -> tuple[str, dict]:
    """Post a report and return (ticket number, the ack as the harness saw it)."""
    mark = await harness.mark()
    await harness.say(sender, text, room=room, **kw)
    [ack] = await harness.wait_sent(since=mark)
    m = NUMBER.search(ack["text"] or "")
    assert m, ack
    return m.group(1), ack


@pytest.mark.parametrize("room", ["leaders", "unknown"])
async def test_a_report_in_a_room_is_acknowledged_mentioning_the_reporter_and_filed(harness, app, room):
    number, ack = await report(harness, "4栋楼道灯坏了好几天了", room=room)
    reporter = harness.contacts["wangdajie"]
    assert ack["roomId"] == harness.rooms[room]["id"]
    assert ack["mentionIds"] == [reporter["id"]] and ack["text"].startswith("@王大姐\u2005")
    assert "设施报修" in ack["text"] and "4栋" in ack["text"]
    [t] = await tickets(app)
    assert (t.number, t.category, t.building, t.status) == (number, "repair", "4", "new")
    assert (t.reporter_id, t.reporter_name) == (reporter["id"], "王大姐")


async def test_a_query_by_number_is_answered_in_the_room_and_in_a_private_chat(harness, app):
    number, _ = await report(harness, "5栋电梯坏了，老人下不了楼")
    mark = await harness.mark()
    await harness.say("lishifu", f"查询 {number}")
    [in_room] = await harness.wait_sent(since=mark)
    assert in_room["roomId"] == harness.rooms["leaders"]["id"]
    assert f"#{number}" in in_room["text"] and "已登记" in in_room["text"]
    assert in_room["mentionIds"] == [harness.contacts["lishifu"]["id"]]

    mark = await harness.mark()
    await harness.say("liuzhuren", f"查询 {number}", room=None)
    [private] = await harness.wait_sent(since=mark)
    assert private["contactId"] == harness.contacts["liuzhuren"]["id"] and private["roomId"] is None
    assert f"#{number}" in private["text"] and "已登记" in private["text"]


async def test_chit_chat_gets_no_reply_but_is_recorded(harness, app):
    mark = await harness.mark()
    for text in ("收到", "谢谢王姐", "哈哈哈"):
        await harness.say("zhaoayi", text)
    await eventually(lambda: _count(app, 3), within=10, what="three inbox rows")
    assert await harness.quiet_for(1.0, since=mark) == []
    assert await tickets(app) == []


async def test_an_image_is_recorded_and_not_answered(harness, app):
    mark = await harness.mark()
    await harness.say("wangdajie", "", kind="image")
    await eventually(lambda: _count(app, 1), within=10, what="the image in the inbox")
    [row] = await inbox(app)
    assert (row.kind, row.text, row.room_topic) == ("image", "[图片]", "松涛里邻长群")
    await eventually(lambda: _status(app, row.message_id, "done"), within=5, what="the image handled")
    assert await harness.quiet_for(1.0, since=mark) == []


async def test_a_photo_after_a_report_is_downloaded_and_attached_to_it(harness, app):
    """The image comes through the gateway (FileBox), is stored under data_dir by its hash, and joins the report."""
    from storage.models import Attachment

    number, _ = await report(harness, "4栋楼道灯坏了好几天了")
    mark = await harness.mark()
    await harness.say("wangdajie", "", kind="image")

    async def attached() -> bool:
        async with app.dispatcher.sessions() as s:
            return bool((await s.exec(select(Attachment))).all())

    await eventually(attached, within=10, what="the photo attached")
    async with app.dispatcher.sessions() as s:
        [a] = (await s.exec(select(Attachment))).all()
    [t] = await tickets(app)
    assert a.ticket_id == t.id and t.number == number
    assert a.path is not None and Path(a.path).parent.name == "media"
    data = await asyncio.to_thread(Path(a.path).read_bytes)
    assert data and Path(a.path).stem == hashlib.sha256(data).hexdigest()
    assert await harness.quiet_for(1.0, since=mark) == []  # a photo is never answered


@pytest.fixture
async def voice_app(wechat_settings, fake_stt):
    """The app on the harness with speech to text at the fake server (which hears SAID in any recording)."""
    from bot.config import STTSettings

    wechat_settings.stt = STTSettings(base_url=fake_stt.url, model="fake-sensevoice", timeout_seconds=5)
    async with running_wechat_app(wechat_settings) as application:
        yield application


async def test_a_voice_report_is_downloaded_transcribed_and_filed_as_a_ticket(harness, voice_app, fake_stt, silk_bytes):
    """WeChat voice (Audio, SILK) through the gateway: the recording is downloaded, decoded to WAV, sent to the
    speech-to-text endpoint through the openai client, and its transcript filed with the usual ack."""
    mark = await harness.mark()
    await harness.say("wangdajie", "", kind="voice", file=("message-7-audio.silk", silk_bytes))
    [ack] = await harness.wait_sent(since=mark)
    number = NUMBER.search(ack["text"]).group(1)
    assert ack["roomId"] == harness.rooms["leaders"]["id"] and ack["mentionIds"] == [harness.contacts["wangdajie"]["id"]]
    assert "设施报修" in ack["text"] and "4栋" in ack["text"]
    [t] = await tickets(voice_app)
    assert (t.number, t.text, t.category, t.building) == (number, "4栋楼道灯坏了好几天了", "repair", "4")
    assert t.reporter_name == "王大姐"
    [row] = await inbox(voice_app)
    assert (row.kind, row.text, row.transcribed_by) == ("voice", "4栋楼道灯坏了好几天了", "stt:fake-sensevoice")
    [req] = fake_stt.requests
    assert req["filename"] == "voice.wav" and req["file"][:4] == b"RIFF"


async def test_without_speech_to_text_a_leaders_voice_message_waits_for_staff_silently(harness, app, silk_bytes):
    from storage.models import Candidate, Member

    async with app.dispatcher.sessions() as s:
        s.add(Member(display_name="王大姐", wechat_id=harness.contacts["wangdajie"]["id"], role="neighbour_leader"))
        await s.commit()
    mark = await harness.mark()
    await harness.say("wangdajie", "", kind="voice", file=("message-8-audio.silk", silk_bytes))

    async def held() -> bool:
        async with app.dispatcher.sessions() as s:
            return bool((await s.exec(select(Candidate))).all())

    await eventually(held, within=10, what="the voice message held for staff")
    async with app.dispatcher.sessions() as s:
        [cand] = (await s.exec(select(Candidate))).all()
    assert cand.text == "[语音] 待转写" and cand.media and cand.media.endswith(".wav")
    assert await harness.quiet_for(1.0, since=mark) == []
    assert await tickets(app) == []


async def test_the_bot_ignores_its_own_echo(harness, app):
    await report(harness, "3栋单元门闭门器坏了")
    await asyncio.sleep(1.0)  # the puppet echoes the ack back as a message from the bot
    rows = await inbox(app)
    assert [r.sender_id for r in rows] == [harness.contacts["wangdajie"]["id"]]
    assert len(await tickets(app)) == 1


async def test_a_mention_of_the_bot_is_handled_as_without_it(harness, app):
    plain, plain_ack = await report(harness, "6栋化粪池满了往外冒", sender="zhaoayi")
    mentioned, mentioned_ack = await report(harness, "7栋化粪池满了往外冒", sender="lishifu", at_bot=True)
    by_number = {t.number: t for t in await tickets(app)}
    assert (by_number[plain].category, by_number[plain].building) == ("drainage", "6")
    assert (by_number[mentioned].category, by_number[mentioned].building) == ("drainage", "7")
    assert "@" not in by_number[mentioned].text and "邻聚小助手" not in by_number[mentioned].text

    def shape(ack: dict, building: str, name: str) -> str:
        return re.sub(r"\d{4,}", "N", ack["text"]).replace(building, "B").replace(name, "P")

    assert shape(plain_ack, "6栋", "赵阿姨") == shape(mentioned_ack, "7栋", "李师傅")
    rows = {r.sender_name: r for r in await inbox(app)}
    assert rows["李师傅"].mentioned and not rows["赵阿姨"].mentioned


async def test_the_gateway_going_away_mid_reply_does_not_lose_the_reply(harness, app):
    await harness.go_away_on_next_send()
    mark = await harness.mark()
    await harness.say("wangdajie", "9栋路灯坏了，晚上黑漆漆的")
    await eventually(lambda: _count(app, 1), within=10, what="the report in the inbox")
    await eventually(lambda: not app.channel.connected, within=10, what="the channel to see the outage")
    assert await harness.sent(mark) == []
    await harness.start_server()
    [ack] = await harness.wait_sent(since=mark, within=20)
    assert NUMBER.search(ack["text"]) and ack["mentionIds"] == [harness.contacts["wangdajie"]["id"]]
    await asyncio.sleep(1.0)
    assert len(await harness.sent(mark)) == 1, "the reply was sent exactly once"
    assert len(await tickets(app)) == 1


async def _count(app, n: int) -> bool:
    return len(await inbox(app)) >= n


async def _status(app, message_id: str, status: str) -> bool:
    return any(r.message_id == message_id and r.status == status for r in await inbox(app))
