"""The console's ticket list as a file: CSV (UTF-8 with a BOM, so Excel reads the Chinese) and XLSX. The same
columns as the page: places without room numbers, no reporters' names."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from handlers import texts
from handlers.ticket_board import TicketLine

HEADERS = ("工单号", "登记时间", "社区", "地点", "类别", "摘要", "状态", "派给", "紧急", "期限", "超期", "反映人数")
WIDTHS = (8, 17, 12, 18, 10, 40, 22, 12, 6, 17, 8, 8)


def _at(dt: datetime | None, tz: ZoneInfo) -> str:
    return texts.stamp(dt, tz, "%Y-%m-%d %H:%M") if dt else ""


def rows(lines: Sequence[TicketLine], tz: ZoneInfo) -> list[list[Any]]:
    return [
        [
            t.number, _at(t.created, tz), t.community, t.place, t.category, t.summary, t.status_words, t.assignee,
            "是" if t.urgent else "", _at(t.due, tz), t.due_words if t.overdue else "", t.supporters,
        ]
        for t in lines
    ]


def _cell(value: Any) -> Any:
    """A cell a spreadsheet will not run as a formula (text from chat can start with = + - @)."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def csv_bytes(lines: Sequence[TicketLine], tz: ZoneInfo) -> bytes:
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(HEADERS)
    w.writerows([[_cell(v) for v in r] for r in rows(lines, tz)])
    return out.getvalue().encode("utf-8-sig")


def xlsx_bytes(lines: Sequence[TicketLine], tz: ZoneInfo) -> bytes:
    from openpyxl import Workbook
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    wb = Workbook(write_only=False)
    ws = wb.active
    assert ws is not None
    ws.title = "工单"
    ws.append(list(HEADERS))
    for c in ws[1]:
        c.font = Font(bold=True)
    for r in rows(lines, tz):
        ws.append([_cell(v) for v in r])
    for i, width in enumerate(WIDTHS, start=1):
        ws.column_dimensions[get_column_letter(i)].width = width
    ws.freeze_panes = "A2"
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()
