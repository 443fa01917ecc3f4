"""The digest's picture and spreadsheet: a PNG bar chart with Chinese labels and a streamed XLSX."""

from __future__ import annotations

import asyncio
import functools
import importlib.resources
import logging
import re
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel.ext.asyncio.session import AsyncSession

from handlers.digest import Breakdown, DigestContent, pct, place_label, render_text
from handlers.texts import source_name
from nlp.privacy import Privacy
from nlp.types import Taxonomy
from storage import digest_rows

log = logging.getLogger(__name__)

FONT_FAMILY = "Noto Sans CJK SC"
FONT_FILE = "NotoSansCJKsc-Regular.otf"  # SIL Open Font Licence, shipped inside the mplfonts wheel

STATUS_NAMES = {
    "new": "新登记",
    "assigned": "已派单",
    "in_progress": "处理中",
    "resolved": "已办结",
    "closed": "已归档",
    "rejected": "已答复",
    "duplicate": "重复已合并",
    "reopened": "重新处理",
    "withdrawn": "已撤销",
}
SATISFACTION_NAMES = {"satisfied": "满意", "basic": "基本满意", "unsatisfied": "不满意"}


@functools.lru_cache(maxsize=1)
def cjk_font() -> Path:
    """Register the bundled Noto Sans CJK SC with matplotlib (once) and return its file; never downloads."""
    from matplotlib import font_manager

    path = Path(str(importlib.resources.files("mplfonts") / "fonts" / FONT_FILE))
    if not path.is_file():
        raise FileNotFoundError(path)
    font_manager.fontManager.addfont(str(path))
    return path


def file_stem(content: DigestContent) -> str:
    return f"digest-{content.period.label}-{content.scope}"


# ---------------------------------------------------------------- chart


def write_chart(content: DigestContent, path: Path, *, top: int = 12) -> Path:
    """Horizontal bars by category, this period against the last, labelled in Chinese."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    cjk_font()
    rows: list[Breakdown] = [b for b in content.by_category if b.now or b.prev][:top]
    unit = content.kind_words
    height = 1.6 + 0.45 * max(len(rows), 1)
    fig = Figure(figsize=(8, height), dpi=120)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    font = {"family": FONT_FAMILY}
    if rows:
        names = [b.name for b in reversed(rows)]
        now = [b.now for b in reversed(rows)]
        prev = [b.prev for b in reversed(rows)]
        ys = range(len(rows))
        h = 0.38
        ax.barh([y + h / 2 for y in ys], now, height=h, color="#d9534f", label=f"本{unit}")
        ax.barh([y - h / 2 for y in ys], prev, height=h, color="#9aa5b1", label=f"上{unit}")
        ax.set_yticks(list(ys), names, fontdict=font)
        for y, v in zip(ys, now, strict=True):
            ax.text(v, y + h / 2, f" {v}", va="center", fontsize=9, fontfamily=FONT_FAMILY)
        ax.legend(prop={"family": FONT_FAMILY}, loc="lower right")
        # The default locator is an AutoLocator (a MaxNLocator, which takes integer=); the stubs say Locator.
        ax.xaxis.get_major_locator().set_params(integer=True)  # type: ignore[call-arg]
    else:
        ax.text(
            0.5, 0.5, f"本{unit}没有收到诉求", ha="center", va="center", fontdict=font, transform=ax.transAxes
        )
        ax.set_yticks([])
    ax.set_title(
        f"{content.scope} {content.period_words} 各类诉求（本{unit} / 上{unit}）",
        fontdict={**font, "size": 13},
    )
    ax.set_xlabel("件数", fontdict=font)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png")
    return path


# ---------------------------------------------------------------- spreadsheet

# The tickets sheet, for the committee's clerk (staff): each column's header and width. Reporters and relaying
# leaders appear by display name (without the phone or room number a nickname carries); the original text and
# the notes go through the privacy module like every other text.
TICKET_SHEET: tuple[tuple[str, int], ...] = (
    ("工单号", 9),
    ("登记时间", 17),
    ("办理期限", 11),
    ("办结时间", 17),
    ("社区", 12),
    ("片区", 8),
    ("组", 8),
    ("群聊", 16),
    ("来源", 9),
    ("反映人", 10),
    ("转达邻长", 10),
    ("地点", 18),
    ("类别", 10),
    ("摘要", 22),
    ("原话", 40),
    ("紧急", 6),
    ("状态", 10),
    ("处理人", 10),
    ("办结说明", 30),
    ("已等/用时（天）", 12),
    ("反映人数", 9),
    ("满意度", 8),
    ("照片（张）", 8),
)
TICKET_HEADERS = tuple(h for h, _ in TICKET_SHEET)
PRIVATE_CHAT = "私聊"
# Control characters a worksheet cannot hold (openpyxl refuses the whole file): a pasted message may carry them.
_NOT_IN_CELLS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")


def _naive_local(dt: datetime | None, zone: ZoneInfo) -> datetime | None:
    # Excel has no time zones: show the subdistrict's wall-clock time.
    return dt.astimezone(zone).replace(tzinfo=None, microsecond=0) if dt else None


def _relay(t: dict[str, Any]) -> str | None:
    """The relaying leader's nickname when someone other than the reporter relayed the report."""
    if not t.get("relay_name"):
        return None
    same = t["relay_id"] == t["reporter_id"] if t.get("relay_id") else t["relay_name"] == t.get("reporter_name")
    return None if same else t["relay_name"]


