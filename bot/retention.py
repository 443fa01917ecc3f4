"""Retention: chat messages lose their text after `retention.chat_days`; sent replies are deleted then too."""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from storage import messages

log = logging.getLogger(__name__)


async def purge(sessions: async_sessionmaker[AsyncSession], *, before: datetime) -> tuple[int, int]:
    """Clear chat messages received before `before` (their rows and ids stay, so a redelivery is still
    recognised; reports and messages held for staff keep their text) and delete replies sent before it, in
    batches of a few thousand rows, each its own transaction. Returns (messages cleared, replies deleted)."""
    cleared, after = 0, 0
    while True:
        async with sessions() as s:
            n, after = await messages.purge_chat(s, before=before, after_id=after)
            await s.commit()
        cleared += n
        if n == 0:
            break
    async with sessions() as s:
        deleted = await messages.purge_outbox(s, before=before)
        await s.commit()
    log.info("retention: %d chat messages from before %s cleared, %d sent replies deleted", cleared, before.date(), deleted)
    return cleared, deleted
