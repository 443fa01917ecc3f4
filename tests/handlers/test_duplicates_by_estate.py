"""Duplicates only within one estate: every estate has a 4栋. A room serves the estate its config names (or the
one of its community's estates in its name); where the estate is unknown, only the same room's ticket matches."""

from __future__ import annotations

import pytest
from sqlmodel import select

from bot.config import RoomSettings
from storage.models import Ticket
from tests.support import make_settings, running_app


@pytest.fixture
async def app(tmp_path):
    settings = make_settings(tmp_path)
    rooms = settings.communities[0].rooms
    rooms.append(RoomSettings(name="建设小区邻长群", id="建设小区邻长群@chatroom"))
    rooms.append(RoomSettings(name="第三片区群", id="第三片区群@chatroom", area="第三片区"))  # over several estates
    async with running_app(settings) as application:
        yield application


async def _tickets(app) -> list[Ticket]:
    async with app.dispatcher.sessions() as s:
        return list((await s.exec(select(Ticket).order_by(Ticket.id))).all())


async def test_the_same_building_number_in_another_estate_is_a_new_ticket(app):
    await app.fake.say("4栋楼道灯坏了，晚上黑乎乎的", sender="王阿姨", room="松涛里邻长群")
    [reply] = await app.fake.say("建设小区4栋楼道灯也坏了，晚上黑乎乎的", sender="赵姐", room="第三片区群")
    assert "已登记为工单" in reply.text, reply.text
    second = reply.text.split("#")[1][:4]
    [reply] = await app.fake.say("4栋楼道灯也坏了，晚上黑乎乎的", sender="孙伯", room="建设小区邻长群")
    assert "已经有人反映过" in reply.text and f"#{second}" in reply.text, reply.text  # 建设小区's own 4栋
    tickets = await _tickets(app)
    assert [(t.estate, t.building, t.supporters) for t in tickets] == [("松涛里", "4", 1), ("建设小区", "4", 2)]


async def test_within_one_estate_a_second_report_supports_the_first(app):
    await app.fake.say("4栋楼道灯坏了，晚上黑乎乎的", sender="王阿姨", room="松涛里邻长群")
    await app.fake.say("松涛里4栋的楼道灯坏了好几天了", sender="赵姐", room="第三片区群")
    [ticket] = await _tickets(app)
    assert (ticket.estate, ticket.building, ticket.supporters) == ("松涛里", "4", 2)


async def test_where_the_estate_is_unknown_only_the_same_room_matches(app):
    await app.fake.say("4栋楼道灯坏了，晚上黑乎乎的", sender="王阿姨", room="第三片区群")
    await app.fake.say("4栋楼道灯也坏了，晚上黑乎乎的", sender="孙伯", room="松涛里邻长群")
    await app.fake.say("4栋楼道灯坏了，黑乎乎的", sender="钱叔", room="第三片区群")
    tickets = await _tickets(app)
    assert [(t.estate, t.room_id, t.supporters) for t in tickets] == [
        (None, "第三片区群@chatroom", 2),
        ("松涛里", "松涛里邻长群@chatroom", 1),
    ]
