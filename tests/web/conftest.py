"""The web console on the real app: two communities, staff accounts in each, the console served by uvicorn on a
free port inside the running App (web.enabled), chat on a FakeChannel at the edge."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from bot.config import CommunitySettings, RoomSettings
from handlers.accounts import Accounts
from tests.support import make_settings, running_app

PASSWORD = "松涛里-correct-horse"
OTHER = "韶山社区"  # a second community: its staff must neither see nor change 书院路社区's tickets


def web_settings(tmp_path, **web: Any):
    settings = make_settings(tmp_path)
    settings.communities.append(
        CommunitySettings(
            name=OTHER, estates=["韶峰小区"],
            rooms=[RoomSettings(name="韶峰邻长群", kind="leaders", id="韶峰邻长群@chatroom")],
        )
    )
    settings.web.enabled = True
    settings.web.port = 0
    for k, v in web.items():
        setattr(settings.web, k, v)
    return settings


@dataclass
class Console:
    app: Any
    url: str

    @property
    def chat(self):
        return self.app.fake

    async def account(self, name: str, community: str | None, *, admin: bool = False) -> None:
        accounts: Accounts = self.app.web_parts.accounts
        await accounts.add_user(
            name, actor_id=f"wxid_{name}", communities=[community] if community else [], admin=admin, password=PASSWORD
        )


@asynccontextmanager
async def serving(tmp_path, database_url: str | None = None) -> AsyncIterator[Console]:
    settings = web_settings(tmp_path)
    settings.database.url = database_url
    async with running_app(settings) as app:
        assert app.web is not None
        c = Console(app=app, url=f"http://127.0.0.1:{app.web.port}")
        await c.account("刘主任", "书院路社区")
        await c.account(OTHER + "张干事", OTHER)
        await c.account("管理员", None, admin=True)
        yield c


@pytest.fixture
async def console(tmp_path):
    """The console on a SQLite file."""
    async with serving(tmp_path) as c:
        yield c


@pytest.fixture
async def console_any_db(tmp_path, db_url):
    """The console on a SQLite file, and on PostgreSQL."""
    async with serving(tmp_path, db_url) as c:
        yield c


_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


class Browserless:
    """An HTTP client signed in as one staff member. The session cookie is Secure, so (as a browser on plain
    http to a non-localhost name would) httpx keeps it back; it is sent by hand, as a browser on 127.0.0.1 does."""

    def __init__(self, base: str) -> None:
        self.http = httpx.AsyncClient(base_url=base, follow_redirects=False, timeout=20)
        self.cookies: dict[str, str] = {}
        self.csrf = ""

    def _headers(self) -> dict[str, str]:
        return {"cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())} if self.cookies else {}

    def _keep(self, r: httpx.Response) -> None:
        for header in r.headers.get_list("set-cookie"):
            name, _, rest = header.partition("=")
            value = rest.split(";", 1)[0]
            if "max-age=0" in header.lower() or 'expires=thu, 01 jan 1970' in header.lower() or value in ('""', ""):
                self.cookies.pop(name, None)
            else:
                self.cookies[name] = value

    async def get(self, url: str, **kw) -> httpx.Response:
        r = await self.http.get(url, headers=self._headers(), **kw)
        self._keep(r)
        if m := _CSRF.search(r.text):
            self.csrf = m.group(1)
        return r

    async def post(self, url: str, data: dict[str, str] | None = None, *, csrf: bool = True, **kw) -> httpx.Response:
        form = dict(data or {})
        if csrf:
            form.setdefault("csrf", self.csrf)
        r = await self.http.post(url, data=form, headers=self._headers(), **kw)
        self._keep(r)
        return r

    async def sign_in(self, name: str, password: str = PASSWORD) -> httpx.Response:
        page = await self.get("/login")
        pre = re.search(r'name="pre" value="([^"]+)"', page.text)
        assert pre is not None
        r = await self.post("/login", {"name": name, "password": password, "pre": pre.group(1)}, csrf=False)
        if r.status_code == 303:
            await self.get("/review")  # any page: its forms carry the session's token
        return r

    async def aclose(self) -> None:
        await self.http.aclose()


@pytest.fixture
async def client(console):
    clients: list[Browserless] = []

    async def make(name: str | None = None) -> Browserless:
        c = Browserless(console.url)
        clients.append(c)
        if name is not None:
            r = await c.sign_in(name)
            assert r.status_code == 303, r.text
        return c

    yield make
    for c in clients:
        await c.aclose()
