"""The channel registry: `channel:` names to channels, each with its declared capabilities; the doc's table."""

from __future__ import annotations

import pytest

from bot.channels import registry
from bot.channels.base import Channel
from bot.channels.console import ConsoleChannel
from bot.channels.registry import ChannelOptions
from bot.config import ConfigError, load_settings
from handlers import texts
from handlers.types import Capabilities, Reply
from tests.support import DEFAULT_CONFIG, REPO, make_settings


def test_every_registered_channel_declares_its_capabilities_and_a_chat_source():
    assert registry.names()[:2] == ["console", "wechaty"]
    for name in registry.names():
        cls = registry.channel_class(name)
        caps = registry.capabilities(name)
        assert isinstance(caps, Capabilities) and Channel in type.mro(cls)  # type: ignore[arg-type]
        assert cls.name == name  # type: ignore[attr-defined]
        # A reporter who wrote through it hears of progress (notify.py) and counts towards the limits.
        assert caps.source in texts.CHAT_SOURCES and caps.source in texts.SOURCE_NAMES, name
        assert caps.max_text_length > 0 and caps.voice in ("text", "audio", "none")


def test_what_the_console_and_wechat_declare():
    console, wechat = registry.capabilities("console"), registry.capabilities("wechaty")
    assert (console.source, console.ids_trustworthy, console.terminal) == ("console", False, True)
    assert (wechat.source, wechat.ids_trustworthy, wechat.terminal) == ("wechat", True, False)
    assert wechat.sees_all_messages and wechat.can_push and wechat.downloads_images and wechat.voice == "audio"
    assert wechat.sends_per_minute == 30 and wechat.max_text_length == 2000


def test_an_unknown_channel_is_a_clear_error_naming_the_known_ones(tmp_path):
    settings = make_settings(tmp_path)
    with pytest.raises(registry.UnknownChannel) as err:
        registry.create("telegram", settings)
    assert isinstance(err.value, ConfigError)  # the CLI prints it as one plain line
    assert str(err.value) == "unknown channel 'telegram'; the known channels are: console, wechaty, wecom"
    with pytest.raises(ConfigError, match="known channels are: console, wechaty, wecom"):
        registry.capabilities("Console")


def test_the_configuration_accepts_only_registered_channels_and_says_where(tmp_path, monkeypatch):
    for name in registry.names():
        assert make_settings(tmp_path, channel=name).channel == name
    bad = tmp_path / "bad.yaml"
    bad.write_text(DEFAULT_CONFIG.read_text(encoding="utf-8").replace("channel: console", "channel: telegram", 1))
    with pytest.raises(ConfigError) as err:
        load_settings(bad)
    msg = str(err.value)
    assert str(bad) in msg and "channel:" in msg and "unknown channel 'telegram'" in msg and "console, wechaty, wecom" in msg
    monkeypatch.setenv("LINJU_CHANNEL", "qq")
    with pytest.raises(ConfigError, match="unknown channel 'qq'"):
        load_settings(DEFAULT_CONFIG)


def test_the_console_is_built_from_the_settings(tmp_path):
    settings = make_settings(tmp_path)
    channel = registry.create("console", settings, ChannelOptions(jsonl=True))
    assert isinstance(channel, ConsoleChannel) and channel.jsonl
    assert (channel.room, channel.sender, channel.bot_name) == (
        settings.console.room, settings.console.sender, settings.bot.name
    )
    assert channel.max_text_length == channel.capabilities.max_text_length


def test_wechat_without_a_gateway_is_a_configuration_error(tmp_path, monkeypatch):
    monkeypatch.delenv("WECHATY_PUPPET_SERVICE_ENDPOINT", raising=False)
    with pytest.raises(ConfigError, match="WECHATY_PUPPET_SERVICE_ENDPOINT"):
        registry.create("wechaty", make_settings(tmp_path, channel="wechaty"))


async def test_a_channel_opened_for_sending_reads_nothing_and_sends(tmp_path, capsys):
    channel = await registry.open_for_sending(make_settings(tmp_path))  # the default config: the console
    try:
        await channel.wait_closed()  # nothing to read: done at once
        await channel.send(Reply(text="十月月报", room_id="书院路社区两委群"))
    finally:
        await channel.close()
    assert "[书院路社区两委群]" in capsys.readouterr().out


def test_the_protocol_gives_its_optional_parts_defaults():
    class Minimal(Channel):
        name = "minimal"
        capabilities = Capabilities(source="wechat", max_text_length=500)

        async def start(self, on_message) -> None:
            return None

        async def send(self, reply: Reply) -> None:
            return None

        async def wait_closed(self) -> None:
            return None

        async def close(self) -> None:
            return None

    ch = Minimal()
    assert ch.connected is True and ch.on_connected is None and ch.max_text_length == 500
    assert isinstance(ch, Channel)


def _doc_row(name: str, c: Capabilities) -> str:
    def yes(b: bool) -> str:
        return "yes" if b else "no"

    sees = "every message" if c.sees_all_messages else "@-mentions only"
    voice = {"text": "as text", "audio": "as audio", "none": "never"}[c.voice]
    return (
        f"| `{name}` | `{c.source}` | {yes(c.ids_trustworthy)} | {sees} | {yes(c.can_push)} | {c.max_text_length} "
        f"| {yes(c.markdown)} | {yes(c.downloads_images)} | {voice} |"
    )


def test_the_capability_table_in_the_docs_says_what_the_channels_declare():
    doc = (REPO / "docs" / "channels.md").read_text(encoding="utf-8")
    lines = {line.strip() for line in doc.splitlines()}
    for name in registry.names():
        row = _doc_row(name, registry.capabilities(name))
        assert row in lines, f"docs/channels.md should have the row\n{row}"
    assert "docs/channels.md" in (REPO / "README.md").read_text(encoding="utf-8")


def test_the_readme_table_says_what_the_channels_declare():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    lines = [line.strip() for line in readme.splitlines() if line.startswith("| `")]
    for name in registry.names():
        c = registry.capabilities(name)
        [row] = [line for line in lines if line.startswith(f"| `{name}` | `{c.source}` |")]
        assert _doc_row(name, c).rstrip("|").strip() in row, row
        assert row.split("|")[-2].strip().startswith("yes" if c.buttons else "no"), row
