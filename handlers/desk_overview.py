"""概览 on the web console: a month's numbers and rates (the digest's own, from build_digest), by category and
estate, estate × category, the tickets overdue now, and last month's digest with its chart and spreadsheet
made on request by the digest's renderers. Every read is scoped to the staff member's communities and runs on
the report sessions (long reads off the bot's loop)."""

from __future__ import annotations

import asyncio
import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from handlers.context import Actor
from handlers.digest import Breakdown, DigestContent, build_digest, pct, place_label, problem_of
from handlers.digest_render import file_stem, write_chart, write_xlsx
from storage import console_reads, digest_rows, repo
from storage import digest_queries as q
from storage.models import as_utc

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import async_sessionmaker
    from sqlmodel.ext.asyncio.session import AsyncSession

    from nlp.privacy import Privacy
    from nlp.types import Taxonomy

_MONTH = re.compile(r"^\d{4}-\d{2}$")
HEAT_LEVELS = 4
ALL = ""  # the community picker's value for the whole subdistrict (admins only)

# How Totals computes each rate (storage/digest_queries.py), said for the committee.
RATE_DEFINITIONS = {
    "响应率": "本月收到的诉求中，一天内有工作人员处理（派单、签收、处理、办结、驳回等）的所占比例。",
    "解决率": "本月收到的诉求中已办结的所占比例；驳回（不属本社区）和合并（重复）的不计入分母。",
    "满意率": "本月办结并已回访的工单中，回答满意或基本满意的所占比例。",
}


class OverviewError(Exception):
    """A month or community the staff member may not ask for (Chinese, for the page); `status` 400 or 403."""

    def __init__(self, text: str, *, status: int = 400) -> None:
        super().__init__(text)
        self.status = status


@dataclass(frozen=True, slots=True)
class Rate:
    name: str
    value: str  # "85%" or "—"
    parts: str  # "17/20"
    definition: str
    fraction: float | None


@dataclass(frozen=True, slots=True)
class Overdue:
    number: str
    title: str
    place: str
    community: str
    days: int


@dataclass(slots=True)
class Heat:
    estates: list[str]
    categories: list[str]  # names
    rows: list[list[tuple[int, int]]]  # per estate, per category: (count, level 0..HEAT_LEVELS)


@dataclass(slots=True)
class DigestSummary:
    period: str
    words: str
    received: int
    resolved: int
    open: int
    overdue: int
    rates: list[Rate]
    sent: list[tuple[str, datetime | None]]  # (target, sent at)


@dataclass(slots=True)
class OverviewView:
    month: str
    words: str
    previous: str
    following: str | None
    community: str | None  # None: every community the staff member sees
    scope: str
    received: int
    open: int
    resolved: int
    overdue_count: int
    median_days: float | None
    rates: list[Rate]
    by_category: list[Breakdown]
    by_estate: list[Breakdown]
    heat: Heat
    overdue: list[Overdue]
    last: DigestSummary
    hot: list[str] = field(default_factory=list)


def rates_of(t: q.Totals) -> list[Rate]:
    answered = t.satisfied + t.unsatisfied
    return [
        Rate("响应率", pct(t.response_rate), f"{t.responded}/{t.received}", RATE_DEFINITIONS["响应率"], t.response_rate),
        Rate("解决率", pct(t.resolution_rate), f"{t.solved}/{t.to_solve}", RATE_DEFINITIONS["解决率"], t.resolution_rate),
        Rate("满意率", pct(t.satisfaction_rate), f"{t.satisfied}/{answered}", RATE_DEFINITIONS["满意率"],
             t.satisfaction_rate),
    ]


