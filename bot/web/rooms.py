"""群与名册 (admins only): the rooms the bot has seen and what each is (bound as `linju rooms bind` binds),
the roster imported from an uploaded CSV or XLSX (as `linju roster import`), and exported as CSV."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from bot.web.deps import admin as admin_only
from bot.web.deps import back, checked, parts, render
from handlers.accounts import WebStaff
from handlers.desk_rooms import KIND_NAMES, KINDS, RoomRules, RoomsError, RosterOutcome

router = APIRouter()

MAX_UPLOAD = 10 * 1024 * 1024  # a roster of a whole subdistrict is well under this
SUFFIXES = (".csv", ".xlsx", ".xlsm")


def rules(request: Request) -> RoomRules:
    found = parts(request).extra.get("room_rules")
    return found if isinstance(found, RoomRules) else RoomRules(communities=())


async def _page(request: Request, who: WebStaff, *, result: RosterOutcome | None = None, error: str | None = None,
                status: int = 200) -> Response:
    desk = parts(request).desk
    r = rules(request)
    rooms = await desk.rooms(who.actor, admin=who.admin)
    page = render(
        request, "rooms.html", who, nav="rooms", rooms=rooms, kinds=[(k, KIND_NAMES[k]) for k in KINDS],
        kind_names=KIND_NAMES, communities=[("", "全街道"), *((c, c) for c in r.communities)],
        configured=r.configured, result=result, error=error,
    )
    page.status_code = status
    return page


@router.get("/rooms")
async def rooms(request: Request, who: WebStaff = Depends(admin_only)) -> Response:
    return await _page(request, who)


async def _admin_post(request: Request) -> tuple[WebStaff, Any]:
    who = await checked(request)
    await admin_only(request)  # 403 for staff who are not admins
    return who, await request.form()


@router.post("/rooms/bind")
async def bind(request: Request) -> Response:
    who, form = await _admin_post(request)
    try:
        said = await parts(request).desk.bind(
            who.actor, rules(request), admin=who.admin, room_id=str(form.get("room_id") or ""),
            kind=str(form.get("kind") or ""), community=str(form.get("community") or ""),
        )
    except RoomsError as exc:
        return back(request, "/rooms", str(exc))
    return back(request, "/rooms", said)


@router.post("/rooms/unbind")
async def unbind(request: Request) -> Response:
    who, form = await _admin_post(request)
    try:
        said = await parts(request).desk.unbind(who.actor, admin=who.admin, room_id=str(form.get("room_id") or ""))
    except RoomsError as exc:
        return back(request, "/rooms", str(exc))
    return back(request, "/rooms", said)


@router.post("/roster/import")
async def roster_import(request: Request) -> Response:
    who, form = await _admin_post(request)
    upload = form.get("file")
    filename = getattr(upload, "filename", None) or ""
    suffix = Path(filename).suffix.lower()
    if upload is None or isinstance(upload, str) or not filename:
        return await _page(request, who, error="请选择要导入的名册文件。", status=400)
    if suffix not in SUFFIXES:
        return await _page(request, who, error="名册文件须为 .csv 或 .xlsx（可参考 samples/roster.csv）。", status=400)
    data = await upload.read(MAX_UPLOAD + 1)
    if len(data) > MAX_UPLOAD:
        return await _page(request, who, error="文件太大（最多 10 MB）。", status=413)
    with tempfile.TemporaryDirectory(prefix="linju-roster-") as tmp:
        path = Path(tmp) / f"roster{suffix}"
        path.write_bytes(data)
        try:
            result = await parts(request).desk.import_roster(who.actor, rules(request), path, admin=who.admin)
        except RoomsError as exc:
            return await _page(request, who, error=str(exc), status=400)
    return await _page(request, who, result=result)


@router.get("/roster/export.csv")
async def roster_export(request: Request, who: WebStaff = Depends(admin_only)) -> Response:
    text = await parts(request).desk.export_roster(who.actor, admin=who.admin)
    return Response(
        text.encode("utf-8"), media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": "attachment; filename=\"roster.csv\"; filename*=UTF-8''%E5%90%8D%E5%86%8C.csv"},
    )
