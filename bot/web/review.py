"""待确认: the candidates held for review, confirmed or ignored in one click (确认 K / 忽略 K)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response

from bot.web.deps import back, checked, parts, render, staff
from handlers.accounts import WebStaff
from handlers.desk import DeskError

router = APIRouter()


@router.get("/review")
async def review(request: Request, who: WebStaff = Depends(staff)) -> Response:
    desk = parts(request).desk
    pending = await desk.pending(who.actor)
    return render(request, "review.html", who, nav="review", pending=pending, categories=desk.taxonomy.categories)


@router.post("/review/{number}/confirm")
async def confirm(request: Request, number: int, category: str = Form("")) -> Response:
    who = await checked(request)
    try:
        done = await parts(request).desk.confirm(who.actor, number, category=category[:40] or None)
    except DeskError as exc:
        return back(request, "/review", str(exc))
    return back(request, "/review", done.text)


@router.post("/review/{number}/ignore")
async def ignore(request: Request, number: int) -> Response:
    who = await checked(request)
    try:
        done = await parts(request).desk.ignore(who.actor, number)
    except DeskError as exc:
        return back(request, "/review", str(exc))
    return back(request, "/review", done.text)
