"""The ordered router: handlers are tried in their declared order and the first that accepts wins."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from handlers.context import Context, Handler, Outcome

log = logging.getLogger(__name__)


class Router:
    """Order and priority count: explicit staff syntax first, then undo and replies, queries, reports.

    A message no handler takes is chat: recorded, and answered with silence.
    """

    def __init__(self, handlers: Sequence[Handler]) -> None:
        self.handlers = list(handlers)

    async def route(self, ctx: Context) -> Outcome:
        for handler in self.handlers:
            outcome = await handler(ctx)
            if outcome is not None:
                log.debug("message %s taken by %s", ctx.msg.message_id, handler.name)
                return outcome
        return Outcome(intent="chat")
