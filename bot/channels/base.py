"""The channel port: what every transport (console, wechaty, a test fake) must provide."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol, runtime_checkable

from handlers.types import Capabilities, IncomingMessage, Reply

# Resolves once the message is stored durably in the inbox; its result is a future of the replies the
# message causes (a channel may ignore it). Channels with bursts of input may call it concurrently: the app
# keeps the order in which the calls were made.
OnMessage = Callable[[IncomingMessage], Awaitable[object]]


@runtime_checkable
class Channel(Protocol):
    """A transport. No base class: console, wechaty and test channels each satisfy this shape.

    `start` connects and begins delivering messages to `on_message` (the app records each in the inbox
    before handling, and handles them in the order delivered). It returns once the channel is up (or, for a
    finite channel such as piped console input, may run to completion). `wait_closed` resolves when the
    channel has no more input (console EOF) or was closed. `send` delivers one reply; a channel that is
    temporarily disconnected queues it and sends it on reconnection rather than losing it.
    `max_text_length` is how long one outgoing message may be; the app splits longer ones in order.
    `capabilities` says whether its ids are the platform's and how fast it may send (see Capabilities).
    """

    name: str
    max_text_length: int
    capabilities: Capabilities

    async def start(self, on_message: OnMessage) -> None: ...

    async def send(self, reply: Reply) -> None: ...

    async def wait_closed(self) -> None: ...

    async def close(self) -> None: ...
