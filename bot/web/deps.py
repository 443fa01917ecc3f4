"""What every page needs: the signed-in staff member, the form token check, templates and the flash line."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote
from zoneinfo import ZoneInfo

from fastapi import HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from handlers.accounts import Accounts, WebStaff
from handlers.desk import Desk

HERE = Path(__file__).parent
SESSION_COOKIE = "linju_session"
PRE_COOKIE = "linju_pre"  # the sign-in form's token, before there is a session (double submit)
FLASH_COOKIE = "linju_flash"
templates = Jinja2Templates(directory=str(HERE / "templates"))


class SignInNeeded(Exception):
    """No live session: pages redirect to the sign-in form, API calls get 401."""


@dataclass
class Web:
    """The parts the pages use, kept on app.state."""

    desk: Desk
    accounts: Accounts
    secure_cookies: bool
    timezone: ZoneInfo
    extra: dict[str, Any]


def parts(request: Request) -> Web:
    return request.app.state.web


async def staff(request: Request) -> WebStaff:
    """The signed-in staff member (a FastAPI dependency); SignInNeeded otherwise."""
    found = await parts(request).accounts.staff_for(request.cookies.get(SESSION_COOKIE))
    if found is None:
        raise SignInNeeded()
    return found


async def admin(request: Request) -> WebStaff:
    who = await staff(request)
    if not who.admin:
        raise HTTPException(status_code=403, detail="只有管理员可以打开这一页。")
    return who


def same_origin(request: Request) -> bool:
    """A form posted from this site: Origin (or Referer) names this host, or the browser sent neither."""
    origin = request.headers.get("origin") or request.headers.get("referer")
    if not origin:
        return True
    host = request.headers.get("host", "")
    return origin.split("://", 1)[-1].split("/", 1)[0] == host


async def checked(request: Request) -> WebStaff:
    """For every POST: signed in, and the form carries this session's token (CSRF) from this site."""
    who = await staff(request)
    form = await request.form()
    token = request.headers.get("x-csrf-token") or str(form.get("csrf") or "")
    if not same_origin(request) or not secrets.compare_digest(token, who.csrf):
        raise HTTPException(status_code=403, detail="表单已过期，请刷新页面后再试。")
    return who


def set_cookie(response: Response, request: Request, name: str, value: str, *, max_age: int | None = None) -> None:
    response.set_cookie(
        name, value, max_age=max_age, httponly=True, samesite="strict", secure=parts(request).secure_cookies, path="/"
    )


def flash(response: Response, request: Request, text: str) -> Response:
    """A line for the next page (what a step said), in a short-lived cookie."""
    set_cookie(response, request, FLASH_COOKIE, quote(text[:1500]), max_age=60)
    return response


def back(request: Request, url: str, text: str | None = None) -> Response:
    response = RedirectResponse(url, status_code=303)
    return flash(response, request, text) if text else response


def local(dt: datetime | None, tz: ZoneInfo, fmt: str = "%Y-%m-%d %H:%M") -> str:
    if dt is None:
        return "—"
    if dt.tzinfo is None:
        from datetime import UTC

        dt = dt.replace(tzinfo=UTC)
    return dt.astimezone(tz).strftime(fmt)


def render(request: Request, template: str, who: WebStaff | None, **context: Any) -> HTMLResponse:
    said = request.cookies.get(FLASH_COOKIE)
    tz = parts(request).timezone
    response = templates.TemplateResponse(
        request,
        template,
        {"staff": who, "said": unquote(said) if said else None, "tz": tz, "when": lambda d, f="%Y-%m-%d %H:%M": local(d, tz, f),
         **context},
    )
    if said:
        response.delete_cookie(FLASH_COOKIE, path="/")
    return response
