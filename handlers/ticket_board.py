"""What the console's ticket list and ticket page show, as plain values (the web never sees storage models):
the filters as the page's query says them, one line per ticket, and one ticket in full."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from datetime import date, datetime

PER_PAGE = 50
EXPORT_CAP = 10_000
STATUS_GROUPS = {"open": "未办结", "done": "已办结"}  # resolved or closed
STATUS_LABELS = {  # short words for the list's filter and counts
    "new": "待派单", "assigned": "已派单", "in_progress": "处理中", "reopened": "重新处理", "resolved": "已处理",
    "closed": "已归档", "rejected": "已答复", "duplicate": "已合并", "withdrawn": "已撤销",
}
SORT_LABELS = {"created": "登记时间", "due": "期限", "status": "状态", "category": "类别", "number": "工单号"}
SATISFACTION_WORDS = {"satisfied": "满意", "unsatisfied": "不满意"}


def _date(text: str | None) -> date | None:
    try:
        return date.fromisoformat((text or "").strip()[:10])
    except ValueError:
        return None


def _flag(text: str | None) -> bool:
    return (text or "").strip().lower() in ("1", "on", "true", "yes")


@dataclass(frozen=True, slots=True)
class TicketFilters:
    """The list's filters, from the page's query (anything unknown or malformed is left out)."""

    status: str = ""  # "", a group (open, done) or one status
    category: str = ""
    community: str = ""
    estate: str = ""
    assignee: str = ""
    urgent: bool = False
    overdue: bool = False
    date_from: date | None = None  # local dates, inclusive
    date_to: date | None = None
    q: str = ""
    sort: str = "created"
    order: str = "desc"
    page: int = 1

    @classmethod
    def parse(cls, params: Mapping[str, str]) -> TicketFilters:
        def text(name: str, limit: int = 100) -> str:
            return " ".join(str(params.get(name) or "").split())[:limit]

        status = text("status", 20)
        if status not in STATUS_GROUPS and status not in STATUS_LABELS:
            status = ""
        sort = text("sort", 20)
        sort = sort if sort in SORT_LABELS else "created"
        order = text("order", 4)
        page = text("page", 6)
        return cls(
            status=status, category=text("category", 40), community=text("community"), estate=text("estate"),
            assignee=text("assignee"), urgent=_flag(params.get("urgent")), overdue=_flag(params.get("overdue")),
            date_from=_date(params.get("date_from")), date_to=_date(params.get("date_to")), q=text("q"),
            sort=sort, order=order if order in ("asc", "desc") else ("desc" if sort == "created" else "asc"),
            page=max(1, int(page)) if page.isdigit() else 1,
        )

    def query(self, **changes: object) -> dict[str, str]:
        """The query string's values for these filters (with `changes`), defaults left out: for links."""
        f = replace(self, **changes)  # type: ignore[arg-type]
        out: dict[str, str] = {}
        for fl in fields(f):
            value, default = getattr(f, fl.name), fl.default
            if value == default or value is None or value is False:
                continue
            out[fl.name] = "1" if value is True else value.isoformat() if isinstance(value, date) else str(value)
        if f.sort == "created" and f.order == "desc":
            out.pop("order", None)
        return out

    def sorted_by(self, key: str) -> dict[str, str]:
        """The query for a column header: that column, the other way round if it is the current one."""
        if self.sort == key:
            order = "asc" if self.order == "desc" else "desc"
        else:
            order = "desc" if key == "created" else "asc"
        return self.query(sort=key, order=order, page=1)

    @property
    def filtered(self) -> bool:
        return bool(self.query(sort="created", order="desc", page=1))


@dataclass(frozen=True, slots=True)
class TicketLine:
    number: str
    summary: str
    category: str
    status: str
    status_words: str
    community: str
    place: str  # estate and building, never the room
    assignee: str
    urgent: bool
    overdue: bool
    due_words: str  # 超期3天 / 12月8日到期 / ""
    due: datetime | None
    created: datetime
    supporters: int


@dataclass(frozen=True, slots=True)
class StatusCount:
    key: str  # as the status filter takes it
    label: str
    n: int


@dataclass(frozen=True, slots=True)
class TicketPage:
    rows: list[TicketLine]
    total: int
    page: int
    pages: int
    filters: TicketFilters
    counts: list[StatusCount]
    categories: list[tuple[str, str]]  # (code, name)
    communities: list[str]
    estates: list[str]
    assignees: list[str]
    overdue: int  # open and past due, under the other filters
    statuses: list[tuple[str, str]] = field(
        default_factory=lambda: [*STATUS_GROUPS.items(), *STATUS_LABELS.items()]
    )


@dataclass(frozen=True, slots=True)
class EventLine:
    at: datetime
    who: str
    what: str  # the step in words, with where it left the ticket and its note


@dataclass(frozen=True, slots=True)
class TicketDetail:
    number: str
    text: str
    summary: str
    category: str
    category_code: str
    status: str
    status_words: str
    community: str
    estate: str
    building: str
    unit: str
    room_no: str
    reporter: str
    relay: str
    source: str
    urgent: bool
    created: datetime
    due: datetime | None
    resolved: datetime | None
    closed: datetime | None
    open_words: str  # 已登记 3 天 / 用了 2 天办完
    due_words: str  # 已超期 2 天 / 还有 3 天到期 / 今天到期 / ""
    overdue: bool
    supporters: int
    supporter_names: list[str]
    photos: list[int]
    events: list[EventLine]
    satisfaction: str
    duplicate_of: str
    actions: list[str]  # the steps its status allows now (keys of handlers.desk.ACTIONS)
