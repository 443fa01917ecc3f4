"""Voice messages through the real app: a recording is transcribed before it is understood and its transcript
filed like text (with the usual ack); without a transcript a leader's recording is held for staff (待确认,
"[语音] 待转写") with the recording, never dropped and never answered; a channel's own transcript skips STT."""

from __future__ import annotations

import asyncio
import re
import uuid
from pathlib import Path

import pytest
from sqlmodel import select

from bot.app import App
from handlers.types import Capabilities, IncomingMessage, Reply
from storage import candidates as cand_store
from storage.models import Attachment, Candidate, Inbox, Member, Ticket
from tests.handlers.test_ticket_life import COMMITTEE, LEADERS, LEADERS_ID, Clock
from tests.support import FakeChannel, make_settings

NUMBER = re.compile(r"#(\d{4,})")
SAID = "4栋楼道灯坏了好几天了"  # what the fake STT server "hears" (its transcript for every recording)


class AudioChat(FakeChannel):
    """Like the wechaty channel: voice arrives as a recording saved under data_dir."""

    capabilities = Capabilities(source="wechat", ids_trustworthy=True, max_text_length=2000, voice="audio")

    async def say_voice(
        self, media: Path | None, *, sender: str = "王贵宝", room: str | None = LEADERS, text: str = "[语音]"
    ) -> list[Reply]:
        before = len(self.sent)
        msg = IncomingMessage(
            message_id=f"v-{uuid.uuid4().hex}",
            sender_id=f"wxid_{sender}",
            sender_name=sender,
            text=text,
            room_id=f"{room}@chatroom" if room else None,
            room_topic=room,
            kind="voice",
            media=str(media) if media else None,
        )
        assert self.on_message is not None
        await (await self.on_message(msg))
        return self.sent[before:]


class TextVoiceChat(AudioChat):
    """Like WeCom: the platform transcribes voice itself and sends the words as the message's text."""

    capabilities = Capabilities(source="wechat", ids_trustworthy=True, max_text_length=2000, voice="text")


@pytest.fixture(scope="module")
def understanding(tmp_path_factory):
    from bot.understanding import build_understanding

    return asyncio.run(build_understanding(make_settings(tmp_path_factory.mktemp("u")), use_llm=False))


async def _no_close() -> None:
    return None


@pytest.fixture
async def running(tmp_path, understanding, monkeypatch, fake_stt):
    """running(stt=True|False|{...}, channel=AudioChat) → a started app with 王贵宝 as a neighbour leader; each
    one started is stopped after the test."""

    async def shared(settings, **kw):
        return understanding

    monkeypatch.setattr("bot.app.build_understanding", shared)
    monkeypatch.setattr(understanding, "close", _no_close)
    apps: list[App] = []

    async def make(*, stt: bool | dict = True, channel: type[AudioChat] = AudioChat) -> App:
        cfg = {"base_url": fake_stt.url, "model": "fake-whisper", "timeout_seconds": 2}
        if isinstance(stt, dict):
            cfg.update(stt)
        settings = make_settings(tmp_path, stt=cfg) if stt else make_settings(tmp_path)
        app = App(settings, channel=channel(), clock=Clock())
        await app.start()
        apps.append(app)
        async with app.dispatcher.sessions() as s:
            s.add(Member(display_name="王贵宝", wechat_id="wxid_王贵宝", role="neighbour_leader", community="书院路社区"))
            await s.commit()
        return app

    yield make
    for app in apps:
        await app.stop()


async def rows(app, model):
    async with app.dispatcher.sessions() as s:
        return list((await s.exec(select(model))).all())


async def test_a_voice_report_is_transcribed_and_filed_with_the_usual_ack(running, fake_stt, silk_file):
    app = await running()
    [ack] = await app.channel.say_voice(silk_file)
    number = NUMBER.search(ack.text).group(1)
    assert ack.room_id == LEADERS_ID and ack.mentions[0].name == "王贵宝"
    assert "设施报修" in ack.text and "4栋" in ack.text
    [t] = await rows(app, Ticket)
    assert (t.number, t.text, t.category, t.building) == (number, SAID, "repair", "4")
    [row] = await rows(app, Inbox)
    # The transcript is kept with the message, marked as one (and by whom); the WAV staff can play with it.
    assert (row.kind, row.text, row.transcribed_by, row.intent) == ("voice", SAID, "stt:fake-whisper", "report")
    assert row.media.endswith(".wav") and await asyncio.to_thread(Path(row.media).is_file)
    assert len(fake_stt.requests) == 1 and fake_stt.requests[0]["filename"] == "voice.wav"
    assert await rows(app, Candidate) == []


