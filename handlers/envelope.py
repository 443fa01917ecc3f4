"""Messages and replies as the inbox and outbox store them: rows in, rows out, storable text, and what is kept
of a failure (never the message's text)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from handlers.types import Button, IncomingMessage, Mention, Reply
from nlp.privacy import Privacy
from storage.models import Inbox, Outbox, as_utc


def reply_payload(reply: Reply) -> dict:
    """What the outbox keeps of a reply besides its addressee (JSON)."""
    return {
        "text": reply.text,
        "mentions": [[m.contact_id, m.name] for m in reply.mentions],
        "file": str(reply.file) if reply.file else None,
        "urgent": reply.urgent,
        "buttons": [[b.text, b.key] for b in reply.buttons],
    }


def reply_from_outbox(row: Outbox) -> Reply:
    """The reply an outbox row holds, ready to send."""
    p = json.loads(row.payload)
    return Reply(
        text=p["text"],
        room_id=row.room_id,
        contact_id=row.contact_id,
        mentions=tuple(Mention(cid, name) for cid, name in p.get("mentions", [])),
        file=Path(p["file"]) if p.get("file") else None,
        urgent=bool(p.get("urgent")),
        buttons=tuple(Button(text, key) for text, key in p.get("buttons", [])),
    )


def message_from_inbox(row: Inbox) -> IncomingMessage:
    """An inbox row as the message it recorded (to handle it again after a restart)."""
    return IncomingMessage(
        message_id=row.message_id,
        sender_id=row.sender_id,
        sender_name=row.sender_name,
        text=row.text,
        room_id=row.room_id,
        room_topic=row.room_topic,
        mentioned_bot=row.mentioned,
        kind=row.kind,  # type: ignore[arg-type]
        timestamp=as_utc(row.received_at),
        media=row.media,
        transcribed_by=row.transcribed_by,
    )


def outbox_row(inbox_id: int | None, reply: Reply) -> dict:
    """A reply as storage.messages.queue_outbox takes it."""
    return {
        "inbox_id": inbox_id,
        "room_id": reply.room_id,
        "contact_id": reply.contact_id,
        "payload": reply_payload(reply),
        "not_before": reply.not_before,
    }


def inbox_fields(msg: IncomingMessage) -> dict:
    """The inbox columns for `msg`, cut to their sizes (the text is kept whole)."""
    return dict(
        message_id=msg.message_id[:200],
        room_id=msg.room_id[:200] if msg.room_id else msg.room_id,
        room_topic=(msg.room_topic or None) and msg.room_topic[:200],
        sender_id=msg.sender_id[:200],
        sender_name=msg.sender_name[:200],
        kind=msg.kind,
        mentioned=msg.mentioned_bot,
        text=msg.text,
        received_at=msg.timestamp,
        media=msg.media[:500] if msg.media else None,
        transcribed_by=msg.transcribed_by[:100] if msg.transcribed_by else None,
    )


def _safe_text(text: str | None) -> str:
    """Text a database will store: lone surrogates and NULs replaced, nothing dropped silently."""
    if not text:
        return ""
    text = text.replace("\x00", "\ufffd")
    return text.encode("utf-8", "replace").decode("utf-8")


def sanitize(msg: IncomingMessage) -> IncomingMessage:
    """The message with every string field storable (platform input can carry anything)."""
    return replace(
        msg,
        message_id=_safe_text(msg.message_id) or "empty-id",
        sender_id=_safe_text(msg.sender_id),
        sender_name=_safe_text(msg.sender_name),
        text=_safe_text(msg.text),
        room_id=_safe_text(msg.room_id) if msg.room_id is not None else None,
        room_topic=_safe_text(msg.room_topic) if msg.room_topic is not None else None,
    )


def failure_text(exc: BaseException, msg: IncomingMessage, privacy: Privacy, normalize: Callable[[str], str]) -> str:
    """What is kept and logged of a failure: the exception's type and first line, without the message's text
    (SQL parameters are hidden by the engine) and through the privacy module."""
    text = f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}"
    for body in sorted({msg.text, normalize(msg.text or ""), *(msg.text or "").splitlines()}, key=len, reverse=True):
        if body and len(body.strip()) >= 2:
            text = text.replace(body.strip(), "[消息]")
    return privacy.for_log(text)[:500]
