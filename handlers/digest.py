"""The committee digest: what happened in a period (numbers, hot issues, oldest open, thanks), as a phone text."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from sqlmodel.ext.asyncio.session import AsyncSession

from nlp.privacy import Privacy
from nlp.similarity import similarity
from nlp.types import Taxonomy
from storage import digest_queries as q
from storage.models import as_utc

WHOLE = "全街道"
HOT_SIMILARITY = 0.5
HOT_MIN_REPORTS = 3


def place_label(estate: str | None, building: str | None) -> str:
    parts = [estate or "", f"{building}栋" if building else ""]
    return " ".join(p for p in parts if p)


def problem_of(summary: str) -> str:
    """The problem part of a ticket title ("4栋 下水道堵塞" → "下水道堵塞"); titles put the place first."""
    head, sep, tail = summary.partition(" ")
    return tail.strip() if sep and tail.strip() else summary.strip()


# ---------------------------------------------------------------- content


@dataclass(frozen=True, slots=True)
class Breakdown:
    """One row of a count table: this period against the last."""

    name: str
    now: int
    prev: int

    @property
    def change(self) -> int:
        return self.now - self.prev


@dataclass(slots=True)
class HotIssue:
    problem: str
    category: str
    places: list[str] = field(default_factory=list)
    reports: int = 0
    tickets: int = 0
    open: int = 0  # of its tickets, still being handled

    def title(self) -> str:
        shown = "、".join(self.places[:3]) or "多处"
        more = f"等{len(self.places)}处" if len(self.places) > 3 else ""
        return f"{self.problem}（{self.category}）：{shown}{more}，共{self.reports}次反映"


@dataclass(frozen=True, slots=True)
class OldTicket:
    number: str
    category: str
    place: str
    summary: str
    days_open: int
    overdue: bool


@dataclass(slots=True)
class DigestContent:
    """Everything a digest says, in every form; no personal data beyond relaying leaders' display names."""

    period: q.Period
    previous: q.Period
    scope: str
    community: str | None
    totals: q.Totals
    prev_totals: q.Totals
    by_category: list[Breakdown]
    by_community: list[Breakdown]
    by_estate: list[Breakdown]
    by_area: list[Breakdown]
    by_group: list[Breakdown]
    hot: list[HotIssue]
    oldest: list[OldTicket]
    relayers: list[tuple[str, int]]
    generated_at: datetime
    timezone: str = "Asia/Shanghai"
    top: HotIssue | None = None  # 本月一题

    @property
    def period_words(self) -> str:
        p = self.period
        if p.kind == "month":
            return f"{p.first_day.year}年{p.first_day.month}月"
        return f"{p.first_day.month}月{p.first_day.day}日—{p.last_day.month}月{p.last_day.day}日"

    @property
    def kind_words(self) -> str:
        return "月" if self.period.kind == "month" else "周"


def _breakdown(
    now: dict[str, int], prev: dict[str, int], *, order: list[str] | None = None, names=None
) -> list[Breakdown]:
    """Rows for every key seen in either period, largest now first (ties in configured order)."""
    rank = {k: i for i, k in enumerate(order or [])}
    keys = sorted(
        set(now) | set(prev), key=lambda k: (-now.get(k, 0), rank.get(k, len(rank)), -prev.get(k, 0), k)
    )
    return [Breakdown(names(k) if names else k, now.get(k, 0), prev.get(k, 0)) for k in keys]