async def test_without_an_endpoint_a_leaders_voice_message_is_held_for_staff_with_its_recording(running, silk_file):
    app = await running(stt=False)
    chat = app.channel
    assert await chat.say_voice(silk_file) == []  # nothing said in the group
    assert await rows(app, Ticket) == []
    [cand] = await rows(app, Candidate)
    assert (cand.text, cand.status, cand.sender_role, cand.stage) == ("[语音] 待转写", "pending", "neighbour_leader", "voice")
    assert cand.media.endswith(".wav") and await asyncio.to_thread(Path(cand.media).is_file)
    [row] = await rows(app, Inbox)
    assert (row.kind, row.text, row.transcribed_by, row.intent, row.status) == ("voice", "[语音]", None, "review", "done")

    [listing] = await chat.say("工单 待确认", sender="刘主任", room=COMMITTEE)
    assert "[1]" in listing.text and "[语音] 待转写" in listing.text and cand.media in listing.text

    replies = await chat.say("确认 1 设施报修", sender="刘主任", room=COMMITTEE)
    assert "待确认 1 已登记为工单" in replies[0].text
    [t] = await rows(app, Ticket)
    [a] = await rows(app, Attachment)  # the recording goes with the ticket
    assert (a.ticket_id, a.kind, a.path) == (t.id, "voice", cand.media)
    async with app.dispatcher.sessions() as s:
        assert await cand_store.labelled(s) == []  # "[语音] 待转写" is no training label


@pytest.mark.parametrize("mode", ["slow", "500", "empty", "html", "loop", "hallucination"])
async def test_a_timeout_or_a_nonsense_answer_holds_the_message_for_staff(running, fake_stt, silk_file, mode):
    fake_stt.mode, fake_stt.delay = mode, 5.0
    app = await running(stt={"timeout_seconds": 0.5})
    assert await app.channel.say_voice(silk_file) == []
    [cand] = await rows(app, Candidate)
    assert cand.text == "[语音] 待转写" and cand.media.endswith(".wav")
    assert await rows(app, Ticket) == []


async def test_a_file_that_does_not_decode_is_held_as_it_came(running, fake_stt, tmp_path):
    bad = tmp_path / "broken.silk"
    bad.write_bytes(b"\x02#!SILK_V3" + b"\xff" * 64)
    app = await running()
    assert await app.channel.say_voice(bad) == []
    [cand] = await rows(app, Candidate)
    assert (cand.text, cand.media) == ("[语音] 待转写", str(bad))
    assert fake_stt.requests == []


async def test_a_voice_message_the_gateway_could_not_download_is_still_held(running):
    app = await running()
    assert await app.channel.say_voice(None) == []
    [cand] = await rows(app, Candidate)
    assert (cand.text, cand.media) == ("[语音] 待转写", None)


async def test_someone_elses_untranscribed_voice_message_is_recorded_only(running, silk_file):
    app = await running(stt=False)
    assert await app.channel.say_voice(silk_file, sender="路人") == []
    assert await rows(app, Candidate) == []
    [row] = await rows(app, Inbox)
    assert (row.status, row.intent) == ("ignored", None) and row.media.endswith(".wav")


async def test_a_voice_message_to_the_bot_in_private_is_held_whoever_sends_it(running, silk_file):
    app = await running(stt=False)
    assert await app.channel.say_voice(silk_file, sender="路人", room=None) == []
    [cand] = await rows(app, Candidate)
    assert cand.room_id is None and cand.text == "[语音] 待转写"


async def test_a_transcript_the_channel_brings_is_understood_without_stt(running, fake_stt):
    app = await running(channel=TextVoiceChat)
    assert app.transcriber is None
    [ack] = await app.channel.say_voice(None, text="5栋电梯坏了，老人下不了楼")
    assert NUMBER.search(ack.text)
    [t] = await rows(app, Ticket)
    assert t.text == "5栋电梯坏了，老人下不了楼"
    [row] = await rows(app, Inbox)
    assert (row.kind, row.transcribed_by, row.intent) == ("voice", "channel", "report")
    assert fake_stt.requests == []
