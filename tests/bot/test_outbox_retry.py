"""A reply whose send failed stays in the database outbox and is tried again with back-off until it goes out."""

from __future__ import annotations

from sqlmodel import select

import bot.app as app_module
from storage.models import Outbox
from tests.e2e.wechat_harness import eventually
from tests.support import running_app


async def unsent(app) -> list[Outbox]:
    async with app.dispatcher.sessions() as s:
        return list((await s.exec(select(Outbox).where(Outbox.sent_at.is_(None)))).all())  # type: ignore[union-attr]


async def test_a_failed_send_is_retried_with_back_off_and_goes_out_once(settings, monkeypatch):
    # Only the back-off can send it here: the regular look at the outbox is an hour away.
    monkeypatch.setattr(app_module, "FLUSH_EVERY", 3600.0)
    monkeypatch.setattr(app_module, "RETRY_FIRST", 0.05)
    async with running_app(settings) as app:
        chat = app.fake
        chat.fail_sends = 3  # the send while handling fails, and the first two retries
        await chat.say("9栋路灯坏了")
        await eventually(lambda: len(chat.sent) == 1, within=20, what="the reply sent after three failures")

        async def all_sent() -> bool:
            return await unsent(app) == []

        await eventually(all_sent, within=5, what="the outbox row marked sent")
        assert chat.fail_sends == 0 and len(chat.sent) == 1 and "已登记" in chat.sent[0].text

