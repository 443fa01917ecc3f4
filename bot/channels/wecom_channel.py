"""The WeCom channel: linju as a WeCom smart robot (企业微信智能机器人) over its long-lived WebSocket.

The protocol, as WeCom's official Node SDK (`@wecom/aibot-node-sdk`, src/ws.ts) speaks it: every frame is JSON
`{cmd, headers: {req_id}, body}`. After connecting, `aibot_subscribe` with the bot id and secret; answers to it,
to heartbeats and to every request are `{headers: {req_id}, errcode, errmsg}` (no cmd), matched by req_id.
A `ping` every 30 s; two unanswered in a row and the link counts as dead. Reconnection with exponential
back-off, 1 s doubling to 30 s. Inbound `aibot_msg_callback` (a message that @-mentions the robot in a group,
or any message in a private chat) and `aibot_event_callback` (enter_chat, template_card_event, ...).
A message is answered with `aibot_respond_msg` on *its callback's* req_id; anything else (urgent alerts,
digests, notices) goes by `aibot_send_msg` to a chatid (a group) or a userid (a private chat). Files are
uploaded first (`aibot_upload_media_init` / `_chunk` / `_finish`) and sent by their media_id.

Built on `websockets` (asyncio-native and well kept) rather than a community Python SDK of unverified
provenance. Like the wechaty channel, `send` returns only once WeCom acknowledged every part (errcode 0) and
raises otherwise, so the app's database outbox stays the only queue of replies.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
import logging
import math
import re
import secrets
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.channels.base import Channel, OnMessage
from bot.config import ConfigError
from handlers.types import Capabilities, IncomingMessage, MessageKind, Reply

if TYPE_CHECKING:
    from websockets.asyncio.client import ClientConnection

    from bot.channels.registry import ChannelOptions
    from bot.config import Settings

log = logging.getLogger(__name__)

DEFAULT_URL = "wss://openws.work.weixin.qq.com"
BOT_ID_ENV = "LINJU_WECOM__BOT_ID"
SECRET_ENV = "LINJU_WECOM__SECRET"
MAX_CONTENT_BYTES = 20_480  # of one stream or markdown content, UTF-8 (src/types/api.ts)
CHUNK_BYTES = 512 * 1024  # of one upload chunk before base64 (src/client.ts uploadMedia)
MAX_CHUNKS = 100
MAX_MISSED_PONGS = 2

SUBSCRIBE = "aibot_subscribe"
PING = "ping"
RESPOND = "aibot_respond_msg"
RESPOND_WELCOME = "aibot_respond_welcome_msg"
SEND = "aibot_send_msg"
UPLOAD_INIT, UPLOAD_CHUNK, UPLOAD_FINISH = "aibot_upload_media_init", "aibot_upload_media_chunk", "aibot_upload_media_finish"
MSG_CALLBACK = "aibot_msg_callback"
EVENT_CALLBACK = "aibot_event_callback"

_PLACEHOLDERS: dict[str, str] = {"image": "[图片]", "voice": "[语音]", "file": "[文件]", "video": "[视频]", "other": "[其他消息]"}
_IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg"}


class WecomChannelError(ConfigError):
    """The channel is misconfigured (no bot id or secret, or WeCom refused them); the CLI prints it plainly."""


class WecomRefused(RuntimeError):
    """WeCom answered a request with a non-zero errcode."""

    def __init__(self, cmd: str, errcode: Any, errmsg: Any) -> None:
        super().__init__(f"WeCom refused {cmd}: errcode={errcode} {errmsg or ''}".rstrip())
        self.errcode = errcode


class _AuthFailed(Exception):
    pass


class _Redact(logging.Filter):
    """Keeps the secret out of any record (websockets logs every frame at DEBUG, the subscribe frame included)."""

    def __init__(self, secret: str) -> None:
        super().__init__()
        self.secret = secret

    def filter(self, record: logging.LogRecord) -> bool:
        if self.secret:
            message = record.getMessage()
            if self.secret in message:
                record.msg, record.args = message.replace(self.secret, "***"), None
        return True


@dataclass(slots=True)
class _Callback:
    """A message callback not yet answered: its req_id is where the answer goes."""

    req_id: str
    at: float


def new_req_id(prefix: str) -> str:
    """`{prefix}_{milliseconds}_{random}`, the form the SDK's generateReqId uses (acks are matched by it)."""
    return f"{prefix}_{int(time.time() * 1000)}_{secrets.token_hex(4)}"