def _group(t: dict[str, Any]) -> str:
    if t.get("room"):
        return t["room"]
    return PRIVATE_CHAT if t.get("source", "wechat") == "wechat" and not t.get("room_id") else ""


def ticket_row(
    t: dict[str, Any], *, taxonomy: Taxonomy, zone: ZoneInfo, now: datetime, privacy: Privacy | None = None
) -> list[Any]:
    """One spreadsheet row, in TICKET_SHEET's order. Staff read it: reporter and relaying leader by display name
    (their nickname's phone or room number taken out); the summary, original text, note and who handles it
    through the privacy module (residents' phones, room numbers and names out); no room number column."""
    privacy = privacy or Privacy()
    done = t["resolved_at"] or t["closed_at"]
    days = ((done or now) - t["created_at"]).total_seconds() / 86400
    place = place_label(t["estate"], t["building"])
    if t["unit"] and t["building"]:
        place += f"{t['unit']}单元"
    due = t.get("due_at")
    row = [
        t["number"],
        _naive_local(t["created_at"], zone),
        due.astimezone(zone).date() if due else None,
        _naive_local(done, zone),
        t["community"] or "",
        t["area"] or "",
        t["grp"] or "",
        _group(t),
        source_name(t["source"]) if t.get("source") else "",
        privacy.display_name(t.get("reporter_name")),
        privacy.display_name(_relay(t)),
        place,
        taxonomy.name_of(t["category"]),
        privacy.for_people(t["summary"]),
        privacy.for_people(t.get("text")),
        "是" if t.get("urgent") else "否",
        STATUS_NAMES.get(t["status"], t["status"]),
        privacy.for_people(t["assignee"]),
        privacy.for_people(t.get("note")),
        round(max(days, 0.0), 1),
        t["supporters"],
        SATISFACTION_NAMES.get(t["satisfaction"] or "", ""),
        t.get("photos") or 0,
    ]
    return [_NOT_IN_CELLS.sub("", v) if isinstance(v, str) else v for v in row]


RATE_NOTES = {
    "响应率": "本期收到的诉求中，登记后一天内工作人员已派单、受理或答复的比例",
    "解决率": "本期收到的诉求中已办结的比例；驳回和并入其他工单的不计入分母",
    "满意率": "办结后回访作答的人中，满意或基本满意的比例",
}


def _summary_rows(c: DigestContent) -> list[list[Any]]:
    t, pt, unit = c.totals, c.prev_totals, c.kind_words
    rows: list[list[Any]] = [
        [f"{c.scope} {c.period_words} 诉求{'月' if unit == '月' else '周'}报"],
        ["统计区间", f"{c.period.first_day} 至 {c.period.last_day}（{c.timezone}）"],
        [],
        ["指标", f"本{unit}", f"上{unit}", "本期分子/分母", "口径"],
        ["收到", t.received, pt.received],
        ["办结", t.resolved, pt.resolved],
        ["期末仍在办", t.open, pt.open],
        ["其中超期", t.overdue, pt.overdue],
        ["响应率", pct(t.response_rate), pct(pt.response_rate), f"{t.responded}/{t.received}", RATE_NOTES["响应率"]],
        ["解决率", pct(t.resolution_rate), pct(pt.resolution_rate), f"{t.solved}/{t.to_solve}", RATE_NOTES["解决率"]],
        ["其中驳回", t.rejected, pt.rejected],
        ["其中合并", t.merged, pt.merged],
        ["满意率", pct(t.satisfaction_rate), pct(pt.satisfaction_rate),
         f"{t.satisfied}/{t.satisfied + t.unsatisfied}", RATE_NOTES["满意率"]],
        ["回访人数", t.satisfied + t.unsatisfied, pt.satisfied + pt.unsatisfied],
        ["办结用时中位（天）", _round(t.median_days), _round(pt.median_days)],
    ]
    for title, table in (
        ("分类", c.by_category),
        ("社区", c.by_community),
        ("小区", c.by_estate),
        ("片区", c.by_area),
        ("组", c.by_group),
    ):
        if table:
            rows += [[], [title, f"本{unit}", f"上{unit}", "变化"]]
            rows += [[b.name, b.now, b.prev, b.change] for b in table]
    if c.top is not None:
        top = c.top
        rows += [[], [f"本{unit}一题", "类别", "地点", "反映次数", "已办结", "在办"]]
        rows += [[top.problem, top.category, "、".join(top.places), top.reports, top.tickets - top.open, top.open]]
    if c.hot:
        rows += [[], ["反复/多处反映", "类别", "地点", "反映次数"]]
        rows += [[h.problem, h.category, "、".join(h.places), h.reports] for h in c.hot]
    if c.oldest:
        rows += [[], ["等得最久的在办工单", "类别", "地点", "摘要", "已等（天）", "超期"]]
        rows += [
            [f"#{o.number}", o.category, o.place, o.summary, o.days_open, "是" if o.overdue else ""]
            for o in c.oldest
        ]
    if c.relayers:
        rows += [[], ["转达最多的邻长", "件数"]]
        rows += [[n, k] for n, k in c.relayers]
    return rows