def heat_level(n: int, top: int) -> int:
    """0 for none, else 1..HEAT_LEVELS by the share of the largest cell."""
    if n <= 0 or top <= 0:
        return 0
    return max(1, min(HEAT_LEVELS, -(-n * HEAT_LEVELS // top)))


class OverviewMixin:
    """Desk's overview reads (Desk provides these attributes)."""

    report_sessions: async_sessionmaker[AsyncSession]
    taxonomy: Taxonomy
    privacy: Privacy
    tz: ZoneInfo
    clock: Callable[[], datetime]

    def _now(self) -> datetime:
        return as_utc(self.clock())

    def this_month(self) -> str:
        return self._now().astimezone(self.tz).strftime("%Y-%m")

    def overview_scope(self, actor: Actor, wanted: str | None) -> str | None:
        """The one community to read (None: the whole subdistrict, for those who see every community)."""
        wanted = (wanted or "").strip()
        if actor.communities is None:
            return wanted or None
        mine = sorted(actor.communities)
        if not mine:
            raise OverviewError("您的账号没有负责的社区。", status=403)
        if not wanted:
            return mine[0]
        if wanted not in actor.communities:
            raise OverviewError("您只能查看自己负责的社区。", status=403)
        return wanted

    def _period(self, label: str | None) -> q.Period:
        label = (label or "").strip() or self.this_month()
        if not _MONTH.match(label):
            raise OverviewError("月份请写成 2026-12 这样。")
        try:
            return q.parse_period(label, self.tz.key)
        except ValueError:
            raise OverviewError("没有这个月份。") from None

    async def _digest(self, session: AsyncSession, p: q.Period, community: str | None) -> DigestContent:
        return await build_digest(
            session, period=p, taxonomy=self.taxonomy, community=community, tz=self.tz.key, now=self._now(),
            privacy=self.privacy,
        )

    async def overview(self, actor: Actor, *, month: str | None = None, community: str | None = None) -> OverviewView:
        if not actor.is_staff:
            raise OverviewError("只有工作人员可以查看概览。", status=403)
        p = self._period(month)
        scope = self.overview_scope(actor, community)
        now = self._now()
        if p.start > now:
            raise OverviewError("这个月还没到。")
        async with self.report_sessions() as session:
            c = await self._digest(session, p, scope)
            last = await self._digest(session, p.previous(self.tz.key), scope)
            heat = await self._heat(session, p, scope, c)
            overdue = await self._overdue(session, actor, scope, now)
            sent = await console_reads.digests_for(session, last.period.label, community=scope or "")
        after = q.parse_period(_next_label(p.label), self.tz.key)
        nxt_label = after.label if after.start <= now else None
        t = c.totals
        lt = last.totals
        return OverviewView(
            month=p.label, words=c.period_words, previous=c.previous.label, following=nxt_label,
            community=scope, scope=c.scope, received=t.received, open=t.open, resolved=t.resolved,
            overdue_count=t.overdue, median_days=t.median_days, rates=rates_of(t),
            by_category=[r for r in c.by_category if r.now or r.prev], by_estate=[r for r in c.by_estate if r.now or r.prev],
            heat=heat, overdue=overdue,
            last=DigestSummary(
                period=last.period.label, words=last.period_words, received=lt.received, resolved=lt.resolved,
                open=lt.open, overdue=lt.overdue, rates=rates_of(lt),
                sent=[(d.target, d.sent_at) for d in sent if d.sent_at is not None],
            ),
            hot=[h.title() for h in c.hot],
        )

    async def _heat(self, session: AsyncSession, p: q.Period, scope: str | None, c: DigestContent) -> Heat:
        counts = await console_reads.estate_category_counts(session, p, community=scope)
        estates = [r.name for r in c.by_estate if r.now]
        codes = [code for code in self.taxonomy.codes() if any(k[1] == code for k in counts)]
        top = max(counts.values(), default=0)
        rows = [[(n, heat_level(n, top)) for n in (counts.get((e, code), 0) for code in codes)] for e in estates]
        return Heat(estates=estates, categories=[self.taxonomy.name_of(code) for code in codes], rows=rows)

    async def _overdue(self, session: AsyncSession, actor: Actor, scope: str | None, now: datetime) -> list[Overdue]:
        communities = [scope] if scope else (None if actor.communities is None else sorted(actor.communities))
        out = []
        for t in await repo.find_tickets(session, overdue_at=now, communities=communities, limit=200):
            if not actor.may_handle(t.community):
                continue
            due = as_utc(t.due_at) or now
            out.append(
                Overdue(
                    number=t.number, title=self.privacy.for_people(problem_of(t.summary)) or self.taxonomy.name_of(t.category),
                    place=place_label(t.estate, t.building), community=t.community or "", days=(now - due).days + 1,
                )
            )
        return out

    async def digest_file(self, actor: Actor, period: str, kind: str, *, community: str | None = None) -> tuple[str, bytes]:
        """A digest's chart (png) or spreadsheet (xlsx), made now by the digest's renderers: (file name, bytes)."""
        if not actor.is_staff:
            raise OverviewError("只有工作人员可以下载月报。", status=403)
        if kind not in ("png", "xlsx"):
            raise OverviewError("只有图表（png）和表格（xlsx）。")
        p = self._period(period)
        scope = self.overview_scope(actor, community)
        with tempfile.TemporaryDirectory(prefix="linju-digest-") as tmp:
            async with self.report_sessions() as session:
                content = await self._digest(session, p, scope)
                path = Path(tmp) / f"{file_stem(content)}.{kind}"
                if kind == "png":
                    await asyncio.to_thread(write_chart, content, path)
                else:
                    rows = digest_rows.period_tickets(session, content.period, community=content.community)
                    await write_xlsx(content, path, rows, taxonomy=self.taxonomy, privacy=self.privacy)
            return path.name, await asyncio.to_thread(path.read_bytes)


def _next_label(label: str) -> str:
    year, month = (int(x) for x in label.split("-"))
    return f"{year + (month == 12)}-{month % 12 + 1:02d}"
