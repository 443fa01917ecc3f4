"""A client for the Node Wechaty harness (tests/harness/server.js): start it, drive it, read what the bot sent."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HARNESS_DIR = Path(__file__).resolve().parent.parent / "harness"
READY_PREFIX = "HARNESS_READY "
TOKEN = "insecure_linju_e2e_token"
STARTUP_DEADLINE = 60.0


class HarnessError(RuntimeError):
    """The harness could not be started."""


@dataclass
class Harness:
    """The Node harness process and its HTTP control API (see tests/harness/server.js)."""

    proc: subprocess.Popen[str]
    pump: threading.Thread
    http_url: str
    grpc_endpoint: str
    token: str
    bot: dict[str, str]
    contacts: dict[str, dict[str, str]]
    rooms: dict[str, dict[str, Any]]
    log_path: Path

    # -- blocking HTTP, run in a thread so the bot's event loop keeps going meanwhile

    def _request_sync(self, method: str, path: str, body: dict | None = None, timeout: float = 10) -> Any:
        data = json.dumps(body, ensure_ascii=False).encode() if body is not None else None
        req = urllib.request.Request(
            self.http_url + path, data=data, method=method, headers={"content-type": "application/json"}
        )
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                return json.loads(resp.read().decode())
        except urllib.error.HTTPError as exc:
            raise AssertionError(f"harness {method} {path} -> {exc.code}: {exc.read().decode()}") from exc

    async def request(self, method: str, path: str, body: dict | None = None, within: float = 10) -> Any:
        return await asyncio.wait_for(
            asyncio.to_thread(self._request_sync, method, path, body, within), within + 2
        )

    # -- acting as people

    async def say(
        self,
        sender: str,
        text: str,
        *,
        room: str | None = "leaders",
        at_bot: bool = False,
        mentions: list[str] | None = None,
        kind: str = "text",
        file: tuple[str, bytes] | None = None,
    ) -> str:
        """Post as contact `sender` (a key of `contacts`, e.g. "wangdajie") in `room` (a key; None: private).
        `file` (name, bytes) is the payload of a "voice" (a SILK recording) or "file" message."""
        body: dict[str, Any] = {
            "from": self.contacts[sender]["id"],
            "text": text,
            "kind": kind,
            "atBot": at_bot,
            "mentions": mentions or [],
        }
        if file is not None:
            body["file"] = {"name": file[0], "base64": base64.b64encode(file[1]).decode("ascii")}
        if room is not None:
            body["room"] = self.rooms[room]["id"]
        return (await self.request("POST", "/message", body))["id"]

    # -- what the bot sent

    async def sent(self, since: int = 0) -> list[dict[str, Any]]:
        return (await self.request("GET", f"/sent?since={since}"))["sent"]

    async def mark(self) -> int:
        """The current sequence number: pass it as `since` to see only what is sent from now on."""
        return (await self.request("GET", "/sent?since=1000000000"))["seq"]

    async def wait_sent(
        self,
        predicate: Callable[[dict[str, Any]], bool] = lambda r: True,
        *,
        since: int = 0,
        count: int = 1,
        within: float = 15,
    ) -> list[dict[str, Any]]:
        """Wait until `count` messages matching `predicate` were sent after `since`; fail after `within` s."""
        deadline = time.monotonic() + within
        while True:
            got = [r for r in await self.sent(since) if predicate(r)]
            if len(got) >= count:
                return got
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"waited {within}s for {count} sent message(s); got {got!r}; "
                    f"all sent: {await self.sent(since)!r}"
                )
            await asyncio.sleep(0.05)

    async def quiet_for(self, seconds: float, *, since: int) -> list[dict[str, Any]]:
        """What was sent after `since` within `seconds` (for "no reply" assertions)."""
        await asyncio.sleep(seconds)
        return await self.sent(since)

    async def rename_room(self, room: str, topic: str, *, by: str | None = None) -> None:
        """A member renames room `room` (a key of `rooms`): the puppet emits room-topic, as WeChat does."""
        body = {"room": self.rooms[room]["id"], "topic": topic}
        if by is not None:
            body["by"] = self.contacts[by]["id"]
        await self.request("POST", "/room/topic", body)

    async def rename_contact(self, who: str, name: str) -> None:
        """Contact `who` (a key of `contacts`) takes another display name."""
        await self.request("POST", "/contact/name", {"contact": self.contacts[who]["id"], "name": name})

    async def stop_server(self) -> None:
        await self.request("POST", "/server/stop")

    async def go_away_on_next_send(self) -> None:
        """Make the gateway fail the bot's next send and stop right then (restart with `start_server`)."""
        await self.request("POST", "/server/stop", {"onNextSend": True})

    async def refuse_sends(self, refuse: bool = True) -> None:
        """While on, the gateway fails every send of the bot (it stays up and keeps delivering messages)."""
        await self.request("POST", "/sends/refuse", {"refuse": refuse})

    async def delay_next_send(self, seconds: float) -> None:
        """The gateway carries out the bot's next send only after `seconds` (it does go out then)."""
        await self.request("POST", "/sends/delay", {"ms": int(seconds * 1000)})

    async def refused(self) -> int:
        """How many of the bot's sends the gateway refused since the last reset."""
        return (await self.request("GET", "/health"))["refused"]

    async def puppet_error(self, **payload: str) -> None:
        """Make the puppet emit an error event (`gerror=...`, or the older `data=...`)."""
        await self.request("POST", "/puppet/error", payload)

    async def start_server(self) -> None:
        await self.request("POST", "/server/start")

    async def reset(self) -> None:
        await self.request("POST", "/reset")
        health = await self.request("GET", "/health")
        if health["grpc"] != "running":
            await self.start_server()

    def bind(self, settings: Any) -> Any:
        """Settings with the harness's rooms and staff bound by their platform ids, as an operator binds them."""
        rooms = {r["topic"]: r["id"] for r in self.rooms.values()}
        for community in settings.communities:
            for room in community.rooms:
                room.id = rooms.get(room.name, room.id)
        people = {c["name"]: c["id"] for c in self.contacts.values()}
        for staff in settings.staff:
            staff.wechat_id = people.get(staff.name or "", staff.wechat_id)
        return settings

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(encoding="utf-8").splitlines()[-lines:])
        except OSError:
            return "(no harness log)"