def _save(wb: Any, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    wb.save(path)


def _round(x: float | None) -> float | str:
    return "—" if x is None else round(x, 1)


async def write_xlsx(
    content: DigestContent,
    path: Path,
    tickets: AsyncIterator[dict[str, Any]],
    *,
    taxonomy: Taxonomy,
    privacy: Privacy | None = None,
) -> int:
    """A summary sheet and one row per ticket of the period, streamed (openpyxl write-only); returns rows."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    zone = ZoneInfo(content.timezone)
    wb = Workbook(write_only=True)
    summary = wb.create_sheet("汇总")
    summary.column_dimensions["A"].width = 22
    for row in _summary_rows(content):
        summary.append(row)
    sheet = wb.create_sheet("工单明细")
    for i, (_, width) in enumerate(TICKET_SHEET, 1):
        sheet.column_dimensions[get_column_letter(i)].width = width
    sheet.freeze_panes = "A2"  # the header stays in view
    bold = Font(bold=True)
    header = []
    for h in TICKET_HEADERS:
        cell = WriteOnlyCell(sheet, value=h)
        cell.font = bold
        header.append(cell)
    sheet.append(header)
    n = 0
    now = content.generated_at

    def append(batch: list[dict[str, Any]]) -> None:
        for t in batch:
            sheet.append(ticket_row(t, taxonomy=taxonomy, zone=zone, now=now, privacy=privacy))

    # openpyxl costs ~10 µs a cell: write in a thread, a batch at a time, so the bot keeps answering.
    batch: list[dict[str, Any]] = []
    async for t in tickets:
        batch.append(t)
        n += 1
        if len(batch) >= 2000:
            await asyncio.to_thread(append, batch)
            batch = []
    await asyncio.to_thread(append, batch)
    # A filter on every column of the header, over all the rows (set before saving: written after them).
    sheet.auto_filter.ref = f"A1:{get_column_letter(len(TICKET_SHEET))}{n + 1}"
    await asyncio.to_thread(_save, wb, path)
    return n


# ---------------------------------------------------------------- all three forms


class DigestFiles:
    """The three forms of one digest on disk, plus the text itself."""

    def __init__(self, text: str, text_path: Path, chart: Path, xlsx: Path, rows: int) -> None:
        self.text, self.text_path, self.chart, self.xlsx, self.rows = text, text_path, chart, xlsx, rows

    @property
    def paths(self) -> tuple[Path, Path, Path]:
        return (self.text_path, self.chart, self.xlsx)


async def write_forms(
    session: AsyncSession,
    content: DigestContent,
    out_dir: Path,
    *,
    taxonomy: Taxonomy,
    text_limit: int = 2000,
    privacy: Privacy | None = None,
) -> DigestFiles:
    """Write the text (.txt), the chart (.png) and the spreadsheet (.xlsx) of `content` into `out_dir`."""
    stem = file_stem(content)
    text = render_text(content, limit=text_limit)
    text_path, chart = await asyncio.to_thread(_text_and_chart, content, text, out_dir, stem)
    rows = digest_rows.period_tickets(session, content.period, community=content.community)
    xlsx = out_dir / f"{stem}.xlsx"
    n = await write_xlsx(content, xlsx, rows, taxonomy=taxonomy, privacy=privacy)
    return DigestFiles(text, text_path, chart, xlsx, n)


def _text_and_chart(content: DigestContent, text: str, out_dir: Path, stem: str) -> tuple[Path, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    text_path = out_dir / f"{stem}.txt"
    text_path.write_text(text + "\n", encoding="utf-8")
    return text_path, write_chart(content, out_dir / f"{stem}.png")
