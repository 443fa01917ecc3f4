"""概览: a month's numbers and rates, by category and estate, estate × category, what is overdue now, and last
month's digest with its chart and spreadsheet (made on request by the digest's renderers)."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import Response

from bot.web.deps import parts, render, staff
from handlers.accounts import WebStaff
from handlers.desk_overview import OverviewError, OverviewView
from handlers.desk_rooms import RoomRules

router = APIRouter()

CHART_WIDTH = 560  # the SVG's drawing width; bars scale to the largest count
BAR_AREA = 330
LABEL_WIDTH = 120
ROW = 26
MEDIA = {"png": "image/png", "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}


@dataclass(frozen=True, slots=True)
class Bar:
    name: str
    now: int
    prev: int
    y: int
    now_width: int
    prev_width: int


def bars(view: OverviewView) -> tuple[list[Bar], int]:
    """The category chart's bars (this month over last month) and its height, for an inline <svg>."""
    rows = view.by_category
    top = max((max(r.now, r.prev) for r in rows), default=0) or 1
    out = [
        Bar(name=r.name, now=r.now, prev=r.prev, y=10 + i * ROW,
            now_width=round(BAR_AREA * r.now / top), prev_width=round(BAR_AREA * r.prev / top))
        for i, r in enumerate(rows)
    ]
    return out, 20 + len(rows) * ROW


def choices(request: Request, who: WebStaff) -> list[tuple[str, str]]:
    """The communities the picker offers: (value, label); "" is the whole subdistrict, for admins only."""
    if who.actor.communities is None:
        rules: RoomRules | None = parts(request).extra.get("room_rules")
        return [("", "全街道"), *((c, c) for c in (rules.communities if rules else ()))]
    return [(c, c) for c in sorted(who.communities)]


def _refused(exc: OverviewError) -> HTTPException:
    return HTTPException(status_code=exc.status, detail=str(exc))


@router.get("/overview")
async def overview(
    request: Request, month: str | None = None, community: str | None = None, who: WebStaff = Depends(staff)
) -> Response:
    desk = parts(request).desk
    try:
        view = await desk.overview(who.actor, month=month, community=community)
    except OverviewError as exc:
        raise _refused(exc) from None
    chart, height = bars(view)
    scope_q = f"?community={quote(view.community)}" if view.community else ""
    return render(
        request, "overview.html", who, nav="overview", v=view, bars=chart, chart_height=height,
        chart_width=CHART_WIDTH, label_width=LABEL_WIDTH, bar_area=BAR_AREA, choices=choices(request, who),
        scope_q=scope_q, community_q=quote(view.community or ""),
    )


@router.get("/overview/digest/{period}.{kind}")
async def digest_file(
    request: Request, period: str, kind: str, community: str | None = None, who: WebStaff = Depends(staff)
) -> Response:
    if kind not in MEDIA:
        raise HTTPException(status_code=404)
    try:
        name, data = await parts(request).desk.digest_file(who.actor, period, kind, community=community)
    except OverviewError as exc:
        raise _refused(exc) from None
    ascii_name = f"digest-{period}.{kind}"
    return Response(
        data, media_type=MEDIA[kind],
        headers={"Content-Disposition": f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name)}"},
    )
