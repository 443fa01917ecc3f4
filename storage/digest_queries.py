"""Digest aggregates computed in SQL (counts, GROUP BY, one median) for a period, on SQLite and PostgreSQL.

Periods are calendar months ("2026-10") or ISO weeks ("2026-W42") in the subdistrict's local time; their
boundaries are computed in that timezone and compared in UTC, which is how every timestamp is stored.
Nothing here loads ticket objects: a month over a million tickets is a few aggregate queries.
The exactly-once record of sent digests is storage/digest_claims.py; the spreadsheet's per-ticket rows are
storage/digest_rows.py.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, TypeVarTuple, cast
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, Select, and_, exists, func, literal, or_, select
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession
from sqlmodel.sql.expression import Select as SQLModelSelect

from storage.models import Inbox, Ticket, TicketEvent, TicketStatus, as_utc

T = Ticket.__table__.c
E = TicketEvent.__table__.c
# What staff (or the unit it is dispatched to: 签收) do to a ticket: its first such step answers the report
# (响应). Within a day counts as responded.
STAFF_STEPS = ("assign", "accept", "start", "resolve", "close", "reject", "merge", "reclassify", "false_positive")
RESPONSE_DAYS = 1.0
_Ts = TypeVarTuple("_Ts")


def _q(stmt: Select[*_Ts]) -> SQLModelSelect[*_Ts]:
    """A SQLAlchemy select, typed as sqlmodel's AsyncSession.exec takes it: exec runs any select, but its
    overloads name only sqlmodel's Select (a subclass adding nothing at run time). A cast: no conversion."""
    return cast("SQLModelSelect[*_Ts]", stmt)


