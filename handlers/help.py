"""Help: what the bot does and how to ask it, on "帮助" or a bare @-mention; "我的ID" tells a sender their id."""

from __future__ import annotations

import re

from handlers import texts
from handlers.context import Context, Outcome
from handlers.types import Reply

_HELP = re.compile(r"^\s*[/／]?(帮助|help|使用说明|怎么用|菜单|功能)\s*[?？]?\s*$", re.IGNORECASE)
_MY_ID = re.compile(r"^\s*[/／]?(我的\s*(微信)?\s*id|whoami|my\s*id)\s*[?？]?\s*$", re.IGNORECASE)


class HelpHandler:
    name = "help"

    def __init__(self, *, bot_name: str, undo_minutes: int) -> None:
        self.texts = {m: texts.help_text(bot_name, undo_minutes, mention_only=m) for m in (False, True)}

    async def __call__(self, ctx: Context) -> Outcome | None:
        bare_mention = ctx.mentioned and not ctx.text.strip()
        if bare_mention or _HELP.match(ctx.text):
            # On a channel that sees only @-mentions, the help says to @ the bot.
            text = self.texts[not ctx.channel.sees_all_messages]
            return Outcome(replies=[Reply.to(ctx.msg, text)], intent="chat")
        if _MY_ID.match(ctx.text):
            # Staff are known by this id (config `wechat_id`, the roster's 微信号); said only in a private chat.
            text = texts.MY_ID.format(id=ctx.msg.sender_id) if ctx.msg.is_private else texts.MY_ID_PRIVATELY
            return Outcome(replies=[Reply.to(ctx.msg, text)], intent="chat")
        return None
