"""The web console's application: sign-in and sign-out, security headers, errors, and the pages' routers."""

from __future__ import annotations

import secrets
from urllib.parse import quote

from fastapi import FastAPI, Form, Request
from fastapi.exceptions import HTTPException
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from bot.web import deps
from bot.web.deps import PRE_COOKIE, SESSION_COOKIE, SignInNeeded, Web, checked, render
from handlers.accounts import AccountError

# Pages are this site's own: no framing, no scripts or styles from elsewhere, no sniffing, no referrer out.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


def _safe_next(url: str | None) -> str:
    """Only a path on this site (never //elsewhere or a scheme): where to go after signing in."""
    if not url or not url.startswith("/") or url.startswith("//") or "\\" in url:
        return "/tickets"
    return url


def create_app(web: Web) -> FastAPI:
    app = FastAPI(title="linju 工作台", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.web = web
    app.mount("/static", StaticFiles(directory=str(deps.HERE / "static")), name="static")

    @app.middleware("http")
    async def headers(request: Request, call_next) -> Response:
        response = await call_next(request)
        for k, v in SECURITY_HEADERS.items():
            response.headers.setdefault(k, v)
        return response

    @app.exception_handler(SignInNeeded)
    async def sign_in_needed(request: Request, exc: SignInNeeded) -> Response:
        if request.method != "GET" or request.url.path.startswith("/api/"):
            return JSONResponse({"error": "请先登录。"}, status_code=401)
        return RedirectResponse(f"/login?next={quote(request.url.path)}", status_code=303)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        detail = exc.detail if isinstance(exc.detail, str) and exc.status_code != 404 else "没有这一页。"
        if request.url.path.startswith("/open311/"):
            return JSONResponse([{"code": exc.status_code, "description": detail}], status_code=exc.status_code)
        page = render(request, "error.html", None, code=exc.status_code, detail=detail)
        page.status_code = exc.status_code
        return page

    @app.get("/", include_in_schema=False)
    async def home() -> Response:
        return RedirectResponse("/tickets", status_code=303)

    @app.get("/login", response_class=HTMLResponse)
    async def login_form(request: Request, next: str | None = None) -> Response:
        pre = secrets.token_urlsafe(24)
        page = render(request, "login.html", None, pre=pre, next=_safe_next(next), error=None)
        deps.set_cookie(page, request, PRE_COOKIE, pre, max_age=3600)
        return page

    @app.post("/login")
    async def login(
        request: Request, name: str = Form(""), password: str = Form(""), pre: str = Form(""), next: str = Form("")
    ) -> Response:
        cookie = request.cookies.get(PRE_COOKIE, "")
        if not cookie or not deps.same_origin(request) or not secrets.compare_digest(cookie, pre):
            raise HTTPException(status_code=403, detail="表单已过期，请刷新页面后再试。")
        address = request.client.host if request.client else "?"
        try:
            token = await web.accounts.sign_in(name.strip()[:100], password[:1000], address=address)
        except AccountError as exc:
            throttled = "次数太多" in str(exc)
            page = render(request, "login.html", None, pre=pre, next=_safe_next(next), error=str(exc), name=name[:100])
            page.status_code = 429 if throttled else 401
            return page
        response = RedirectResponse(_safe_next(next), status_code=303)
        deps.set_cookie(response, request, SESSION_COOKIE, token, max_age=int(web.accounts.session_length.total_seconds()))
        response.delete_cookie(PRE_COOKIE, path="/")
        return response

    @app.post("/logout")
    async def logout(request: Request) -> Response:
        await checked(request)
        token = request.cookies.get(SESSION_COOKIE)
        if token:
            await web.accounts.sign_out(token)
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response

    from bot.web import pages

    for router in pages.routers():
        app.include_router(router)
    return app