_MONTH = re.compile(r"^(\d{4})-(\d{1,2})$")
_WEEK = re.compile(r"^(\d{4})-W(\d{1,2})$", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Period:
    """A digest period: its label, local first day, and [start, end) in UTC."""

    label: str
    kind: str  # month | week
    first_day: date
    last_day: date
    start: datetime
    end: datetime

    def previous(self, tz: str) -> Period:
        return parse_period(_label_for(self.kind, self.first_day - timedelta(days=1)), tz)


def _label_for(kind: str, day: date) -> str:
    if kind == "week":
        y, w, _ = day.isocalendar()
        return f"{y}-W{w:02d}"
    return f"{day.year}-{day.month:02d}"


def _local_midnight_utc(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)


def parse_period(label: str, tz: str = "Asia/Shanghai") -> Period:
    """ "2026-10" (a month) or "2026-W42" (an ISO week); raises ValueError for anything else."""
    zone = ZoneInfo(tz)
    label = label.strip()
    if m := _MONTH.match(label):
        year, month = int(m.group(1)), int(m.group(2))
        if not 1 <= month <= 12:
            raise ValueError(f"no month {month} in {label!r}")
        first = date(year, month, 1)
        nxt = date(year + (month == 12), month % 12 + 1, 1)
        kind = "month"
    elif m := _WEEK.match(label):
        first = date.fromisocalendar(int(m.group(1)), int(m.group(2)), 1)
        nxt = first + timedelta(days=7)
        kind = "week"
    else:
        raise ValueError(f"a period is a month like 2026-10 or a week like 2026-W42, not {label!r}")
    return Period(
        label=_label_for(kind, first),
        kind=kind,
        first_day=first,
        last_day=nxt - timedelta(days=1),
        start=_local_midnight_utc(first, zone),
        end=_local_midnight_utc(nxt, zone),
    )


def period_before(day: date, kind: str, tz: str = "Asia/Shanghai") -> Period:
    """The whole period just before the one containing `day` (a digest on Nov 1 covers October)."""
    current = parse_period(_label_for(kind, day), tz)
    return current.previous(tz)


# ---------------------------------------------------------------- conditions


def _counted() -> ColumnElement[bool]:
    # A reporter's own undo means the report never was; everything else counts.
    return T.status != TicketStatus.WITHDRAWN


def _scope(community: str | None) -> ColumnElement[bool]:
    return T.community == community if community else literal(True)


def _received(p: Period) -> ColumnElement[bool]:
    return and_(T.created_at >= as_utc(p.start), T.created_at < as_utc(p.end), _counted())


def _open_at(end: datetime) -> ColumnElement[bool]:
    """Received before `end` and neither resolved nor closed before it: the state as of the period's end."""
    end = as_utc(end)
    return and_(
        T.created_at < end,
        _counted(),
        or_(T.resolved_at.is_(None), T.resolved_at >= end),
        or_(T.closed_at.is_(None), T.closed_at >= end),
    )


def _settled_by(end: datetime) -> ColumnElement[bool]:
    end = as_utc(end)
    return or_(T.resolved_at < end, T.closed_at < end)


def _days(session: AsyncSession, later, earlier) -> ColumnElement[Any]:
    if _dialect(session) == "postgresql":
        return func.extract("epoch", later - earlier) / 86400.0
    return func.julianday(later) - func.julianday(earlier)


def _dialect(session: AsyncSession) -> str:
    return session.bind.dialect.name if session.bind is not None else "sqlite"


# ---------------------------------------------------------------- aggregates


@dataclass(slots=True)
class Totals:
    received: int = 0
    resolved: int = 0
    open: int = 0
    overdue: int = 0
    received_settled: int = 0  # of those received in the period, how many were resolved/closed by its end
    median_days: float | None = None
    satisfied: int = 0
    unsatisfied: int = 0
    # Of those received in the period (as of its end, or now for a period not over yet):
    solved: int = 0  # resolved (办结)
    rejected: int = 0  # answered as not the community's (驳回), reported apart
    merged: int = 0  # joined another ticket (合并), reported apart
    responded: int = 0  # a staff step within RESPONSE_DAYS of the report

    @property
    def to_solve(self) -> int:
        """The denominator of 解决率: received, less the rejected and the merged."""
        return max(self.received - self.rejected - self.merged, 0)

    @property
    def resolution_rate(self) -> float | None:
        """解决率: solved / (received − rejected − merged)."""
        return self.solved / self.to_solve if self.to_solve else None

    @property
    def response_rate(self) -> float | None:
        """响应率: received with a staff step within a day / received."""
        return self.responded / self.received if self.received else None

    @property
    def satisfaction_rate(self) -> float | None:
        answered = self.satisfied + self.unsatisfied
        return self.satisfied / answered if answered else None


async def totals(
    session: AsyncSession, p: Period, *, community: str | None = None, asof: datetime | None = None
) -> Totals:
    """Headline numbers for one period and scope. What is open and overdue is as of `asof` when that is before
    the period's end (a digest of this month, run mid-month: overdue means overdue now, not by the 30th).

    Three queries, each reading only its own rows through an index: received in the period (created_at),
    resolved in it and still open at its end (ix_ticket_settled). One query over every ticket created before
    the period's end had taken a second per period on a million tickets (issue 9).
    """
    start, end = as_utc(p.start), as_utc(p.end)
    scope = _scope(community)
    state = min(end, as_utc(asof)) if asof is not None else end
    answered_in_time = exists().where(
        E.ticket_id == T.id, E.action.in_(STAFF_STEPS), E.at < state,
        _days(session, E.at, T.created_at) <= RESPONSE_DAYS,
    )
    received, received_settled, solved, rejected, merged, responded = (
        await session.exec(
            _q(select(
                func.count(),
                func.count().filter(_settled_by(end)),
                func.count().filter(T.resolved_at.is_not(None), T.resolved_at < state),
                func.count().filter(T.status == TicketStatus.REJECTED),
                func.count().filter(T.status == TicketStatus.DUPLICATE),
                func.count().filter(answered_in_time),
            ))
            .select_from(Ticket.__table__)
            .where(_received(p), scope)
        )
    ).one()
    resolved, satisfied, unsatisfied = (
        await session.exec(
            _q(select(
                func.count(),
                func.count().filter(T.satisfaction.in_(("satisfied", "basic"))),  # 基本满意 counts as satisfied
                func.count().filter(T.satisfaction == "unsatisfied"),
            ))
            .select_from(Ticket.__table__)
            .where(T.resolved_at >= start, T.resolved_at < end, _counted(), scope)
        )
    ).one()
    still_open, overdue = (
        await session.exec(
            _q(select(func.count(), func.count().filter(and_(T.due_at.is_not(None), T.due_at < state))))
            .select_from(Ticket.__table__)
            .where(_open_at(state), scope)
        )
    ).one()
    out = Totals(
        received=received,
        received_settled=received_settled,
        resolved=resolved,
        satisfied=satisfied,
        unsatisfied=unsatisfied,
        open=still_open,
        overdue=overdue,
        solved=solved,
        rejected=rejected,
        merged=merged,
        responded=responded,
    )
    out.median_days = await _median_days_to_resolve(session, p, community=community, n=out.resolved)
    return out


async def _median_days_to_resolve(
    session: AsyncSession, p: Period, *, community: str | None, n: int
) -> float | None:
    if n == 0:
        return None
    days = _days(session, T.resolved_at, T.created_at).label("d")
    stmt = (
        select(days)
        .select_from(Ticket.__table__)
        .where(_scope(community), T.resolved_at >= as_utc(p.start), T.resolved_at < as_utc(p.end), _counted())
        .order_by(days)
        .offset((n - 1) // 2)
        .limit(2 if n % 2 == 0 else 1)
    )
    vals = [float(v) for (v,) in (await session.exec(_q(stmt))).all()]
    return sum(vals) / len(vals) if vals else None


async def received_by(
    session: AsyncSession, p: Period, column: str, *, community: str | None = None
) -> dict[str, int]:
    """Tickets received in the period grouped by `column` (category, community, estate, area, grp)."""
    col = T[column]
    stmt = (
        select(col, func.count())
        .select_from(Ticket.__table__)
        .where(_received(p), _scope(community), col.is_not(None), col != "")
        .group_by(col)
    )
    return {k: n for k, n in (await session.exec(_q(stmt))).all()}


async def top_relayers(
    session: AsyncSession, p: Period, *, community: str | None = None, limit: int = 5
) -> list[tuple[str, int]]:
    """The neighbour leaders who relayed the most reports in the period (display names only)."""
    n = func.count().label("n")
    stmt = (
        select(T.relay_name, n)
        .select_from(Ticket.__table__)
        .where(_received(p), _scope(community), T.relay_name.is_not(None), T.relay_name != "")
        .group_by(T.relay_name)
        .order_by(n.desc(), T.relay_name)
        .limit(limit)
    )
    return [(name, c) for name, c in (await session.exec(_q(stmt))).all()]


@dataclass(frozen=True, slots=True)
class ProblemGroup:
    """Tickets with the same category, title and place: the raw material for hot issues."""

    category: str
    summary: str
    estate: str | None
    building: str | None
    tickets: int
    reports: int  # tickets plus everyone who said "me too"
    open: int = 0  # of the tickets, still being handled


async def problem_groups(
    session: AsyncSession, p: Period, *, community: str | None = None, limit: int = 400
) -> list[ProblemGroup]:
    """The most-reported (category, summary, place) groups of the period, largest first."""
    reports = func.sum(T.supporters).label("reports")
    stmt = (
        select(
            T.category, T.summary, T.estate, T.building, func.count(), reports,
            func.count().filter(T.status.in_(sorted(TicketStatus.OPEN))),
        )
        .select_from(Ticket.__table__)
        .where(_received(p), _scope(community), T.status != TicketStatus.REJECTED)
        .group_by(T.category, T.summary, T.estate, T.building)
        .order_by(reports.desc(), T.category, T.summary)
        .limit(limit)
    )
    return [
        ProblemGroup(category=c, summary=s or "", estate=e, building=b, tickets=n, reports=int(r or n), open=o)
        for c, s, e, b, n, r, o in (await session.exec(_q(stmt))).all()
    ]


@dataclass(frozen=True, slots=True)
class OpenTicket:
    number: str
    category: str
    summary: str
    community: str | None
    estate: str | None
    building: str | None
    created_at: datetime
    due_at: datetime | None
    status: str


async def oldest_open(
    session: AsyncSession, p: Period, *, community: str | None = None, limit: int = 5, asof: datetime | None = None
) -> list[OpenTicket]:
    """The tickets open at the period's end (or at `asof`, when earlier) that have waited longest."""
    state = min(as_utc(p.end), as_utc(asof)) if asof is not None else p.end
    stmt = (
        select(
            T.number,
            T.category,
            T.summary,
            T.community,
            T.estate,
            T.building,
            T.created_at,
            T.due_at,
            T.status,
        )
        .select_from(Ticket.__table__)
        .where(_open_at(state), _scope(community))
        .order_by(T.created_at, T.id)
        .limit(limit)
    )
    rows = (await session.exec(_q(stmt))).all()
    return [
        OpenTicket(
            number=r[0],
            category=r[1],
            summary=r[2] or "",
            community=r[3],
            estate=r[4],
            building=r[5],
            created_at=as_utc(r[6]),
            due_at=as_utc(r[7]),
            status=r[8],
        )
        for r in rows
    ]


async def first_activity(session: AsyncSession) -> datetime | None:
    """When the bot first recorded anything (a message or a ticket); None on an empty database."""
    # The first inbox row by id, not min(received_at): that column has no index and the scan took seconds
    # on a month of messages, every start-up (`make bench` profile, issue 21); rows are numbered as received.
    a = (await session.exec(_q(select(col(Inbox.received_at)).order_by(col(Inbox.id)).limit(1)))).scalar_one_or_none()
    b = (await session.exec(_q(select(func.min(T.created_at))))).scalar_one()
    found = [as_utc(v) for v in (a, b) if v is not None]
    return min(found) if found else None


__all__ = [
    "OpenTicket",
    "Period",
    "ProblemGroup",
    "Totals",
    "first_activity",
    "oldest_open",
    "parse_period",
    "period_before",
    "problem_groups",
    "received_by",
    "top_relayers",
    "totals",
]
