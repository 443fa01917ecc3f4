"""工单: the filtered list (counts, sorting, paging, export) and one ticket's page with its steps and a reply
to the reporter. Everything through the Desk, always within the staff member's communities."""

from __future__ import annotations

import asyncio
import mimetypes
from pathlib import Path
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import FileResponse, Response

from bot.web.deps import back, checked, parts, render, staff
from handlers.accounts import WebStaff
from handlers.desk import ACTIONS, DeskError
from handlers.ticket_board import SORT_LABELS, TicketFilters

router = APIRouter()
NO_TICKET = "没有这张工单。"
FIELD_LIMIT = 500
TOLD = ("resolve", "reject", "extend", "close")  # steps whose form has 给反映人的话


def _filters(request: Request) -> TicketFilters:
    return TicketFilters.parse({k: v for k, v in request.query_params.items()})


def _link(query: dict[str, str], path: str = "/tickets") -> str:
    return f"{path}?{urlencode(query)}" if query else path


def _stamp(request: Request) -> str:
    desk = parts(request).desk
    return desk.clock().astimezone(parts(request).timezone).strftime("%Y%m%d")


def _missing(request: Request, who: WebStaff) -> Response:
    page = render(request, "error.html", who, code=404, detail=NO_TICKET)
    page.status_code = 404
    return page


@router.get("/tickets")
async def tickets(request: Request, who: WebStaff = Depends(staff)) -> Response:
    filters = _filters(request)
    page = await parts(request).desk.tickets(who.actor, filters)
    return render(
        request, "tickets.html", who, nav="tickets", page=page, f=filters, sorts=SORT_LABELS, link=_link,
        here=filters.query(),
    )


def _attachment(data: bytes, name: str, media_type: str) -> Response:
    return Response(
        data, media_type=media_type,
        headers={"Content-Disposition": f"attachment; filename=\"{name}\"; filename*=UTF-8''{name}"},
    )


@router.get("/tickets/export.csv")
async def export_csv(request: Request, who: WebStaff = Depends(staff)) -> Response:
    data = await parts(request).desk.export_csv(who.actor, _filters(request))
    return _attachment(data, f"tickets-{_stamp(request)}.csv", "text/csv; charset=utf-8")


@router.get("/tickets/export.xlsx")
async def export_xlsx(request: Request, who: WebStaff = Depends(staff)) -> Response:
    data = await parts(request).desk.export_xlsx(who.actor, _filters(request))
    media = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    return _attachment(data, f"tickets-{_stamp(request)}.xlsx", media)


@router.get("/tickets/{number}")
async def ticket(request: Request, number: str, who: WebStaff = Depends(staff)) -> Response:
    desk = parts(request).desk
    t = await desk.ticket(who.actor, number)
    if t is None:
        return _missing(request, who)
    return render(
        request, "ticket.html", who, nav="tickets", t=t, actions=ACTIONS, categories=desk.taxonomy.categories,
    )


def _inside(data_dir: Path, stored: str) -> Path | None:
    """The stored file, only if it resolves inside data_dir (no way out by .. or a link) and is a file."""
    root = data_dir.resolve()
    path = Path(stored)
    path = (path if path.is_absolute() else root / path).resolve()
    return path if path.is_relative_to(root) and path.is_file() else None


@router.get("/tickets/{number}/photos/{attachment_id}")
async def photo(request: Request, number: str, attachment_id: int, who: WebStaff = Depends(staff)) -> Response:
    stored = await parts(request).desk.photo(who.actor, number, attachment_id)
    data_dir = parts(request).extra.get("data_dir")
    path = await asyncio.to_thread(_inside, Path(data_dir), stored) if stored and data_dir else None
    if path is None:
        raise HTTPException(status_code=404)
    media = mimetypes.guess_type(path.name)[0] or ""
    return FileResponse(path, media_type=media if media.startswith("image/") else "application/octet-stream")


def _page_of(number: str) -> str:
    """Where a step goes back to: the ticket's page, by its canonical number (never the raw path text)."""
    digits = number.strip().lstrip("#＃")
    return f"/tickets/{int(digits)}" if digits.isdigit() and len(digits) <= 12 else "/tickets"


def _field(form, name: str) -> str:
    return str(form.get(name) or "").strip()[:FIELD_LIMIT]


@router.post("/tickets/{number}/act")
async def act(request: Request, number: str) -> Response:
    who = await checked(request)
    form = await request.form()
    action, arg, target = _field(form, "action"), _field(form, "arg"), _field(form, "target")
    if action == "assign":  # the assignee is one word: what they are asked follows it
        arg = "".join(arg.split())
        if arg and _field(form, "ask"):
            arg = f"{arg} {_field(form, 'ask')}"
    if action == "extend" and arg and _field(form, "reason"):  # 延期 N 天数 原因
        arg = f"{arg} {_field(form, 'reason')}"
    if action in TOLD and _field(form, "told"):  # only what follows 回复： reaches the reporter
        arg = " ".join(p for p in (arg, f"回复：{_field(form, 'told')}") if p)
    url = _page_of(number)
    try:
        done = await parts(request).desk.act(who.actor, number, action, arg=arg or None, target=target or None)
    except DeskError as exc:
        return back(request, url, str(exc))
    except ValueError:
        return back(request, url, NO_TICKET)
    return back(request, url, done.text)


@router.post("/tickets/{number}/reply")
async def reply(request: Request, number: str) -> Response:
    who = await checked(request)
    form = await request.form()
    url = _page_of(number)
    try:
        done = await parts(request).desk.reply(who.actor, number, _field(form, "text"))
    except DeskError as exc:
        return back(request, url, str(exc))
    except ValueError:
        return back(request, url, NO_TICKET)
    return back(request, url, done.text)
