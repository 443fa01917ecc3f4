"""The console's doors: no page, form or file without a session (no Open311 without a key); no form without
its token; cookies HttpOnly, SameSite and Secure; a wrong password ten times, then even the right one waits."""

from __future__ import annotations

import re

from fastapi.routing import APIRoute

from tests.web.conftest import PASSWORD, Browserless

OPEN = {"/login", "/"}  # the sign-in form, and the redirect to it


def _routes(console) -> list[tuple[str, str]]:
    """Every route the console serves, the pages' routers included (FastAPI keeps those as included routers)."""
    out: list[tuple[str, str]] = []

    def walk(routes) -> None:
        for r in routes:
            if isinstance(r, APIRoute):
                out.extend((method, r.path) for method in r.methods)
            elif (inner := getattr(r, "original_router", None)) is not None:
                walk(inner.routes)

    walk(console.app.web.server.config.app.routes)
    return out


def _fill(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "1", path)


async def test_every_page_and_form_needs_a_session(console, client):
    anon = await client()
    routes = _routes(console)
    assert ("GET", "/review") in routes and ("POST", "/review/{number}/confirm") in routes, routes
    checked = 0
    for method, path in routes:
        if path in OPEN or path.startswith("/open311/") or (method, path) == ("POST", "/login"):
            continue
        url = _fill(path)
        r = await (anon.get(url) if method == "GET" else anon.post(url, {"csrf": "x"}, csrf=False))
        if method == "GET":
            assert r.status_code == 303 and r.headers["location"].startswith("/login"), (path, r.status_code)
        else:
            assert r.status_code == 401, (method, path, r.status_code)
        checked += 1
    assert checked >= 3


async def test_every_form_refuses_a_missing_or_wrong_token(console, client):
    web = await client("管理员")
    posts = [p for m, p in _routes(console) if m == "POST" and p != "/login"]
    assert "/logout" in posts
    for path in posts:
        for token in ("", "forged", web.csrf[:-1] + ("A" if web.csrf[-1] != "A" else "B")):
            r = await web.post(_fill(path), {"csrf": token})
            assert r.status_code == 403, (path, token, r.status_code)
    assert (await web.get("/review")).status_code == 200  # still signed in: sign-out needed its token too


async def test_a_form_from_another_site_is_refused_even_with_the_token(console, client):
    web = await client("管理员")
    r = await web.http.post(
        "/logout", data={"csrf": web.csrf}, headers={**web._headers(), "origin": "http://evil.example"}
    )
    assert r.status_code == 403
    assert (await web.get("/review")).status_code == 200


async def test_session_cookie_is_httponly_samesite_strict_and_secure(console, client):
    web = await client()
    page = await web.get("/login")
    pre = re.search(r'name="pre" value="([^"]+)"', page.text).group(1)
    r = await web.post("/login", {"name": "刘主任", "password": PASSWORD, "pre": pre}, csrf=False)
    assert r.status_code == 303
    cookie = next(h for h in r.headers.get_list("set-cookie") if h.startswith("linju_session="))
    flags = {part.strip().lower() for part in cookie.split(";")[1:]}
    assert {"httponly", "samesite=strict", "secure"} <= flags, cookie


async def test_the_sign_in_form_needs_its_own_token(console):
    anon = Browserless(console.url)
    try:
        await anon.get("/login")
        r = await anon.post("/login", {"name": "刘主任", "password": PASSWORD, "pre": "forged"}, csrf=False)
        assert r.status_code == 403 and "linju_session" not in anon.cookies
    finally:
        await anon.aclose()


async def test_ten_wrong_passwords_then_even_the_right_one_waits(console, client):
    web = await client()
    for _ in range(10):
        r = await web.sign_in("刘主任", "wrong-password-123")
        assert r.status_code == 401 and "账号或密码不对" in r.text
    r = await web.sign_in("刘主任", PASSWORD)
    assert r.status_code == 429 and "次数太多" in r.text
    assert "linju_session" not in web.cookies
    # Another account from the same address (a committee office shares one) still signs in.
    other = await client("管理员")
    assert (await other.get("/review")).status_code == 200


async def test_an_address_guessing_across_many_accounts_is_throttled_too(console, client):
    web = await client()
    for n in range(50):
        r = await web.sign_in(f"guess{n}", "wrong-password-123")
        assert r.status_code == 401
    r = await web.sign_in("刘主任", PASSWORD)
    assert r.status_code == 429


async def test_signing_out_ends_the_session_on_the_server(console, client):
    web = await client("刘主任")
    token = web.cookies["linju_session"]
    r = await web.post("/logout")
    assert r.status_code == 303
    replay = await web.http.get("/review", headers={"cookie": f"linju_session={token}"})
    assert replay.status_code == 303 and replay.headers["location"].startswith("/login")


async def test_pages_forbid_framing_and_foreign_scripts(console, client):
    web = await client("刘主任")
    r = await web.get("/review")
    csp = r.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in csp and "script-src 'self'" in csp
    assert r.headers["x-frame-options"] == "DENY"


async def test_after_sign_in_only_paths_on_this_site(console, client):
    web = await client()
    page = await web.get("/login?next=//evil.example/x")
    assert "//evil.example" not in page.text
    pre = re.search(r'name="pre" value="([^"]+)"', page.text).group(1)
    r = await web.post("/login", {"name": "刘主任", "password": PASSWORD, "pre": pre, "next": "//evil.example/x"}, csrf=False)
    assert r.status_code == 303 and r.headers["location"] == "/tickets"
