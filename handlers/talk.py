"""Talking to the bot: an @-mention (or a private question) that is neither a report nor a query gets a short
answer — help for "你好/你能做什么", an answer from the FAQ in config, or who to ask instead."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from handlers import texts
from handlers.context import Context, Outcome
from handlers.types import Reply

_GREETING = re.compile(r"^\s*(你好|您好|在吗|在不在|哈喽|hello|hi|你是谁|你能做什么|你会什么|你会干嘛|能做什么|怎么用|干什么的)[呀啊吗呢!！?？~。.\s]*$", re.I)
_QUESTION = re.compile(r"[?？]|吗|么|怎么|哪里|哪儿|在哪|什么|几点|多少|能不能|可不可以|如何")


@dataclass(frozen=True, slots=True)
class Faq:
    """One known question: any of `ask` in a message marks it."""

    ask: tuple[str, ...]
    answer: str


class TalkHandler:
    """Last in the router: only what was said to the bot and no other handler took."""

    name = "talk"

    def __init__(
        self, *, help_text: str, faq: Sequence[Faq] = (), contact: str = "社区居委会", help_mention_only: str | None = None
    ) -> None:
        self.help_text = help_text
        self.help_mention_only = help_mention_only or help_text
        self.faq = tuple(faq)
        self.contact = contact

    async def __call__(self, ctx: Context) -> Outcome | None:
        if not ctx.msg.is_text:
            return None
        private_question = ctx.msg.is_private and bool(_QUESTION.search(ctx.text) or _GREETING.match(ctx.text))
        if not ctx.mentioned and not private_question:
            return None
        text = ctx.text.strip()
        if not text or _GREETING.match(text):
            text = self.help_text if ctx.channel.sees_all_messages else self.help_mention_only
            return Outcome(replies=[Reply.to(ctx.msg, text)], intent="chat")
        for entry in self.faq:
            if any(word and word in text for word in entry.ask):
                return Outcome(replies=[Reply.to(ctx.msg, entry.answer)], intent="chat")
        return Outcome(replies=[Reply.to(ctx.msg, texts.CANNOT_ANSWER.format(contact=self.contact))], intent="chat")
