"""Roster import: the hierarchy and people from CSV or XLSX, upserted; bad rows reported by line, the rest loaded."""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import Community, Member, utcnow

# Column headers as operators write them (Chinese or English) → field.
HEADERS = {
    "community": ("社区", "community"),
    "area": ("片", "片区", "area"),
    "grp": ("组", "小组", "group", "grp"),
    "full_name": ("姓名", "name", "full_name"),
    "display_name": ("微信昵称", "昵称", "群昵称", "显示名", "display_name"),
    "wechat_id": ("微信号", "微信id", "wechat_id", "wxid"),
    "phone": ("电话", "手机", "手机号", "联系电话", "phone"),
    "role": ("角色", "身份", "职务", "role"),
    "estate": ("小区", "estate"),
    "building": ("楼栋", "栋", "building"),
    "households": ("联系户数", "户数", "households"),
    "rooms": ("所在群", "群", "rooms"),
    "subdistrict": ("街道", "subdistrict"),
    "scope": ("范围", "管辖范围", "scope"),
}
# A staff member whose scope is one of these handles every community's tickets.
SUBDISTRICT_WIDE = {"全街道", "街道", "全部", "subdistrict", "all"}
_HEADER_TO_FIELD = {h.lower(): f for f, names in HEADERS.items() for h in names}

ROLES = {
    "社区工作人员": "staff", "工作人员": "staff", "两委": "staff", "社区两委": "staff", "委员": "staff",
    "网格员": "staff", "书记": "staff", "主任": "staff", "staff": "staff",
    "片长": "area_leader", "area_leader": "area_leader",
    "组长": "group_leader", "group_leader": "group_leader",
    "邻长": "neighbour_leader", "neighbour_leader": "neighbour_leader",
    "居民": "resident", "住户": "resident", "resident": "resident",
}
_PHONE = re.compile(r"^(1[3-9]\d{9}|0\d{2,3}-?\d{7,8}|\d{7,8})$")
_BUILDING = re.compile(r"^(\d{1,3})\s*(栋|幢|号楼|#)?$")


class RosterError(Exception):
    """The file as a whole cannot be read (format, missing columns)."""


@dataclass(slots=True)
class ImportResult:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    communities_created: int = 0
    errors: list[tuple[int, str]] = field(default_factory=list)  # (line, what is wrong)
    ignored_columns: list[str] = field(default_factory=list)

    @property
    def loaded(self) -> int:
        return self.created + self.updated + self.unchanged


def read_rows(path: str | Path) -> tuple[list[tuple[int, dict[str, str]]], list[str]]:
    """(line number, {field: text}) for each data row, and the headers not understood."""
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix == ".csv":
        raw = list(_csv_rows(p))
    elif suffix in (".xlsx", ".xlsm"):
        raw = list(_xlsx_rows(p))
    else:
        raise RosterError(f"{p}: roster files must be .csv or .xlsx")
    if not raw:
        raise RosterError(f"{p}: the file is empty")
    (_, header), body = raw[0], raw[1:]
    fields = [_HEADER_TO_FIELD.get(h.strip().lower()) for h in header]
    if "display_name" not in fields and "full_name" not in fields:
        raise RosterError(f"{p}: no name column (姓名 or 微信昵称) in the header line")
    ignored = [h for h, f in zip(header, fields, strict=False) if f is None and h.strip()]
    rows = []
    for line, cells in body:
        if not any(c.strip() for c in cells):
            continue
        rows.append((line, {f: (c or "").strip() for f, c in zip(fields, cells, strict=False) if f}))
    return rows, ignored


def _csv_rows(p: Path) -> Iterator[tuple[int, list[str]]]:
    with p.open(encoding="utf-8-sig", newline="") as fh:
        reader = csv.reader(fh)
        for cells in reader:
            yield reader.line_num, cells


def _xlsx_rows(p: Path) -> Iterator[tuple[int, list[str]]]:
    from openpyxl import load_workbook

    wb = load_workbook(p, read_only=True, data_only=True)
    try:
        for n, values in enumerate(wb.worksheets[0].iter_rows(values_only=True), 1):
            yield n, ["" if v is None else (str(int(v)) if isinstance(v, float) and v.is_integer() else str(v)) for v in values]
    finally:
        wb.close()


