"""The channel port: what every transport (console, wechaty, a test fake) must provide."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol, runtime_checkable

from handlers.types import Capabilities, IncomingMessage, Reply

# Resolves once the message is stored durably in the inbox; its result is a future of the replies the
# message causes (a channel may ignore it). Channels with bursts of input may call it concurrently: the app
# keeps the order in which the calls were made.
OnMessage = Callable[[IncomingMessage], Awaitable[object]]
# Called by a channel each time it is (re)connected; the app sets it to send what its outbox kept meanwhile.
OnConnected = Callable[[], Awaitable[object]]


@runtime_checkable
class Channel(Protocol):
    """A transport. Console, wechaty and test channels subclass this protocol, so the optional parts below
    come with their defaults; the app uses them as declared, never by looking for an attribute.

    `start` connects and begins delivering messages to `on_message` (the app records each in the inbox
    before handling, and handles them in the order delivered). It returns once the channel is up (or, for a
    finite channel such as piped console input, may run to completion). `wait_closed` resolves when the
    channel has no more input (console EOF) or was closed. `send` delivers one reply; a channel that is
    temporarily disconnected raises, and the app's outbox sends the reply again later.
    `capabilities` is everything the core may know about the platform (see Capabilities); `name` is the
    `channel:` name it is registered under (bot/channels/registry.py), for logs only: nothing decides by it.

    Optional, with defaults: `on_connected` (the app sets it; a channel that can lose its link calls it after
    every (re)connection), `connected` (False while the link is down: the app leaves the outbox alone then,
    since the next `on_connected` flushes it).
    """

    name: str
    capabilities: Capabilities
    on_connected: OnConnected | None = None

    @property
    def connected(self) -> bool:
        return True

    @property
    def max_text_length(self) -> int:
        return self.capabilities.max_text_length

    async def start(self, on_message: OnMessage) -> None: ...

    async def send(self, reply: Reply) -> None: ...

    async def wait_closed(self) -> None: ...

    async def close(self) -> None: ...
