"""The channel registry: the one place that maps a `channel:` name to the class that builds that transport.

Everything else asks a channel's Capabilities, never its name: `linju run`, `linju chat` and
`linju digest --send` build their channel here, and commands that run without one (tickets, rooms) read the
configured channel's capabilities here. A channel's module is imported only when it is used (wechaty's
client is heavy and optional). docs/channels.md has the capability table.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, cast

from bot.config import ConfigError
from handlers.types import Capabilities

if TYPE_CHECKING:
    from bot.channels.base import Channel
    from bot.config import Settings


@dataclass(frozen=True, slots=True)
class ChannelOptions:
    """How a command wants its channel: `jsonl` (the console: JSON Lines in and out), `send_only` (it reads
    nothing and only sends, as for `linju digest --send`). A channel ignores what does not apply to it."""

    jsonl: bool = False
    send_only: bool = False


class ChannelClass(Protocol):
    """What the registry needs of a channel's class: its capabilities, and a factory from settings."""

    capabilities: Capabilities

    def from_settings(self, settings: Settings, options: ChannelOptions) -> Channel: ...


@dataclass(frozen=True, slots=True)
class Entry:
    module: str
    cls: str
    summary: str


# name → where its class lives. A new transport adds one line here (and a row in docs/channels.md).
CHANNELS: dict[str, Entry] = {
    "console": Entry("bot.channels.console", "ConsoleChannel", "a group chat in this terminal (linju chat)"),
    "wechaty": Entry("bot.channels.wechaty_channel", "WechatyChannel", "WeChat through a Wechaty puppet service"),
    "wecom": Entry("bot.channels.wecom_channel", "WecomChannel", "WeCom's smart robot (企业微信智能机器人) over its WebSocket"),
}


class UnknownChannel(ConfigError, ValueError):
    """A `channel:` name nothing is registered under. A ValueError too, so the settings validator reports it
    with the file and key like any other bad value."""


def names() -> list[str]:
    """The registered channel names, in registration order."""
    return list(CHANNELS)


def check(name: str) -> str:
    """`name` if a channel is registered under it; else UnknownChannel naming the known ones."""
    if name not in CHANNELS:
        raise UnknownChannel(f"unknown channel {name!r}; the known channels are: {', '.join(CHANNELS)}")
    return name


def channel_class(name: str) -> ChannelClass:
    entry = CHANNELS[check(name)]
    return cast("ChannelClass", getattr(importlib.import_module(entry.module), entry.cls))


def capabilities(name: str) -> Capabilities:
    """What the channel registered as `name` declares, without building it (for commands that do not open it)."""
    return channel_class(name).capabilities


def create(name: str, settings: Settings, options: ChannelOptions | None = None) -> Channel:
    """A new, not yet started channel of the kind registered as `name`, configured from `settings`."""
    return channel_class(name).from_settings(settings, options or ChannelOptions())


async def open_for_sending(settings: Settings) -> Channel:
    """The configured channel, started for sending only (incoming messages are not handled): for commands that
    deliver something from the shell, such as `linju digest --send`. Close it when done."""
    channel = create(settings.channel, settings, ChannelOptions(send_only=True))

    async def ignore(_msg: object) -> None:
        return None

    await channel.start(ignore)
    return channel
