"""Voice messages without their words: a recording nobody could transcribe is held for staff, never dropped.

A voice message with a transcript (the platform's, or linju's speech-to-text: bot/voice.py, called by the
dispatcher before understanding) is read like text by every other handler; this one only sees the rest.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from handlers.context import Context, Outcome
from handlers.report import RELAYING_ROLES

if TYPE_CHECKING:
    from handlers.candidates import Candidates

log = logging.getLogger(__name__)


class VoiceHandler:
    """A leader's recording (or one addressed to the bot: a private chat, an @-mention) is held as a candidate
    (待确认, "[语音] 待转写") with the recording for staff to play, and nothing is said in the group. Anyone
    else's is recorded only, as chat is."""

    name = "voice"

    def __init__(self, *, candidates: Candidates) -> None:
        self.candidates = candidates

    async def __call__(self, ctx: Context) -> Outcome | None:
        msg = ctx.msg
        if msg.kind != "voice" or msg.is_text:
            return None
        if not (ctx.actor.role in RELAYING_ROLES or msg.is_private or ctx.mentioned):
            return Outcome(intent="voice")  # recorded, with its recording, and left alone
        log.info("voice message %s held for staff untranscribed", msg.message_id)
        return await self.candidates.hold_voice(ctx)