def group_hot_issues(
    groups: list[q.ProblemGroup],
    taxonomy: Taxonomy,
    *,
    limit: int = 5,
    privacy: Privacy | None = None,
    top_only: bool = False,
) -> list[HotIssue]:
    """Merge same-category groups of one estate whose problems read alike (every estate has a 4栋: a problem in
    two estates is two problems); keep those reported again and again or in several buildings, most reports
    first."""
    privacy = privacy or Privacy()
    clusters: list[tuple[tuple[str, str | None], HotIssue]] = []  # ((category code, estate), issue)
    for g in groups:
        problem = privacy.for_people(problem_of(g.summary)) or taxonomy.name_of(g.category)
        place = place_label(g.estate, g.building)
        target = None
        for key, issue in clusters:
            if key == (g.category, g.estate) and (
                issue.problem == problem or similarity(issue.problem, problem) >= HOT_SIMILARITY
            ):
                target = issue
                break
        if target is None:
            target = HotIssue(problem=problem, category=taxonomy.name_of(g.category))
            clusters.append(((g.category, g.estate), target))
        if place and place not in target.places:
            target.places.append(place)
        target.reports += g.reports
        target.tickets += g.tickets
        target.open += g.open
    ranked = sorted((i for _, i in clusters), key=lambda i: (-i.reports, -len(i.places), i.problem))
    if top_only:
        return ranked[:1] if ranked and ranked[0].reports >= 2 else []
    return [i for i in ranked if i.reports >= HOT_MIN_REPORTS or len(i.places) >= 2][:limit]


async def build_digest(
    session: AsyncSession,
    *,
    period: str | q.Period,
    taxonomy: Taxonomy,
    community: str | None = None,
    tz: str = "Asia/Shanghai",
    now: datetime | None = None,
    privacy: Privacy | None = None,
) -> DigestContent:
    """Compute a digest's content for one community (or the whole subdistrict when None).

    Every summary goes through the privacy module; relaying leaders are thanked by their display name
    without the phone or room number nicknames carry."""
    privacy = privacy or Privacy()
    p = q.parse_period(period, tz) if isinstance(period, str) else period
    prev = p.previous(tz)
    # The state of open tickets is as of now for a period not over yet, as of its end for a past one.
    now = now or datetime.now(UTC)
    asof = min(as_utc(now), p.end)
    cur_totals = await q.totals(session, p, community=community, asof=asof)
    prev_totals = await q.totals(session, prev, community=community)

    async def by(column: str, names=None, order=None) -> list[Breakdown]:
        a = await q.received_by(session, p, column, community=community)
        b = await q.received_by(session, prev, column, community=community)
        return _breakdown(a, b, names=names, order=order)

    by_category = await by("category", names=taxonomy.name_of, order=list(taxonomy.codes()))
    by_community = [] if community else await by("community")
    by_estate = await by("estate")
    by_area = await by("area")
    by_group = await by("grp")
    groups = await q.problem_groups(session, p, community=community)
    hot = group_hot_issues(groups, taxonomy, privacy=privacy)
    # 本月一题: the problem reported most (at least twice), with where and how far it has got.
    top = next(iter(group_hot_issues(groups, taxonomy, privacy=privacy, top_only=True)), None)
    oldest = []
    for t in await q.oldest_open(session, p, community=community, asof=asof):
        oldest.append(
            OldTicket(
                number=t.number,
                category=taxonomy.name_of(t.category),
                place=place_label(t.estate, t.building) or (t.community or ""),
                summary=privacy.for_people(problem_of(t.summary)),
                days_open=max(0, (asof - as_utc(t.created_at)).days),
                overdue=bool(t.due_at and as_utc(t.due_at) < asof),
            )
        )
    relayers = [
        (n, c)
        for n, c in ((privacy.display_name(n), c) for n, c in await q.top_relayers(session, p, community=community))
        if n
    ]
    return DigestContent(
        period=p,
        previous=prev,
        scope=community or WHOLE,
        community=community,
        totals=cur_totals,
        prev_totals=prev_totals,
        by_category=by_category,
        by_community=by_community,
        by_estate=by_estate,
        by_area=by_area,
        by_group=by_group,
        hot=hot,
        top=top,
        oldest=oldest,
        relayers=relayers,
        generated_at=now,
        timezone=tz,
    )


# ---------------------------------------------------------------- text


def pct(x: float | None) -> str:
    return "—" if x is None else f"{round(x * 100)}%"


