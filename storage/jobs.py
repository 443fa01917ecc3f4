"""Scheduled jobs run once per key across instances: the run's row is inserted in the transaction that does the
run's work (queues its messages), so exactly one instance's insert wins and a failed run leaves no row."""

from __future__ import annotations

from datetime import datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from storage.core import connection, for_dialect, insert_ignoring
from storage.models import JobRun, as_utc

_CLAIM = insert_ignoring(JobRun.__table__, ["name", "key"])


async def claim_run(session: AsyncSession, *, name: str, key: str, owner: str, now: datetime) -> bool:
    """True if this transaction is the one to run job `name` for `key` (e.g. the overdue reminder of a day).

    On PostgreSQL a second instance's insert of the same key waits for the first transaction, then does
    nothing; on SQLite the single writer serialises them."""
    conn = await connection(session)
    stmt = for_dialect(_CLAIM, conn).values(name=name, key=key[:60], claimed_by=owner[:200], claimed_at=as_utc(now))
    return ((await conn.execute(stmt)).rowcount or 0) == 1