@contextlib.asynccontextmanager
async def running_wechat_app(settings: Any, *, clock: Any = None) -> Any:
    """The app as `linju run` builds it with `channel: wechaty` (endpoint and token from the environment),
    logged in to the harness; stopped afterwards."""
    from bot.app import App
    from bot.channels.wechaty_channel import WechatyChannel, clear_wechaty_pools

    clear_wechaty_pools()
    channel = WechatyChannel(bot_name=settings.bot.name, data_dir=settings.data_dir)
    channel.retry_initial, channel.retry_max = 0.2, 1.0
    app = App(settings, channel=channel, clock=clock) if clock is not None else App(settings, channel=channel)
    await asyncio.wait_for(app.start(), 30)
    await channel.wait_ready(10)
    try:
        yield app
    finally:
        await asyncio.wait_for(app.stop(), 15)


def start_harness(node: str, log_path: Path) -> Harness:
    """Start server.js on free loopback ports and wait (bounded) for its readiness line."""
    if not (HARNESS_DIR / "node_modules" / "wechaty-puppet-service").is_dir():
        raise HarnessError(
            "tests/harness/node_modules is missing: run `make test` (or `cd tests/harness && npm ci --ignore-scripts`)"
        )
    proc = subprocess.Popen(
        [node, "server.js", "--grpc-port", "0", "--http-port", "0", "--token", TOKEN, "--exit-on-stdin-close"],
        cwd=HARNESS_DIR,
        stdin=subprocess.PIPE,  # the harness exits when this closes, so it never outlives us
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        encoding="utf-8",
        env={**os.environ, "WECHATY_LOG": os.environ.get("HARNESS_WECHATY_LOG", "warn")},
    )
    ready: dict[str, Any] = {}
    got_ready = threading.Event()

    def pump() -> None:
        assert proc.stdout is not None
        with log_path.open("w", encoding="utf-8") as out:
            for line in proc.stdout:
                out.write(line)
                out.flush()
                if line.startswith(READY_PREFIX) and not got_ready.is_set():
                    ready.update(json.loads(line[len(READY_PREFIX) :]))
                    got_ready.set()
        got_ready.set()  # process ended: unblock the wait below

    pumping = threading.Thread(target=pump, name="harness-log", daemon=True)
    pumping.start()
    if not got_ready.wait(STARTUP_DEADLINE) or not ready:
        stop_harness(proc, pumping)
        tail = log_path.read_text(encoding="utf-8") if log_path.exists() else ""
        raise HarnessError(
            f"the Node harness did not become ready within {STARTUP_DEADLINE}s:\n{tail[-3000:]}"
        )
    return Harness(
        proc=proc,
        pump=pumping,
        http_url=f"http://127.0.0.1:{ready['httpPort']}",
        grpc_endpoint=ready["grpcEndpoint"],
        token=ready["token"],
        bot=ready["bot"],
        contacts=ready["contacts"],
        rooms=ready["rooms"],
        log_path=log_path,
    )


def stop_harness(proc: subprocess.Popen[str], pump: threading.Thread | None = None) -> None:
    """Stop the one process we started: close its stdin (it exits), else SIGTERM, else SIGKILL; close pipes."""
    if proc.poll() is None:
        try:
            if proc.stdin:
                proc.stdin.close()
            proc.wait(timeout=5)
        except (subprocess.TimeoutExpired, OSError):
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
    if pump is not None:
        pump.join(timeout=5)
    for stream in (proc.stdin, proc.stdout):
        if stream is not None:
            with contextlib.suppress(OSError):
                stream.close()


async def eventually(
    check: Callable[[], Awaitable[bool]] | Callable[[], bool], *, within: float = 10, what: str = "condition"
) -> None:
    """Poll `check` until true; fail after `within` seconds."""
    deadline = time.monotonic() + within
    while True:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {within}s waiting for {what}")
        await asyncio.sleep(0.05)
