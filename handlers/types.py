"""The platform-neutral message and reply types that every channel produces and consumes."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

MessageKind = Literal["text", "image", "voice", "video", "file", "emoticon", "red_packet", "link", "mini_program", "other"]


VoiceForm = Literal["text", "audio", "none"]


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What a channel promises about itself; everything above bot/ decides by these, never by a channel's name.

    `source`: the ticket source code of the messages it brings (wechat, console …; texts.SOURCE_NAMES): a
    ticket's source is where it came from, not which transport is running, and one from a chat source has a
    reporter the bot can tell of its progress (texts.CHAT_SOURCES).
    `ids_trustworthy`: room and sender ids are the platform's own (WeChat's wxid_…, …@chatroom), so a name
    never stands in for one; where they are not (the console, whose ids are the names typed), names are ids.
    `sees_all_messages`: it receives every message of a group it is in; False: only those that @-mention it
    (silence then says nothing about chat the bot never saw).
    `can_push`: it can send without being asked (urgent pushes, notices, digests), not only answer a message.
    `max_text_length`: how long one outgoing text may be; the channel sends a longer one in parts, in order.
    `markdown`: it renders markdown (else text goes out as plain text).
    `downloads_images`: a photo arrives as a file the bot can keep (IncomingMessage.media).
    `voice`: how a voice message arrives: "text" (the platform transcribed it), "audio" (a file to transcribe)
    or "none" (it never brings one).
    `terminal`: it talks through this process's own stdin and stdout, so logs stay off the console.
    `sends_per_minute` and `send_burst`: how fast the platform lets an account send (None: no limit).
    `buttons`: it can put buttons under a message (WeCom's button cards); pressing one says its key.
    """

    source: str
    ids_trustworthy: bool = True
    sees_all_messages: bool = True
    can_push: bool = True
    max_text_length: int = 2000
    markdown: bool = False
    downloads_images: bool = False
    voice: VoiceForm = "none"
    terminal: bool = False
    sends_per_minute: float | None = None
    send_burst: int = 10
    buttons: bool = False


@dataclass(frozen=True, slots=True)
class IncomingMessage:
    """One message as a channel saw it; the core never sees platform objects.

    `room_id` is None for a private chat with the bot. `message_id` is the platform's id and is what makes
    handling idempotent (a redelivered message is handled once).
    """

    message_id: str
    sender_id: str
    sender_name: str
    text: str
    room_id: str | None = None
    room_topic: str | None = None
    mentioned_bot: bool = False
    kind: MessageKind = "text"
    timestamp: datetime = field(default_factory=lambda: datetime.now(UTC))
    media: str | None = None  # an image (or file, or recording) the channel saved, as a path under data_dir
    # A voice message whose `text` is its transcript: who made it ("channel": the platform sent it transcribed;
    # "stt:<model>": linju's speech-to-text endpoint). None for typed text and for voice not (yet) transcribed.
    transcribed_by: str | None = None

    @property
    def is_text(self) -> bool:
        """Words to understand: a text message, or a voice message with its transcript."""
        return self.kind == "text" or (self.kind == "voice" and self.transcribed_by is not None)

    @property
    def is_private(self) -> bool:
        return self.room_id is None

    @property
    def conversation_id(self) -> str:
        """Where a reply goes: the room, or the sender in a private chat."""
        return self.room_id if self.room_id is not None else self.sender_id


@dataclass(frozen=True, slots=True)
class Heard:
    """What listening to a voice recording gave: its transcript (None: none usable, `reason` says why), who
    made it, and the recording as a file staff can play (a WAV decoded from the SILK, else the file received)."""

    text: str | None
    audio: str | None = None
    by: str | None = None
    reason: str = ""


# Listens to the recording at a path (under data_dir) and never raises: a failure is a Heard without text.
Transcribe = Callable[[str], Awaitable[Heard]]


@dataclass(frozen=True, slots=True)
class Mention:
    contact_id: str
    name: str


@dataclass(frozen=True, slots=True)
class Button:
    """A button under a message, where the channel has them (Capabilities.buttons): pressing it is the presser
    saying `key` ("签收 3810"), so it goes through the same commands and the same rules as typing it."""

    text: str
    key: str


@dataclass(frozen=True, slots=True)
class Reply:
    """Something to send: to a room (`room_id`) or privately to a contact (`contact_id`)."""

    text: str
    room_id: str | None = None
    contact_id: str | None = None
    mentions: tuple[Mention, ...] = ()
    file: Path | None = None
    urgent: bool = False
    not_before: datetime | None = None  # a notice held for the room's quiet hours goes out at this time
    buttons: tuple[Button, ...] = ()  # shown only where the channel has buttons

    def __post_init__(self) -> None:
        if (self.room_id is None) == (self.contact_id is None):
            raise ValueError("a reply goes to exactly one of room_id or contact_id")

    @classmethod
    def to(cls, msg: IncomingMessage, text: str, *, mention: bool = True) -> Reply:
        """Answer where `msg` came from, mentioning its sender in a room."""
        if msg.room_id is None:
            return cls(text=text, contact_id=msg.sender_id)
        mentions = (Mention(msg.sender_id, msg.sender_name),) if mention else ()
        return cls(text=text, room_id=msg.room_id, mentions=mentions)
