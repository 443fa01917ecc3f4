"""A local WebSocket server that speaks WeCom's smart-robot protocol, for tests (loopback only).

What it does is what WeCom's official Node SDK (`@wecom/aibot-node-sdk`, src/ws.ts and src/client.ts) expects of
wss://openws.work.weixin.qq.com, and tests/wecom/test_conformance.py runs that SDK against it:

- frames are JSON `{cmd, headers: {req_id}, body}`; every request is answered by `{headers: {req_id}, errcode,
  errmsg}` (no cmd) on the request's req_id (uploads also carry a `body`);
- `aibot_subscribe` with `{bot_id, secret}` is checked against the configured pair (errcode 0, or
  AUTH_FAILED and the link closed);
- `ping` is acked (unless `answer_pings` is off, to make the client notice a dead link);
- `aibot_msg_callback` / `aibot_event_callback` frames are delivered on demand (`deliver_text`, `deliver_event`);
- `aibot_respond_msg` / `aibot_respond_welcome_msg` are accepted only on the req_id of a callback delivered
  before (else UNKNOWN_REQ_ID); `aibot_send_msg` needs a chatid; uploads (`aibot_upload_media_init` / `_chunk` /
  `_finish`) are assembled and checked against their md5;
- every frame received is recorded (`frames`, `responds`, `sends`), the link can be dropped (`drop`), and
  answers can be withheld (`ack_replies = False`) or refused (`refuse_replies`).

Error codes other than 0 are this server's own (WeCom's real ones are not in the SDK).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import itertools
import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed

AUTH_FAILED = 40058
UNKNOWN_REQ_ID = 846605
REFUSED = 600039
BAD_REQUEST = 40001


@dataclass
class Frame:
    """A frame the server received, with the connection it came on (1, 2, ... in order of connection)."""

    conn: int
    cmd: str
    req_id: str
    body: dict[str, Any]
    at: float = field(default_factory=time.monotonic)
    errcode: int | None = None  # what the server answered (None: not answered)


class WecomServer:
    def __init__(self, bot_id: str = "test-bot-id", secret: str = "test-secret") -> None:
        self.bot_id = bot_id
        self.secret = secret
        self.frames: list[Frame] = []
        self.answer_pings = True
        self.ack_replies = True
        self.refuse_replies = 0  # refuse this many replies/sends (errcode REFUSED), then accept again
        self.accepting = True  # False: new connections are closed at once (an outage)
        self.connections = 0
        self.connected_at: list[float] = []  # when each connection came (time.monotonic)
        self.subscribed = 0
        self.uploads: dict[str, dict[str, Any]] = {}
        self.media: dict[str, dict[str, Any]] = {}
        self._delivered: set[str] = set()  # callback req_ids the client may answer
        self._live: dict[int, ServerConnection] = {}
        self._authed: set[int] = set()
        self._server: Server | None = None
        self._n = itertools.count(1)
        self._changed = asyncio.Event()
        self.url = ""

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> WecomServer:
        self._server = await serve(self._handle, "127.0.0.1", 0, ping_interval=None, max_size=8 * 2**20)
        port = next(iter(self._server.sockets)).getsockname()[1]
        self.url = f"ws://127.0.0.1:{port}"
        return self

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def __aenter__(self) -> WecomServer:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # ------------------------------------------------------------------ what the client sent

    def of(self, cmd: str) -> list[Frame]:
        return [f for f in self.frames if f.cmd == cmd]

    @property
    def responds(self) -> list[Frame]:
        return self.of("aibot_respond_msg")

    @property
    def sends(self) -> list[Frame]:
        return self.of("aibot_send_msg")

    def delivered(self, cmd: str = "") -> list[Frame]:
        """Replies and pushes the server accepted (errcode 0), optionally of one cmd."""
        replies = ("aibot_respond_msg", "aibot_send_msg", "aibot_respond_welcome_msg")
        return [f for f in self.frames if f.cmd in ((cmd,) if cmd else replies) and f.errcode == 0]

    @property
    def pings(self) -> list[Frame]:
        return self.of("ping")

    @property
    def authenticated(self) -> bool:
        return bool(self._authed)

    async def wait_for(self, check: Callable[[], Any], *, within: float = 10.0, what: str = "the condition") -> Any:
        """Wait until `check()` is truthy (re-checked on every frame and connection change); its value."""
        deadline = time.monotonic() + within
        while True:
            value = check()
            if value:
                return value
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"timed out after {within}s waiting for {what}; frames: {self.summary()}")
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(min(left, 0.2)):
                    await self._changed.wait()

    async def wait_authenticated(self, within: float = 10.0) -> None:
        await self.wait_for(lambda: self._authed, within=within, what="a subscribed client")

    def summary(self) -> list[str]:
        return [f"{f.conn}:{f.cmd}:{f.req_id}" for f in self.frames[-30:]]

    # ------------------------------------------------------------------ what the server sends

    async def deliver_text(
        self,
        userid: str,
        content: str,
        *,
        chatid: str | None = None,
        msgid: str | None = None,
        msgtype: str = "text",
        extra: dict[str, Any] | None = None,
    ) -> str:
        """An `aibot_msg_callback` with a text (or, with `msgtype`/`extra`, any) message; returns its req_id.
        A group message when `chatid` is given, else a private chat."""
        body: dict[str, Any] = {
            "msgid": msgid or f"msg{secrets.token_hex(8)}",
            "aibotid": self.bot_id,
            "chattype": "group" if chatid else "single",
            "from": {"userid": userid},
            "create_time": int(time.time() * 1000),
            "msgtype": msgtype,
        }
        if chatid:
            body["chatid"] = chatid
        if msgtype == "text":
            body["text"] = {"content": content}
        body.update(extra or {})
        return await self.deliver("aibot_msg_callback", body)

    async def deliver_event(
        self, userid: str, eventtype: str, *, chatid: str | None = None, extra: dict[str, Any] | None = None
    ) -> str:
        body: dict[str, Any] = {
            "msgid": f"evt{secrets.token_hex(8)}",
            "create_time": int(time.time()),
            "aibotid": self.bot_id,
            "chattype": "group" if chatid else "single",
            "from": {"userid": userid},
            "msgtype": "event",
            "event": {"eventtype": eventtype, **(extra or {})},
        }
        if chatid:
            body["chatid"] = chatid
        return await self.deliver("aibot_event_callback", body)

    async def deliver(self, cmd: str, body: dict[str, Any]) -> str:
        """Send a callback frame to the (one) subscribed client; returns its req_id."""
        await self.wait_authenticated()
        conn = max(self._authed)
        req_id = f"{cmd}_{int(time.time() * 1000)}_{secrets.token_hex(4)}"
        self._delivered.add(req_id)
        await self._live[conn].send(_dumps({"cmd": cmd, "headers": {"req_id": req_id}, "body": body}))
        return req_id

    async def drop(self) -> None:
        """Cut every link without a closing handshake, as a network failure does."""
        for ws in list(self._live.values()):
            ws.transport.abort()
        await self.wait_for(lambda: not self._live, within=5, what="the links to drop")

    # ------------------------------------------------------------------ the protocol

    async def _handle(self, ws: ServerConnection) -> None:
        conn = next(self._n)
        self.connections += 1
        self.connected_at.append(time.monotonic())
        if not self.accepting:
            ws.transport.abort()
            self._notify()
            return
        self._live[conn] = ws
        self._notify()
        try:
            async for raw in ws:
                try:
                    frame = json.loads(raw)
                    cmd = str(frame.get("cmd") or "")
                    req_id = str((frame.get("headers") or {}).get("req_id") or "")
                    body = frame.get("body") or {}
                except (ValueError, AttributeError):
                    continue
                received = Frame(conn, cmd, req_id, body if isinstance(body, dict) else {})
                self.frames.append(received)
                await self._answer(_Answer(ws, received), conn, cmd, req_id, received.body)
                self._notify()
        except ConnectionClosed:
            pass
        finally:
            self._live.pop(conn, None)
            self._authed.discard(conn)
            self._notify()

    async def _answer(self, answer: _Answer, conn: int, cmd: str, req_id: str, body: Any) -> None:
        if cmd == "aibot_subscribe":
            if body.get("bot_id") == self.bot_id and body.get("secret") == self.secret:
                self._authed.add(conn)
                self.subscribed += 1
                await answer.ack(req_id)
            else:
                await answer.ack(req_id, AUTH_FAILED, "invalid bot_id or secret")
                await answer.close()
            return
        if conn not in self._authed:
            await answer.ack(req_id, AUTH_FAILED, "not subscribed")
            return
        if cmd == "ping":
            if self.answer_pings:
                await answer.ack(req_id)
            return
        if cmd in ("aibot_respond_msg", "aibot_respond_welcome_msg", "aibot_send_msg"):
            if not self.ack_replies:
                return
            if cmd != "aibot_send_msg" and req_id not in self._delivered:
                await answer.ack(req_id, UNKNOWN_REQ_ID, "invalid req_id")
                return
            if cmd == "aibot_send_msg" and not body.get("chatid"):
                await answer.ack(req_id, BAD_REQUEST, "chatid required")
                return
            if self.refuse_replies > 0:
                self.refuse_replies -= 1
                await answer.ack(req_id, REFUSED, "refused by the test server")
                return
            await answer.ack(req_id)
            return
        if cmd == "aibot_upload_media_init":
            upload_id = f"up{secrets.token_hex(6)}"
            self.uploads[upload_id] = {**body, "chunks": {}}
            await answer.ack(req_id, body={"upload_id": upload_id})
            return
        if cmd == "aibot_upload_media_chunk":
            upload = self.uploads.get(body.get("upload_id"))
            if upload is None:
                await answer.ack(req_id, BAD_REQUEST, "unknown upload_id")
                return
            upload["chunks"][int(body.get("chunk_index", -1))] = base64.b64decode(body.get("base64_data") or "")
            await answer.ack(req_id)
            return
        if cmd == "aibot_upload_media_finish":
            upload = self.uploads.pop(body.get("upload_id"), None)
            if upload is None:
                await answer.ack(req_id, BAD_REQUEST, "unknown upload_id")
                return
            chunks = upload["chunks"]
            data = b"".join(chunks[i] for i in sorted(chunks))
            complete = sorted(chunks) == list(range(int(upload.get("total_chunks") or 0)))
            if not complete or len(data) != upload.get("total_size") or (
                upload.get("md5") and hashlib.md5(data).hexdigest() != upload["md5"]
            ):
                await answer.ack(req_id, BAD_REQUEST, "upload incomplete or corrupt")
                return
            media_id = f"media{secrets.token_hex(6)}"
            self.media[media_id] = {"type": upload.get("type"), "filename": upload.get("filename"), "data": data}
            await answer.ack(req_id, body={"type": upload.get("type"), "media_id": media_id, "created_at": str(int(time.time()))})
            return
        await answer.ack(req_id, BAD_REQUEST, f"unknown cmd {cmd!r}")

    def _notify(self) -> None:
        self._changed.set()


class _Answer:
    """Answers one received frame, and notes on it what was answered."""

    def __init__(self, ws: ServerConnection, frame: Frame) -> None:
        self.ws = ws
        self.frame = frame

    async def ack(self, req_id: str, errcode: int = 0, errmsg: str = "ok", body: dict[str, Any] | None = None) -> None:
        answer: dict[str, Any] = {"headers": {"req_id": req_id}, "errcode": errcode, "errmsg": errmsg}
        if body is not None:
            answer["body"] = body
        self.frame.errcode = errcode
        with contextlib.suppress(ConnectionClosed):
            await self.ws.send(_dumps(answer))

    async def close(self) -> None:
        await self.ws.close()


def _dumps(frame: dict[str, Any]) -> str:
    return json.dumps(frame, ensure_ascii=False)