def _delta(now: int, prev: int) -> str:
    d = now - prev
    if d == 0:
        return "持平"
    return f"+{d}" if d > 0 else str(d)


def _table(title: str, rows: list[Breakdown], k: int) -> list[str]:
    shown = [r for r in rows if r.now or r.prev][:k]
    if not shown:
        return []
    return [title, *(f"· {r.name} {r.now}（{_delta(r.now, r.prev)}）" for r in shown)]


def render_text(c: DigestContent, *, limit: int = 2000) -> str:
    """The WeChat message: headline numbers first, then detail, trimmed to fit one message of `limit`."""
    t, pt, unit = c.totals, c.prev_totals, c.kind_words
    head = [f"【{c.scope}·{c.period_words}诉求{'月' if unit == '月' else '周'}报】"]
    if t.received == 0 and t.open == 0 and t.resolved == 0:
        head.append(f"本{unit}没有收到新的诉求，也没有在办的工单。")
        return "\n".join(head)
    head.append(
        f"收到 {t.received} 件（上{unit} {pt.received}，{_delta(t.received, pt.received)}），办结 {t.resolved} 件；"
    )
    head.append(f"仍在办 {t.open} 件，其中超期 {t.overdue} 件。")
    median = "—" if t.median_days is None else f"{t.median_days:.1f} 天"
    answered = t.satisfied + t.unsatisfied
    apart = "、".join(f"{w} {n}" for w, n in (("驳回", t.rejected), ("合并", t.merged)) if n)
    head.append(
        f"响应率 {pct(t.response_rate)}（{t.responded}/{t.received}）｜"
        f"解决率 {pct(t.resolution_rate)}（{t.solved}/{t.to_solve}{f'，{apart} 不计' if apart else ''}）｜"
        + (f"满意率 {pct(t.satisfaction_rate)}（{t.satisfied}/{answered}）" if answered else "满意率 —（暂无回访）")
    )
    head.append(f"办结用时中位 {median}。")

    sections: list[list[str]] = []
    if c.top is not None:
        done = c.top.tickets - c.top.open
        sections.append([f"【本{unit}一题】{c.top.title()}；{done} 件已办结，{c.top.open} 件在办。"])
    if c.hot:
        sections.append(["【反复/多处反映】", *(f"{i}. {h.title()}" for i, h in enumerate(c.hot, 1))])
    sections.append(_table(f"【分类】本{unit}（较上{unit}）", c.by_category, len(c.by_category)))  # every one: they add up
    if c.oldest:
        lines = ["【等得最久的在办工单】"]
        for o in c.oldest:
            late = "，已超期" if o.overdue else ""
            lines.append(f"· #{o.number} {o.category}｜{o.place} {o.summary}，已等 {o.days_open} 天{late}")
        sections.append(lines)
    if c.relayers:
        names = "、".join(f"{n}（{k}件）" for n, k in c.relayers)
        sections.append(["【感谢转达最多的邻长】", names])
    sections.append(_table("【各社区】", c.by_community, 9))
    sections.append(_table("【小区】", c.by_estate, 6))
    sections.append(_table("【片区】", c.by_area, 6))
    sections.append(_table("【网格组】", c.by_group, 6))
    tail = ["图表和全部工单明细见随后发送的图片和 Excel 表。"]

    out = "\n".join(head)
    for s in (s for s in sections if s):
        block = "\n\n" + "\n".join(s)
        if len(out) + len(block) + len(tail[0]) + 2 > limit:
            # Drop lines from the end of the section until it fits; a section title alone is not worth it.
            while len(s) > 1 and len(out) + len("\n\n" + "\n".join(s)) + len(tail[0]) + 2 > limit:
                s = s[:-1]
            if len(s) <= 1:
                continue
            block = "\n\n" + "\n".join(s)
        out += block
    out += "\n\n" + tail[0]
    return out[:limit]


def local(dt: datetime | None, tz: str) -> datetime | None:
    return dt.astimezone(ZoneInfo(tz)) if dt else None
