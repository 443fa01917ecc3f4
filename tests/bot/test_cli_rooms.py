"""`linju rooms`: the rooms the bot has seen, by id; `linju rooms bind` makes one a committee room by its id."""

from __future__ import annotations

import asyncio

from bot.app import App
from bot.cli import main
from tests.reliability.support import write_config
from tests.support import FakeChannel, load_settings

NEW_ROOM = "新建小区业主群"


async def _seen_and_alerted(config, building: int) -> list:
    """Start the bot once: a message in a new room, then an urgent report; returns what was sent."""
    settings = load_settings(config)
    chat = FakeChannel()
    app = App(settings, channel=chat)
    await app.start()
    try:
        await chat.say("大家好", room=NEW_ROOM)
        return await chat.say(f"{building}栋3单元有很重的煤气味，快来人", sender="王贵宝", room="松涛里邻长群")
    finally:
        await app.stop()


def test_a_room_is_listed_by_id_and_becomes_a_committee_room_only_when_bound(tmp_path, capsys):
    config = write_config(tmp_path)
    sent = asyncio.run(_seen_and_alerted(config, 7))
    assert not [r for r in sent if r.room_id == f"{NEW_ROOM}@chatroom"]
    capsys.readouterr()
    assert main(["rooms", "--config", str(config)]) == 0
    listed = capsys.readouterr().out
    assert f"{NEW_ROOM}@chatroom\t{NEW_ROOM}\tordinary\t-\t-\t" in listed
    assert main(["rooms", "bind", f"{NEW_ROOM}@chatroom", "--kind", "committee", "--community", "书院路社区",
                 "--config", str(config)]) == 0
    assert "bound" in capsys.readouterr().out
    assert main(["rooms", "list", "--config", str(config)]) == 0
    assert f"{NEW_ROOM}@chatroom\t{NEW_ROOM}\tcommittee\t书院路社区\tcli\t" in capsys.readouterr().out
    sent = asyncio.run(_seen_and_alerted(config, 8))
    assert [r for r in sent if r.room_id == f"{NEW_ROOM}@chatroom" and "【紧急】" in r.text]
    assert main(["rooms", "unbind", f"{NEW_ROOM}@chatroom", "--config", str(config)]) == 0
    sent = asyncio.run(_seen_and_alerted(config, 9))
    assert not [r for r in sent if r.room_id == f"{NEW_ROOM}@chatroom"]


def test_binding_a_configured_room_or_an_unknown_community_is_refused(tmp_path, capsys):
    config = write_config(tmp_path)
    assert main(["rooms", "bind", "书院路社区两委群", "--kind", "leaders", "--community", "书院路社区",
                 "--config", str(config)]) == 2
    assert "configured in config.yaml" in capsys.readouterr().err
    assert main(["rooms", "bind", "x@chatroom", "--kind", "committee", "--community", "火星社区",
                 "--config", str(config)]) == 2
    assert "no community '火星社区'" in capsys.readouterr().err
