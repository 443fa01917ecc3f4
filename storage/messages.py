"""The message pipeline's tables: the inbox (every message, before anything is done with it) and the outbox
(every reply, committed with the handling that caused it). Nothing here commits.

These run for every message, so their statements are built once (see storage/core.py).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, delete, insert, or_, select, update
from sqlmodel import col
from sqlmodel import select as orm_select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage import core
from storage.core import connection, for_dialect, insert_ignoring
from storage.models import Inbox, InboxStatus, Outbox, utcnow

_INBOX = Inbox.__table__
_OUTBOX = Outbox.__table__
_UNHANDLED = [InboxStatus.PENDING, InboxStatus.FAILED]

# ---------------------------------------------------------------- inbox

_RECORD = {
    name: stmt.returning(_INBOX.c.id, _INBOX.c.message_id)
    for name, stmt in insert_ignoring(_INBOX, ["message_id"]).items()
}
_STORED = select(_INBOX.c.id, _INBOX.c.message_id, _INBOX.c.status).where(
    _INBOX.c.message_id.in_(bindparam("ids", expanding=True))
)
_CLAIM = (
    update(_INBOX)
    .where(_INBOX.c.id.in_(bindparam("ids", expanding=True)))
    .where(_INBOX.c.status.in_(_UNHANDLED))
    .values(processed_at=bindparam("now"))
    .returning(_INBOX.c.id)
)
_FINISH = (
    update(_INBOX)
    .where(_INBOX.c.id == bindparam("b_id"))
    .values(status=bindparam("b_status"), intent=bindparam("b_intent"), ticket_number=bindparam("b_ticket"), error=None)
)
_FAIL = (
    update(_INBOX)
    .where(_INBOX.c.id == bindparam("b_id"))
    .values(
        status=InboxStatus.FAILED, error=bindparam("b_error"), processed_at=bindparam("now"), attempts=_INBOX.c.attempts + 1
    )
)


async def record_many(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> dict[str, tuple[int, str, bool]]:
    """Store a batch of incoming messages once each (group commit).

    Returns {message_id: (inbox id, status, created)}; a redelivered id keeps its stored row and status.
    """
    now = utcnow()
    fresh: dict[str, dict[str, Any]] = {}
    for r in rows:
        fresh.setdefault(
            r["message_id"],
            {**r, "received_at": r.get("received_at") or now, "status": InboxStatus.PENDING, "attempts": 0},
        )
    # Insert-or-ignore: an id stored before (a redelivery, or another process a moment ago) returns no row.
    conn = await connection(session)
    created = {mid: iid for iid, mid in (await conn.execute(for_dialect(_RECORD, conn), list(fresh.values()))).all()}
    out = {mid: (iid, InboxStatus.PENDING, True) for mid, iid in created.items()}
    known = [mid for mid in fresh if mid not in created]
    if known:
        for iid, mid, status in (await conn.execute(_STORED, {"ids": known})).all():
            out[mid] = (iid, status, False)
    return out


async def record_incoming(session: AsyncSession, **fields: Any) -> tuple[Inbox, bool]:
    """Store one incoming message once; returns (row, created). A redelivered id returns the stored row."""
    stored = await record_many(session, [fields])
    inbox_id, _status, created = stored[fields["message_id"]]
    row = await session.get(Inbox, inbox_id)
    assert row is not None
    return row, created


async def claim_inbox(session: AsyncSession, inbox_ids: Sequence[int]) -> set[int]:
    """Lock the still-unhandled rows among `inbox_ids` for this transaction; returns the ids claimed.

    A row another process has finished (or is finishing: PostgreSQL makes this wait for its commit) is
    not returned, so two instances never handle the same message twice.
    """
    if not inbox_ids:
        return set()
    conn = await connection(session)
    result = await conn.execute(_CLAIM, {"ids": list(inbox_ids), "now": utcnow()})
    return {row[0] for row in result.all()}


async def finish_many(session: AsyncSession, outcomes: Sequence[dict[str, Any]]) -> None:
    """Mark handled rows: each dict has inbox_id, status, intent, ticket_number."""
    if not outcomes:
        return
    params = [
        {"b_id": o["inbox_id"], "b_status": o["status"], "b_intent": o.get("intent"), "b_ticket": o.get("ticket_number")}
        for o in outcomes
    ]
    await core.run(session, _FINISH, params)


async def fail_inbox(session: AsyncSession, inbox_id: int, error: str) -> None:
    """Keep a message whose handling failed: status failed, the error, one more attempt counted."""
    await core.run(session, _FAIL, {"b_id": inbox_id, "b_error": error, "now": utcnow()})


async def record_heard(
    session: AsyncSession, inbox_id: int, *, text: str | None, transcribed_by: str | None, media: str | None
) -> None:
    """What listening to a voice message gave: its transcript as the row's text, marked with who made it
    (when there is one), and the recording staff can play (a WAV decoded from the SILK received)."""
    values: dict[str, Any] = {}
    if text is not None:
        values.update(text=text, transcribed_by=(transcribed_by or "stt")[:100])
    if media:
        values["media"] = media[:500]
    if values:
        conn = await connection(session)
        await conn.execute(update(_INBOX).where(_INBOX.c.id == inbox_id).values(**values))


async def pending_inbox(session: AsyncSession, *, limit: int = 500, max_attempts: int = 5) -> Sequence[Inbox]:
    """Messages stored but not yet handled (after a crash), oldest first; failed ones are retried too."""
    stmt = (
        orm_select(Inbox)
        .where(col(Inbox.status).in_(_UNHANDLED))
        .where(Inbox.attempts < max_attempts)
        .order_by(col(Inbox.id))
        .limit(limit)
    )
    return (await session.exec(stmt)).all()


async def failed_inbox(session: AsyncSession, *, limit: int = 50) -> Sequence[Inbox]:
    stmt = orm_select(Inbox).where(Inbox.status == InboxStatus.FAILED).order_by(col(Inbox.id).desc()).limit(limit)
    return (await session.exec(stmt)).all()


# ---------------------------------------------------------------- retention

# Messages whose text is kept: reports (the ticket points at them), and those held for staff (over a limit:
# "limited"; waiting for review, 待确认: "review"). Everything else is chat, and loses its text after the
# retention period.
KEPT_INTENTS = ("report", "limited", "review")
_SETTLED = [InboxStatus.DONE, InboxStatus.IGNORED]


async def purge_chat(session: AsyncSession, *, before: datetime, after_id: int = 0, limit: int = 5000) -> tuple[int, int]:
    """Clear the text, sender name and room name of up to `limit` handled chat messages received before `before`
    (the row and its message id stay: a redelivery is still recognised). Returns (rows cleared, last id seen);
    call again with `after_id` until no rows are cleared."""
    ids_stmt = (
        select(_INBOX.c.id)
        .where(_INBOX.c.id > after_id)
        .where(_INBOX.c.received_at < before)
        .where(_INBOX.c.status.in_(_SETTLED))
        .where(or_(_INBOX.c.intent.is_(None), _INBOX.c.intent.not_in(KEPT_INTENTS)))
        .where(or_(_INBOX.c.text != "", _INBOX.c.sender_name != ""))
        .order_by(_INBOX.c.id)
        .limit(limit)
    )
    conn = await connection(session)
    ids = [r[0] for r in (await conn.execute(ids_stmt)).all()]
    if not ids:
        return 0, after_id
    await conn.execute(
        update(_INBOX).where(_INBOX.c.id.in_(ids)).values(text="", sender_name="", sender_id="", room_topic=None)
    )
    return len(ids), ids[-1]


async def purge_outbox(session: AsyncSession, *, before: datetime) -> int:
    """Delete replies sent before `before` (what they said is in the tickets; nothing reads them again)."""
    conn = await connection(session)
    result = await conn.execute(delete(_OUTBOX).where(_OUTBOX.c.sent_at.is_not(None)).where(_OUTBOX.c.sent_at < before))
    return int(result.rowcount or 0)


async def held_messages(session: AsyncSession, *, limit: int = 50) -> Sequence[Inbox]:
    """Messages kept for staff instead of being filed (over a limit), newest first."""
    stmt = orm_select(Inbox).where(Inbox.intent == "limited").order_by(col(Inbox.id).desc()).limit(limit)
    return (await session.exec(stmt)).all()


# ---------------------------------------------------------------- outbox

_QUEUE = insert(_OUTBOX).returning(_OUTBOX.c.id)
_QUEUE_ORDERED = insert(_OUTBOX).returning(_OUTBOX.c.id, sort_by_parameter_order=True)
_SENT = update(_OUTBOX).where(_OUTBOX.c.id.in_(bindparam("ids", expanding=True))).values(sent_at=bindparam("now"))


async def queue_outbox(
    session: AsyncSession, rows: Sequence[dict[str, Any]], *, owner: str | None = None, until: datetime | None = None
) -> list[int]:
    """Queue replies in one statement; returns their ids in the order given (the order they will be sent).

    Each dict has inbox_id, room_id, contact_id, payload (a dict) and not_before. With `owner`, the rows due
    now are claimed by it until `until` (it sends them right after the commit; no other instance will).
    """
    if not rows:
        return []
    now = utcnow()
    params = [
        {
            "inbox_id": r["inbox_id"],
            "room_id": r["room_id"],
            "contact_id": r["contact_id"],
            "payload": json.dumps(r["payload"], ensure_ascii=False),
            "created_at": now,
            "not_before": r.get("not_before"),
            "attempts": 0,
            "claimed_by": owner if r.get("not_before") is None else None,
            "claimed_until": until if r.get("not_before") is None else None,
        }
        for r in rows
    ]
    conn = await connection(session)
    if conn.dialect.name != "sqlite":  # PostgreSQL: SQLAlchemy orders RETURNING itself, in one statement
        return [row[0] for row in (await conn.execute(_QUEUE_ORDERED, params)).all()]
    # SQLite would fall back to one INSERT per row for sort_by_parameter_order. It needs no help: this
    # transaction holds the only write lock (the inbox claim came first) and SQLite gives each row of a
    # multi-row INSERT the next rowid in turn, so the ids, sorted, are in the order given.
    ids = sorted(row[0] for row in (await conn.execute(_QUEUE, params)).all())
    if len(ids) != len(params):
        raise RuntimeError(f"outbox insert returned {len(ids)} ids for {len(params)} rows")
    return ids


async def unsent_outbox(session: AsyncSession, *, now: datetime, limit: int = 200) -> Sequence[Outbox]:
    stmt = (
        orm_select(Outbox)
        .where(col(Outbox.sent_at).is_(None))
        .where((col(Outbox.not_before).is_(None)) | (col(Outbox.not_before) <= now))
        .order_by(col(Outbox.id))
        .limit(limit)
    )
    return (await session.exec(stmt)).all()


def _claimable(now: Any, owner: str) -> Any:
    c = _OUTBOX.c
    return (
        c.sent_at.is_(None)
        & (c.not_before.is_(None) | (c.not_before <= now))
        & (c.claimed_until.is_(None) | (c.claimed_until <= now) | (c.claimed_by == owner))
    )


async def claim_outbox(
    session: AsyncSession, *, owner: str, now: datetime, until: datetime, limit: int = 10
) -> list[Outbox]:
    """Claim the oldest unsent replies that are due and nobody else holds (or whose holder's claim lapsed), in
    one UPDATE; returns them in sending order. On PostgreSQL rows another instance is claiming are skipped
    (FOR UPDATE SKIP LOCKED), on SQLite the single writer serialises claims: never two owners at once."""
    c = _OUTBOX.c
    due = select(c.id).where(_claimable(now, owner)).order_by(c.id).limit(limit).with_for_update(skip_locked=True)
    stmt = (
        update(_OUTBOX)
        .where(c.id.in_(due.scalar_subquery()))
        .where(_claimable(now, owner))
        .values(claimed_by=owner, claimed_until=until)
        .returning(c.id)
    )
    conn = await connection(session)
    ids = sorted(r[0] for r in (await conn.execute(stmt)).all())
    if not ids:
        return []
    got = await session.exec(orm_select(Outbox).where(col(Outbox.id).in_(ids)).order_by(col(Outbox.id)))
    return list(got.all())


async def release_outbox(session: AsyncSession, ids: Sequence[int], *, owner: str) -> None:
    """Give up claims not used (a send failed before them): any instance may send them at once."""
    if ids:
        c = _OUTBOX.c
        conn = await connection(session)
        await conn.execute(
            update(_OUTBOX)
            .where(c.id.in_(list(ids)), c.claimed_by == owner, c.sent_at.is_(None))
            .values(claimed_by=None, claimed_until=None)
        )


async def defer_outbox(session: AsyncSession, outbox_id: int, *, owner: str, until: datetime) -> int:
    """A reply the platform refused: count the attempt and let nobody retry it before `until`. Returns the
    attempts so far."""
    c = _OUTBOX.c
    conn = await connection(session)
    got = (
        await conn.execute(
            update(_OUTBOX)
            .where(c.id == outbox_id, c.sent_at.is_(None))
            .values(attempts=c.attempts + 1, claimed_by=None, claimed_until=until)
            .returning(c.attempts)
        )
    ).all()
    return got[0][0] if got else 0


async def mark_outbox_sent(session: AsyncSession, ids: Sequence[int]) -> None:
    if ids:
        conn = await connection(session)
        await conn.execute(_SENT, {"ids": list(ids), "now": utcnow()})
