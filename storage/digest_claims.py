"""The digest's exactly-once record: one row per period, target room and community, claimed before sending.

A run claims the row (insert, or take over a stale or released claim by compare-and-set on its attempt counter),
sends, then marks it sent with the same token; a failed send releases the claim so the next run retries.
Nothing here commits: the caller owns the transaction.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import Digest, as_utc

RELEASED = datetime(1970, 1, 1, tzinfo=UTC)  # a claim given up after a failed send: free to take at once


async def insert_claim(
    session: AsyncSession, *, period: str, target: str, community: str, now: datetime
) -> bool:
    """Create the digest row as a claim; False if it already exists (another run or process has it).

    On PostgreSQL a concurrent insert of the same key waits for the first transaction and then does
    nothing; on SQLite the single writer lock serialises the two.
    """
    table = Digest.__table__
    ins = postgresql.insert(table) if session.bind is not None and session.bind.dialect.name == "postgresql" else sqlite.insert(table)
    stmt = ins.values(period=period, target=target, community=community, claimed_at=as_utc(now), attempts=1)
    result = await session.exec(stmt.on_conflict_do_nothing(index_elements=["period", "target", "community"]))
    return (result.rowcount or 0) == 1


async def get_claim(session: AsyncSession, *, period: str, target: str, community: str) -> Digest | None:
    stmt = select(Digest).where(
        Digest.period == period, Digest.target == target, Digest.community == community
    )
    row = (await session.exec(stmt)).first()
    if row is not None:
        row.claimed_at = as_utc(row.claimed_at)
        row.sent_at = as_utc(row.sent_at)
    return row


async def reclaim(
    session: AsyncSession, digest_id: int, *, token: int, now: datetime, resend: bool = False
) -> bool:
    """Take over a claim whose attempt counter is still `token` (compare-and-set): exactly one caller wins."""
    d = Digest.__table__.c
    stmt = update(Digest.__table__).where(d.id == digest_id, d.attempts == token)
    if not resend:
        stmt = stmt.where(d.sent_at.is_(None))
    values: dict = dict(attempts=token + 1, claimed_at=as_utc(now), error=None)
    if resend:
        values["parts_sent"] = 0
    result = await session.exec(stmt.values(**values))
    return (result.rowcount or 0) == 1


async def mark_sent(
    session: AsyncSession, digest_id: int, *, token: int, now: datetime, content_hash: str
) -> bool:
    d = Digest.__table__.c
    stmt = (
        update(Digest.__table__)
        .where(d.id == digest_id, d.attempts == token)
        .values(sent_at=as_utc(now), content_hash=content_hash, error=None)
    )
    return ((await session.exec(stmt)).rowcount or 0) == 1


async def release_claim(session: AsyncSession, digest_id: int, *, token: int, error: str) -> None:
    """Record a failed send and free the claim, so the next run retries it (the row stays unsent)."""
    d = Digest.__table__.c
    await session.exec(
        update(Digest.__table__)
        .where(d.id == digest_id, d.attempts == token, d.sent_at.is_(None))
        .values(claimed_at=RELEASED, error=error[:2000])
    )


async def mark_parts(session: AsyncSession, digest_id: int, *, token: int, parts: int) -> None:
    """Record that the first `parts` parts of the digest went out (under this claim)."""
    d = Digest.__table__.c
    await session.exec(
        update(Digest.__table__).where(d.id == digest_id, d.attempts == token).values(parts_sent=parts)
    )