def validate(row: dict[str, str]) -> dict[str, Any]:
    """Member fields from one row; raises ValueError (Chinese-free, for operators) naming what is wrong."""
    display = row.get("display_name") or row.get("full_name") or ""
    if not display:
        raise ValueError("no name (姓名 or 微信昵称)")
    role_text = row.get("role") or "居民"
    role = ROLES.get(role_text.lower()) or ROLES.get(role_text)
    if role is None:
        raise ValueError(f"unknown role {role_text!r} (use 社区工作人员/片长/组长/邻长/居民)")
    phone = re.sub(r"[\s-]", "", row.get("phone") or "") or None
    if phone and not _PHONE.match(phone):
        raise ValueError(f"phone {row.get('phone')!r} is not a phone number")
    building = row.get("building") or None
    if building:
        m = _BUILDING.match(building)
        if not m:
            raise ValueError(f"building {building!r} should be a number such as 4 or 4栋")
        building = m.group(1)
    households = None
    if row.get("households"):
        try:
            households = int(row["households"])
        except ValueError:
            raise ValueError(f"households {row['households']!r} is not a whole number") from None
        if households < 0:
            raise ValueError("households cannot be negative")
    rooms = ";".join(r.strip() for r in re.split(r"[;；,，、]", row.get("rooms") or "") if r.strip()) or None
    return {
        "display_name": display[:100],
        "full_name": (row.get("full_name") or None) and row["full_name"][:100],
        "wechat_id": row.get("wechat_id") or None,
        "phone": phone,
        "role": role,
        "community": row.get("community") or None,
        "area": row.get("area") or None,
        "grp": row.get("grp") or None,
        "estate": row.get("estate") or None,
        "building": building,
        "households": households,
        "rooms": rooms and rooms[:500],
        "subdistrict_wide": role == "staff" and (row.get("scope") or "").strip().lower() in SUBDISTRICT_WIDE,
    }


async def import_rows(
    session: AsyncSession, rows: Iterable[tuple[int, dict[str, str]]], *, default_community: str | None = None
) -> ImportResult:
    """Upsert members (by WeChat id, else by name within the community) and communities. Does not commit."""
    result = ImportResult()
    known = {c.name for c in (await session.exec(select(Community))).all()}
    for line, row in rows:
        try:
            values = validate(row)
        except ValueError as exc:
            result.errors.append((line, str(exc)))
            continue
        values["community"] = values["community"] or default_community
        try:
            async with session.begin_nested():
                community = values["community"]
                if community and community not in known:
                    session.add(Community(name=community))
                    known.add(community)
                    result.communities_created += 1
                outcome = await _upsert_member(session, values)
                await session.flush()
        except Exception as exc:  # one bad row (e.g. a clash with another person) must not stop the rest
            result.errors.append((line, f"could not be saved: {type(exc).__name__}"))
            continue
        setattr(result, outcome, getattr(result, outcome) + 1)
    return result


async def _upsert_member(session: AsyncSession, values: dict[str, Any]) -> str:
    member = None
    if values["wechat_id"]:
        member = (await session.exec(select(Member).where(Member.wechat_id == values["wechat_id"]))).first()
    if member is None:
        stmt = select(Member).where(Member.display_name == values["display_name"])
        stmt = stmt.where(Member.community == values["community"]) if values["community"] else stmt.where(
            Member.community.is_(None)  # type: ignore[union-attr]
        )
        member = (await session.exec(stmt)).first()
    if member is None:
        session.add(Member(**values))
        return "created"
    changed = False
    for k, v in values.items():
        if getattr(member, k) != v:
            setattr(member, k, v)
            changed = True
    if not changed:
        return "unchanged"
    member.updated_at = utcnow()
    session.add(member)
    return "updated"


async def people_names(session: AsyncSession) -> list[str]:
    """Every name the roster knows (display and full names): the privacy module takes them out of text."""
    rows = (await session.exec(select(Member.display_name, Member.full_name))).all()
    return sorted({n for pair in rows for n in pair if n})


async def roster_version(session: AsyncSession) -> tuple[int, str]:
    """Changes whenever the roster does (an import from the shell): how many people, and the latest change."""
    from sqlalchemy import func

    count, latest = (await session.exec(select(func.count(), func.max(Member.updated_at)))).one()
    return int(count), str(latest)


async def import_file(session: AsyncSession, path: str | Path, *, default_community: str | None = None) -> ImportResult:
    rows, ignored = read_rows(path)
    result = await import_rows(session, rows, default_community=default_community)
    result.ignored_columns = ignored
    return result