def split_bytes(text: str, limit: int = MAX_CONTENT_BYTES) -> list[str]:
    """Split `text` into pieces of at most `limit` UTF-8 bytes, on line boundaries where possible, in order."""
    if len(text.encode("utf-8")) <= limit:
        return [text]
    chunks: list[str] = []
    current, size = "", 0
    for line in text.splitlines(keepends=True):
        n = len(line.encode("utf-8"))
        if size + n > limit and current:
            chunks.append(current)
            current, size = "", 0
        while n > limit:  # one line longer than a message: cut it by characters
            piece, used = [], 0
            for ch in line:
                b = len(ch.encode("utf-8"))
                if used + b > limit:
                    break
                piece.append(ch)
                used += b
            chunks.append("".join(piece))
            line = line[len(piece) :]
            n = len(line.encode("utf-8"))
        current += line
        size += n
    if current:
        chunks.append(current)
    return [c.rstrip("\n") for c in chunks if c.strip()]


class WecomChannel(Channel):
    """WeCom's smart robot, the same Channel shape as the console and wechaty channels.

    A supervisor task owns the link: connect, subscribe, then read frames and send heartbeats until the link
    drops or two heartbeats go unanswered, then reconnect with back-off. Messages are queued in arrival order
    and handed to the app one at a time by a second task, so acks keep being read while the app works.
    """

    name = "wecom"
    # Ids are WeCom's (userid, chatid). In groups the robot only receives messages that @-mention it. It can
    # push (aibot_send_msg) to any chat it is in. WeCom's push rate for the smart robot is not stated in the
    # SDK; 20 a minute is the documented limit of WeCom's group (webhook) robots, taken as the safe side.
    # What the app may put in one message: a CJK character is 3 bytes in UTF-8; `send` splits by bytes anyway.
    # Voice arrives transcribed by WeCom; images come as an encrypted short-lived URL, not downloaded yet.
    capabilities = Capabilities(
        source="wecom",
        ids_trustworthy=True,
        sees_all_messages=False,
        can_push=True,
        max_text_length=MAX_CONTENT_BYTES // 3,
        markdown=True,
        downloads_images=False,
        voice="text",
        sends_per_minute=20,
        send_burst=10,
        buttons=True,
    )

    def __init__(
        self,
        bot_id: str,
        secret: str,
        *,
        url: str = DEFAULT_URL,
        bot_name: str = "邻聚小助手",
        ping_seconds: float = 30.0,
        retry_initial: float = 1.0,
        retry_max: float = 30.0,
        ack_timeout: float = 5.0,
        start_timeout: float = 15.0,
        answer_within: float = 300.0,
        welcome: str | None = None,
    ) -> None:
        bot_id, secret = (bot_id or "").strip(), (secret or "").strip()
        if not bot_id or not secret:
            raise WecomChannelError(
                f"the wecom channel needs the smart robot's bot id and secret in {BOT_ID_ENV} and {SECRET_ENV} "
                "(both shown in the WeCom admin console for the smart robot; see docs/wecom.md)"
            )
        self.bot_id = bot_id
        self._secret = secret
        self.url = url
        self.bot_name = bot_name
        self.ping_seconds = ping_seconds
        self.retry_initial = retry_initial
        self.retry_max = retry_max
        self.ack_timeout = ack_timeout
        self.start_timeout = start_timeout
        # How long a message's callback may still be answered on its req_id; later answers are pushed. The SDK
        # does not say how long WeCom keeps a req_id answerable, so this stays short.
        self.answer_within = answer_within
        self.welcome = welcome or (
            f"您好，我是{bot_name}。在群里@我说说小区里的问题，比如“@{bot_name} 4栋楼道灯坏了”，"
            "我会登记成工单并告诉您编号；发“查询 编号”可以看进度。"
        )
        self.on_connected: Callable[[], Awaitable[object]] | None = None

        self._on_message: OnMessage | None = None
        self._ws: ClientConnection | None = None
        self._pending: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._pings: set[str] = set()
        self._missed = 0
        self._callbacks: dict[tuple[str | None, str], _Callback] = {}
        self._seen: deque[str] = deque(maxlen=2000)
        self._inbound: asyncio.Queue[IncomingMessage] | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._reader: asyncio.Task[None] | None = None
        self._side: set[asyncio.Task[Any]] = set()
        self._send_lock: asyncio.Lock | None = None
        self._up: asyncio.Event | None = None
        self._closed: asyncio.Event | None = None
        self._first_auth: asyncio.Future[None] | None = None
        self._closing = False
        self._starting = False  # start() is waiting for the first subscription
        self._outage: str | None = None
        self._dead: str | None = None  # why the heartbeat gave the link up
        self._redact = _Redact(secret)
        self._ws_log = logging.getLogger(f"{__name__}.ws")
        self._ws_log.addFilter(self._redact)
        log.addFilter(self._redact)

    @classmethod
    def from_settings(cls, settings: Settings, options: ChannelOptions | None = None) -> WecomChannel:
        """The channel as `linju run` builds it: URL and heartbeat from the config, id and secret from the environment."""
        w = settings.wecom
        return cls(
            bot_id=w.bot_id.get_secret_value() if w.bot_id else "",
            secret=w.secret.get_secret_value() if w.secret else "",
            url=w.url,
            bot_name=settings.bot.name,
            ping_seconds=w.ping_seconds,
        )

    def __repr__(self) -> str:  # never show the secret
        return f"WecomChannel(url={self.url!r}, bot_id={self.bot_id!r})"

    @property
    def connected(self) -> bool:
        """True while the link is up and WeCom accepted the subscription."""
        return self._up is not None and self._up.is_set()

    # ------------------------------------------------------------------ lifecycle

    async def start(self, on_message: OnMessage) -> None:
        """Connect and begin delivering messages; returns once subscribed, or after `start_timeout` (still
        retrying in the background). Raises WecomChannelError if WeCom refuses the first subscription."""
        self._ensure_events()
        assert self._first_auth is not None
        self._on_message = on_message
        self._inbound = asyncio.Queue()
        loop = asyncio.get_running_loop()
        self._tasks = [
            loop.create_task(self._supervise(), name="wecom-supervisor"),
            loop.create_task(self._consume(), name="wecom-inbound"),
        ]
        log.info("WeCom: connecting to %s as bot %s", self.url, self.bot_id)
        self._starting = True
        try:
            async with asyncio.timeout(self.start_timeout):
                await asyncio.shield(self._first_auth)
        except TimeoutError:
            log.warning(
                "WeCom: not subscribed after %.0f s; still trying in the background; replies wait in the outbox",
                self.start_timeout,
            )
        except WecomChannelError:
            await self.close()
            raise
        finally:
            self._starting = False

    async def wait_ready(self, within: float) -> None:
        self._ensure_events()
        assert self._up is not None
        async with asyncio.timeout(within):
            await self._up.wait()

    async def wait_closed(self) -> None:
        self._ensure_events()
        assert self._closed is not None
        await self._closed.wait()

    async def close(self) -> None:
        """Stop receiving and drop the link; unsent replies are the app's outbox's to keep."""
        if self._closing:
            return
        self._closing = True
        self._ensure_events()
        assert self._up is not None and self._closed is not None
        self._up.clear()
        ws = self._ws
        if ws is not None:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(2):
                    await ws.close()
        pending = {t for t in [*self._tasks, *self._side] if not t.done()}
        for task in pending:
            task.cancel()
        if pending:
            _, stuck = await asyncio.wait(pending, timeout=5)
            if stuck:
                log.warning("WeCom channel: %d tasks did not stop", len(stuck))
        self._tasks = []
        self._fail_pending(ConnectionError("the WeCom channel closed"))
        log.info("WeCom channel closed")
        self._ws_log.removeFilter(self._redact)
        log.removeFilter(self._redact)
        self._closed.set()

    def _ensure_events(self) -> None:
        if self._up is None:
            self._up = asyncio.Event()
            self._closed = asyncio.Event()
            self._send_lock = asyncio.Lock()
            self._first_auth = asyncio.get_running_loop().create_future()

    # ------------------------------------------------------------------ the link

    async def _supervise(self) -> None:
        from websockets.asyncio.client import connect
        from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI

        delay = self.retry_initial
        while not self._closing:
            subscribed = False
            try:
                async with connect(
                    self.url,
                    ping_interval=None,  # the protocol's own heartbeat (`ping` frames) is the liveness check
                    open_timeout=10,
                    close_timeout=2,
                    max_size=4 * 2**20,
                    logger=self._ws_log,
                ) as ws:
                    self._ws = ws
                    await self._subscribe(ws)
                    subscribed = True
                    await self._session(ws)
                reason = "the link closed"
            except asyncio.CancelledError:
                raise
            except InvalidURI as exc:
                self._fail_first(WecomChannelError(f"LINJU_WECOM__URL is not a WebSocket URL: {exc}"))
                break
            except _AuthFailed as exc:
                reason = str(exc)
                if self._fail_first(WecomChannelError(f"WeCom refused the subscription: {exc}")):
                    break
            except (OSError, TimeoutError, InvalidHandshake, ConnectionError, ConnectionClosed) as exc:
                reason = _describe(exc)
            except Exception as exc:
                log.exception("WeCom channel: unexpected error on the link")
                reason = _describe(exc)
            finally:
                self._link_down()
            if self._dead:
                reason, self._dead = self._dead, None
            if self._closing:
                break
            if subscribed:
                delay = self.retry_initial  # the back-off starts again after a session that was up
            if self._outage != reason:
                log.warning("WeCom disconnected (%s); reconnecting with back-off", reason)
                self._outage = reason
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.retry_max)

    async def _subscribe(self, ws: ClientConnection) -> None:
        req_id = new_req_id(SUBSCRIBE)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[req_id] = future
        reader = asyncio.create_task(self._read(ws), name="wecom-reader")
        self._side.add(reader)
        reader.add_done_callback(self._side.discard)
        try:
            await ws.send(_dumps({"cmd": SUBSCRIBE, "headers": {"req_id": req_id}, "body": {"bot_id": self.bot_id, "secret": self._secret}}))
            async with asyncio.timeout(self.ack_timeout * 2):
                waiting: set[asyncio.Future[Any]] = {future, reader}
                done, _ = await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
            if future not in done:
                reader.result()  # raises the link's error
                raise ConnectionError("the link closed before the subscription was answered")
            ack = future.result()
        except BaseException:
            reader.cancel()
            raise
        finally:
            self._pending.pop(req_id, None)
        if ack.get("errcode") != 0:
            reader.cancel()
            raise _AuthFailed(f"errcode={ack.get('errcode')} {ack.get('errmsg') or ''}".rstrip())
        self._reader = reader
        assert self._up is not None and self._first_auth is not None
        self._missed = 0
        self._up.set()
        if not self._first_auth.done():
            self._first_auth.set_result(None)
        if self._outage is not None:
            log.info("WeCom reconnected")
        self._outage = None
        log.info("WeCom connected: subscribed as bot %s", self.bot_id)
        if self.on_connected is not None:
            self._spawn(self._run_on_connected(), "wecom-on-connected")

    async def _session(self, ws: ClientConnection) -> None:
        """Read (the reader task started at subscription) and heartbeat until the link drops or goes quiet."""
        reader = self._reader
        assert reader is not None
        heartbeat = asyncio.create_task(self._heartbeat(ws), name="wecom-heartbeat")
        try:
            done, _ = await asyncio.wait({reader, heartbeat}, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                task.result()
        finally:
            heartbeat.cancel()
            reader.cancel()
            await asyncio.gather(heartbeat, reader, return_exceptions=True)
            self._reader = None

    async def _heartbeat(self, ws: ClientConnection) -> None:
        while True:
            await asyncio.sleep(self.ping_seconds)
            if self._missed >= MAX_MISSED_PONGS:
                log.warning("WeCom: %d heartbeats in a row went unanswered; the link counts as dead", self._missed)
                self._dead = "heartbeats unanswered"
                with contextlib.suppress(Exception):
                    ws.transport.abort()
                raise ConnectionError("heartbeats unanswered")
            req_id = new_req_id(PING)
            self._pings.add(req_id)
            self._missed += 1
            await ws.send(_dumps({"cmd": PING, "headers": {"req_id": req_id}}))

    async def _read(self, ws: ClientConnection) -> None:
        async for raw in ws:
            try:
                frame = json.loads(raw)
            except (TypeError, ValueError):
                log.warning("WeCom sent a frame that is not JSON; ignored")
                continue
            if not isinstance(frame, dict):
                continue
            try:
                self._dispatch(frame)
            except Exception:
                log.exception("WeCom channel: handling a %s frame failed", frame.get("cmd") or "reply")

    def _dispatch(self, frame: dict[str, Any]) -> None:
        cmd = frame.get("cmd") or ""
        req_id = str((frame.get("headers") or {}).get("req_id") or "")
        if cmd == MSG_CALLBACK:
            self._on_callback(req_id, frame.get("body") or {})
        elif cmd == EVENT_CALLBACK:
            self._on_event(req_id, frame.get("body") or {})
        elif not cmd:
            if req_id in self._pings:
                self._pings.discard(req_id)
                if frame.get("errcode") == 0:
                    self._missed = 0
                return
            future = self._pending.pop(req_id, None)
            if future is not None and not future.done():
                future.set_result(frame)
            elif req_id.startswith(PING):
                log.debug("WeCom: a late heartbeat ack")
            else:
                log.debug("WeCom: an answer to no request (req_id %s); ignored", req_id)
        else:
            log.debug("WeCom: frame %s ignored", cmd)

    def _link_down(self) -> None:
        assert self._up is not None
        self._up.clear()
        self._ws = None
        self._pings.clear()
        self._fail_pending(ConnectionError("the WeCom link dropped before WeCom answered"))

    def _fail_pending(self, exc: BaseException) -> None:
        pending, self._pending = self._pending, {}
        for future in pending.values():
            if not future.done():
                future.set_exception(exc)

    def _fail_first(self, exc: WecomChannelError) -> bool:
        """Report a failure of the very first attempt to `start`; True if start() was waiting for it."""
        first = self._first_auth
        if self._starting and first is not None and not first.done():
            first.set_exception(exc)
            return True
        log.error("%s", exc)
        return False

    async def _run_on_connected(self) -> None:
        assert self.on_connected is not None
        try:
            await self.on_connected()
        except Exception:
            log.exception("WeCom: sending what the outbox kept failed; the app retries")

    def _spawn(self, coro: Awaitable[Any], name: str) -> None:
        task = asyncio.ensure_future(coro)
        task.set_name(name)
        self._side.add(task)
        task.add_done_callback(self._side.discard)

    # ------------------------------------------------------------------ inbound

    def _on_callback(self, req_id: str, body: dict[str, Any]) -> None:
        msg = self.parse_message(body)
        if msg is None:
            return
        key = (msg.room_id, msg.sender_id)
        self._callbacks[key] = _Callback(req_id=req_id, at=time.monotonic())
        if msg.message_id in self._seen:
            log.debug("WeCom redelivered message %s", msg.message_id)
        self._seen.append(msg.message_id)
        assert self._inbound is not None
        self._inbound.put_nowait(msg)

    def parse_message(self, body: dict[str, Any]) -> IncomingMessage | None:
        """An `aibot_msg_callback` body as the app's IncomingMessage (None if it names no sender)."""
        sender = str((body.get("from") or {}).get("userid") or "")
        msgid = str(body.get("msgid") or "")
        if not sender or not msgid:
            log.warning("WeCom sent a message without a sender or msgid; ignored")
            return None
        group = body.get("chattype") == "group"
        room_id = (str(body.get("chatid") or "") or None) if group else None
        msgtype = str(body.get("msgtype") or "")
        kind: MessageKind
        text = ""
        if msgtype == "text":
            kind, text = "text", str((body.get("text") or {}).get("content") or "")
        elif msgtype == "voice":
            # WeCom transcribes voice itself: the transcript is what was said.
            text = str((body.get("voice") or {}).get("content") or "")
            kind = "text" if text.strip() else "voice"
        elif msgtype == "mixed":
            items = (body.get("mixed") or {}).get("msg_item") or []
            text = "\n".join(
                str((i.get("text") or {}).get("content") or "") for i in items if i.get("msgtype") == "text"
            ).strip()
            kind = "text" if text else "image"
        elif msgtype in ("image", "file", "video"):
            kind = msgtype  # type: ignore[assignment]
        else:
            kind = "other"
        if kind == "text":
            text = self.strip_mention(text) if group else text.strip()
        else:
            text = _PLACEHOLDERS.get(kind, "[其他消息]")
        return IncomingMessage(
            message_id=msgid,
            sender_id=sender,
            sender_name=sender,  # the protocol names nobody; the userid is the name the bot can show
            text=text,
            room_id=room_id,
            room_topic=None,
            mentioned_bot=True,  # in a group the robot only receives what @-mentions it; a private chat is to it
            kind=kind,
            timestamp=_timestamp(body.get("create_time")),
        )

    def parse_button(self, body: dict[str, Any]) -> IncomingMessage | None:
        """A `template_card_event` as the message its button stands for (None without a sender or a key)."""
        sender = str((body.get("from") or {}).get("userid") or "")
        key = str((body.get("event") or {}).get("event_key") or "").strip()
        msgid = str(body.get("msgid") or "")
        if not sender or not key or not msgid:
            return None
        group = body.get("chattype") == "group"
        return IncomingMessage(
            message_id=msgid,
            sender_id=sender,
            sender_name=sender,
            text=key[:200],
            room_id=(str(body.get("chatid") or "") or None) if group else None,
            mentioned_bot=True,
            timestamp=_timestamp(body.get("create_time")),
        )

    def strip_mention(self, text: str) -> str:
        """Remove the robot's @-mention: "@邻聚小助手 4栋楼道灯坏了" is "4栋楼道灯坏了".

        The robot's name in WeCom may differ from `bot.name`; a group message always mentions the robot, so a
        leading mention of another name is taken to be the robot's when `bot.name` is not mentioned at all."""
        text = text.strip()
        named = re.compile("@" + re.escape(self.bot_name) + r"(?:[\s\u2005]+|[,，:：]\s*|$)")
        if self.bot_name and named.search(text):
            text = named.sub(" ", text)
        else:
            text = re.sub(r"^@[^\s\u2005@]{1,32}[\s\u2005]+", "", text)
        return re.sub(r"[ \u2005]{2,}", " ", text).strip()

    def _on_event(self, req_id: str, body: dict[str, Any]) -> None:
        event = body.get("event") or {}
        kind = event.get("eventtype")
        if kind == "enter_chat":
            # WeCom takes a welcome only within 5 s of the event: sent from here, not through the app's queue.
            self._spawn(self._welcome(req_id), "wecom-welcome")
        elif kind == "template_card_event":
            # A button pressed on a card: the presser saying its key ("签收 3810"), through the same commands and
            # rules as typing it. Answered by push (aibot_send_msg), not on the event's req_id.
            msg = self.parse_button(body)
            if msg is not None:
                assert self._inbound is not None
                self._inbound.put_nowait(msg)
        elif kind == "disconnected_event":
            log.warning("WeCom: another connection subscribed as this bot; WeCom closes this one")
        else:
            log.debug("WeCom event %s ignored", kind)

    async def _welcome(self, req_id: str) -> None:
        try:  # not behind the send lock: a reply waiting for its ack must not hold the welcome past 5 s
            await self._request(RESPOND_WELCOME, {"msgtype": "text", "text": {"content": self.welcome}}, req_id=req_id)
        except Exception as exc:
            log.warning("WeCom: the welcome was not sent: %s", _describe(exc))

    async def _consume(self) -> None:
        assert self._inbound is not None
        while True:
            msg = await self._inbound.get()
            if self._on_message is None:
                continue
            try:
                await self._on_message(msg)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("WeCom: storing message %s failed", msg.message_id)

    # ------------------------------------------------------------------ outbound

    async def send(self, reply: Reply) -> None:
        """Deliver every part of `reply` (text pieces, then a file); return only once WeCom acknowledged each
        (errcode 0), raise otherwise: ConnectionError while the link is down or if it drops before the ack,
        TimeoutError without an ack within `ack_timeout`, WecomRefused for a non-zero errcode.

        The reply to a message goes on that message's callback req_id (`aibot_respond_msg`, a finished stream)
        while it may still be answered; the rest, and anything with no message to answer (alerts, digests,
        notices), by `aibot_send_msg` to the group's chatid or the person's userid. A refused answer on a
        req_id is pushed instead. Delivery is at least once: a part whose ack was lost is sent again with the
        rest when the outbox retries. Replies go one at a time, in the order `send` was called.
        """
        self._ensure_events()
        assert self._send_lock is not None
        async with self._send_lock:
            target = reply.room_id if reply.room_id is not None else reply.contact_id
            assert target is not None
            key = (reply.room_id, reply.mentions[0].contact_id if reply.mentions else reply.contact_id or "")
            if reply.buttons:  # a button card (button_interaction) carries the text itself
                await self._request(SEND, {"chatid": target, "msgtype": "template_card", "template_card": card(reply)})
                return
            pieces = split_bytes(reply.text) if reply.text.strip() else []
            for i, piece in enumerate(pieces):
                callback = self._answerable(key) if i == 0 else None
                if callback is not None and await self._respond(callback, piece):
                    continue
                prefix = "".join(f"@{m.name} " for m in reply.mentions) if i == 0 and reply.room_id else ""
                body = {"chatid": target, "msgtype": "markdown", "markdown": {"content": _fit(prefix, piece)}}
                await self._request(SEND, body)
            if reply.file is not None:
                await self._send_file(target, Path(reply.file))

    def _answerable(self, key: tuple[str | None, str]) -> _Callback | None:
        callback = self._callbacks.get(key)
        if callback is None:
            return None
        if time.monotonic() - callback.at > self.answer_within:
            del self._callbacks[key]
            return None
        return callback

    async def _respond(self, callback: _Callback, content: str) -> bool:
        """Answer on a callback's req_id; False if WeCom refused it there (the caller pushes instead)."""
        body = {"msgtype": "stream", "stream": {"id": secrets.token_hex(8), "finish": True, "content": content}}
        try:
            await self._request(RESPOND, body, req_id=callback.req_id)
        except WecomRefused as exc:
            log.info("WeCom: %s; pushing the reply instead", exc)
            return False
        except TimeoutError:
            self._drop_callback(callback)  # a req_id that went unanswered is not tried again
            raise
        self._drop_callback(callback)
        return True

    def _drop_callback(self, callback: _Callback) -> None:
        for key, value in list(self._callbacks.items()):
            if value is callback:
                del self._callbacks[key]

    async def _send_file(self, target: str, path: Path) -> None:
        data = await asyncio.to_thread(path.read_bytes)
        kind = "image" if path.suffix.lower() in _IMAGE_SUFFIXES else "file"
        chunks = max(1, math.ceil(len(data) / CHUNK_BYTES))
        if chunks > MAX_CHUNKS:
            raise ValueError(f"{path.name} is too large for WeCom ({len(data)} bytes)")
        init = await self._request(
            UPLOAD_INIT,
            {"type": kind, "filename": path.name, "total_size": len(data), "total_chunks": chunks, "md5": hashlib.md5(data).hexdigest()},
        )
        upload_id = (init.get("body") or {}).get("upload_id")
        if not upload_id:
            raise WecomRefused(UPLOAD_INIT, init.get("errcode"), "no upload_id")
        for index in range(chunks):
            piece = data[index * CHUNK_BYTES : (index + 1) * CHUNK_BYTES]
            await self._request(
                UPLOAD_CHUNK,
                {"upload_id": upload_id, "chunk_index": index, "base64_data": base64.b64encode(piece).decode("ascii")},
            )
        done = await self._request(UPLOAD_FINISH, {"upload_id": upload_id})
        media_id = (done.get("body") or {}).get("media_id")
        if not media_id:
            raise WecomRefused(UPLOAD_FINISH, done.get("errcode"), "no media_id")
        await self._request(SEND, {"chatid": target, "msgtype": kind, kind: {"media_id": media_id}})

    async def _request(self, cmd: str, body: dict[str, Any], *, req_id: str | None = None) -> dict[str, Any]:
        """Send one frame and wait for WeCom's answer to its req_id; the answer frame if errcode is 0."""
        ws = self._ws
        if ws is None or not self.connected:
            raise ConnectionError("WeCom is disconnected; the reply stays in the outbox")
        req_id = req_id or new_req_id(cmd)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[req_id] = future
        try:
            try:
                await ws.send(_dumps({"cmd": cmd, "headers": {"req_id": req_id}, "body": body}))
            except Exception as exc:
                raise ConnectionError(f"sending to WeCom failed: {_describe(exc)}") from exc
            try:
                async with asyncio.timeout(self.ack_timeout):
                    ack = await future
            except TimeoutError:
                log.warning("WeCom did not answer %s within %.0f s", cmd, self.ack_timeout)
                raise
        finally:
            if self._pending.get(req_id) is future:
                del self._pending[req_id]
        if ack.get("errcode") != 0:
            raise WecomRefused(cmd, ack.get("errcode"), ack.get("errmsg"))
        return ack


# --------------------------------------------------------------------------- small helpers


def _dumps(frame: dict[str, Any]) -> str:
    return json.dumps(frame, ensure_ascii=False, separators=(",", ":"))


def _fit(prefix: str, piece: str) -> str:
    """`prefix + piece`, the piece shortened if the prefix would take it past the byte limit."""
    text = prefix + piece
    while len(text.encode("utf-8")) > MAX_CONTENT_BYTES:
        text = text[:-1]
    return text


def _timestamp(value: Any) -> datetime:
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        return datetime.now(UTC)
    if seconds > 1e11:  # milliseconds
        seconds /= 1000
    return datetime.fromtimestamp(seconds, UTC) if seconds > 0 else datetime.now(UTC)


def _describe(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def card(reply: Reply) -> dict[str, Any]:
    """A reply with buttons as WeCom's button card: its first sentence the title (26 characters at most), the
    rest below it (112), a button per Button whose key is what pressing it says."""
    head, _, rest = reply.text.partition("。")
    title, below = (head[:26], (head[26:] + "。" + rest).strip("。")) if len(head) > 26 else (head, rest)
    return {
        "card_type": "button_interaction",
        "main_title": {"title": title},
        "sub_title_text": below[:112],
        "button_list": [{"text": b.text[:10], "key": b.key, "style": 1} for b in reply.buttons[:6]],
        "task_id": f"linju-{secrets.token_hex(8)}",
    }
