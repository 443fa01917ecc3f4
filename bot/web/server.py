"""Serving the console: its parts built from a running (or only opened) App, and uvicorn on the App's loop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Iterator
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import uvicorn

from bot.rooms import room_rules
from bot.web.app import create_app
from bot.web.deps import Web
from bot.wiring import build_candidates, build_intake, build_ticket_ops
from handlers.accounts import Accounts, Throttle
from handlers.desk import Desk

if TYPE_CHECKING:
    from fastapi import FastAPI

    from bot.app import App

log = logging.getLogger(__name__)


def build_web(app: App) -> Web:
    """The console's parts on the App's database, understanding and privacy module (App.open() first)."""
    assert app.dispatcher is not None and app.understanding is not None, "open() the app first"
    s = app.settings
    ops = build_ticket_ops(s, app.understanding, app.privacy)
    candidates = build_candidates(s, build_intake(s, app.understanding), app.privacy)
    sessions = app.dispatcher.sessions
    desk = Desk(
        sessions=sessions, ops=ops, candidates=candidates, classify=app.understanding.classify,
        channel=app.capabilities, privacy=app.privacy, on_queued=app.flush_soon, clock=app.clock,
        report_sessions=app.report_sessions(),
    )
    accounts = Accounts(
        sessions, session_hours=s.web.session_hours, throttle=Throttle(limit=s.web.login_attempts), clock=app.clock
    )
    return Web(desk=desk, accounts=accounts, secure_cookies=s.web.secure_cookies,
               timezone=ZoneInfo(s.schedule.timezone),
               extra={"data_dir": s.data_dir, "room_rules": room_rules(s, app.capabilities)})


class _Server(uvicorn.Server):
    """uvicorn without its signal handlers: `linju run` and `linju web` stop on signals themselves, and stop this."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class WebServer:
    """uvicorn serving the console as a task on the running loop (`linju run` with web.enabled, `linju web`)."""

    def __init__(self, asgi: FastAPI, *, host: str, port: int) -> None:
        self.config = uvicorn.Config(asgi, host=host, port=port, log_level="warning", access_log=False, lifespan="off")
        self.server = _Server(self.config)
        self._task: asyncio.Task | None = None
        self._socket: socket.socket | None = None

    @property
    def port(self) -> int:
        assert self._socket is not None, "start() first"
        return self._socket.getsockname()[1]

    async def start(self) -> None:
        sock = socket.socket(socket.AF_INET6 if ":" in self.config.host else socket.AF_INET)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.config.host, self.config.port))  # bound here: a port in use fails start-up, not later
        sock.set_inheritable(True)
        self._socket = sock
        self._task = asyncio.create_task(self.server.serve(sockets=[sock]), name="web-console")
        while not self.server.started:
            if self._task.done():
                self._task.result()  # raises what stopped it
            await asyncio.sleep(0.02)
        log.info("web console on http://%s:%d/", self.config.host, self.port)

    async def stop(self) -> None:
        if self._task is None:
            return
        self.server.should_exit = True
        try:
            await asyncio.wait_for(self._task, timeout=10)
        except TimeoutError:
            self._task.cancel()
        self._task = None
        if self._socket is not None:
            self._socket.close()


async def serve(app: App, *, host: str | None = None, port: int | None = None) -> WebServer:
    s = app.settings.web
    app.web_parts = build_web(app)
    server = WebServer(create_app(app.web_parts), host=host or s.host, port=s.port if port is None else port)
    await server.start()
    return server
