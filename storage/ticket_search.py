"""The web console's ticket list: filtered, searched, sorted and paged, with counts per status; distinct values
for its filter choices. Plain SQL that SQLite and PostgreSQL both run (LIKE with an escape, no dialect functions).
Nothing here commits; the scope (a staff member's communities) is always applied by the caller's Search."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Integer, cast, func, or_
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import Attachment, Ticket, TicketStatus

ESCAPE = "!"  # one character every database reads alike (a backslash is not)
SORTS = {
    "created": col(Ticket.created_at),
    "due": col(Ticket.due_at),
    "status": col(Ticket.status),
    "category": col(Ticket.category),
    "number": cast(col(Ticket.number), Integer),  # digits only: compared as integers
}


@dataclass(frozen=True, slots=True)
class Search:
    """What to list. `communities` is the reader's scope (None: every community); times are UTC bounds."""

    communities: Collection[str] | None
    statuses: Collection[str] | None = None
    category: str | None = None
    community: str | None = None
    estate: str | None = None
    assignee: str | None = None
    urgent: bool | None = None
    overdue_at: datetime | None = None  # open and due before this
    created_from: datetime | None = None  # inclusive
    created_before: datetime | None = None  # exclusive
    text: str | None = None
    numbers: Collection[str] | None = None  # only these tickets (Open311's service_request_id)


def like_pattern(text: str) -> str:
    """`text` anywhere, with LIKE's own characters taken literally (escape character: ESCAPE)."""
    escaped = text.replace(ESCAPE, ESCAPE * 2).replace("%", ESCAPE + "%").replace("_", ESCAPE + "_")
    return f"%{escaped}%"


def _where(stmt, q: Search, *, with_status: bool = True):
    if q.numbers is not None:
        stmt = stmt.where(col(Ticket.number).in_(sorted(q.numbers)))
    if q.communities is not None:
        stmt = stmt.where(col(Ticket.community).in_(sorted(q.communities)))
    if with_status and q.statuses is not None:
        stmt = stmt.where(col(Ticket.status).in_(sorted(q.statuses)))
    for column, value in (
        (Ticket.category, q.category), (Ticket.community, q.community), (Ticket.estate, q.estate),
        (Ticket.assignee, q.assignee),
    ):
        if value:
            stmt = stmt.where(col(column) == value)
    if q.urgent is not None:
        stmt = stmt.where(col(Ticket.urgent) == q.urgent)
    if q.overdue_at is not None:
        stmt = stmt.where(col(Ticket.status).in_(sorted(TicketStatus.OPEN)))
        stmt = stmt.where(col(Ticket.due_at).is_not(None), col(Ticket.due_at) < q.overdue_at)
    if q.created_from is not None:
        stmt = stmt.where(col(Ticket.created_at) >= q.created_from)
    if q.created_before is not None:
        stmt = stmt.where(col(Ticket.created_at) < q.created_before)
    if q.text:
        pattern = like_pattern(q.text)
        number = q.text.lstrip("#＃").strip().lstrip("0")
        stmt = stmt.where(
            or_(
                col(Ticket.number) == number,
                *(
                    func.lower(col(c)).like(pattern.lower(), escape=ESCAPE)
                    for c in (Ticket.number, Ticket.summary, Ticket.text, Ticket.estate, Ticket.building, Ticket.assignee)
                ),
            )
        )
    return stmt


async def search(
    session: AsyncSession, q: Search, *, sort: str = "created", descending: bool = True, limit: int = 50,
    offset: int = 0,
) -> tuple[Sequence[Ticket], int]:
    """One page of tickets and how many match in all."""
    return await rows(session, q, sort=sort, descending=descending, limit=limit, offset=offset), await count(session, q)


async def rows(
    session: AsyncSession, q: Search, *, sort: str = "created", descending: bool = True, limit: int = 50,
    offset: int = 0,
) -> Sequence[Ticket]:
    """The tickets `q` matches, in order, without counting them all."""
    key = SORTS.get(sort, SORTS["created"])
    order = [key.desc() if descending else key.asc(), col(Ticket.id).desc() if descending else col(Ticket.id).asc()]
    if sort == "due":  # tickets without a due date last, either way
        order.insert(0, col(Ticket.due_at).is_(None))
    stmt = _where(select(Ticket), q).order_by(*order).offset(max(0, offset)).limit(limit)
    return (await session.exec(stmt)).all()


async def count(session: AsyncSession, q: Search) -> int:
    return int((await session.exec(_where(select(func.count()).select_from(Ticket), q))).one())


async def status_counts(session: AsyncSession, q: Search) -> dict[str, int]:
    """{status: how many} for everything `q` matches but its status filter."""
    stmt = _where(select(Ticket.status, func.count()).select_from(Ticket), q, with_status=False)
    rows = (await session.exec(stmt.group_by(col(Ticket.status)))).all()
    return {status: int(n) for status, n in rows}


async def choices(session: AsyncSession, communities: Collection[str] | None) -> dict[str, list[str]]:
    """The estates, assignees and communities that occur in the scope's tickets, sorted."""
    out: dict[str, list[str]] = {}
    for name, column in (("estate", Ticket.estate), ("assignee", Ticket.assignee), ("community", Ticket.community)):
        stmt = select(col(column)).where(col(column).is_not(None), col(column) != "").distinct()
        if communities is not None:
            stmt = stmt.where(col(Ticket.community).in_(sorted(communities)))
        out[name] = sorted(str(v) for v in (await session.exec(stmt)).all())
    return out


async def attachment(session: AsyncSession, ticket_id: int, attachment_id: int) -> Attachment | None:
    """One of a ticket's attachments (None when that id is another ticket's)."""
    stmt = select(Attachment).where(Attachment.id == attachment_id, Attachment.ticket_id == ticket_id)
    return (await session.exec(stmt)).first()
