"""The WeChat channel: linju over a Wechaty puppet service (the one module that imports wechaty)."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import mimetypes
import os
import sys
import warnings
from collections import deque
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

from bot.channels.base import Channel, OnConnected, OnMessage
from bot.channels.media import file_box_bytes, save_media
from bot.channels.wechat_text import AT_SEPARATOR, MAX_TEXT_LENGTH, mentions_name, split_text, strip_mentions
from bot.config import ConfigError
from handlers.types import Capabilities, IncomingMessage, MessageKind, Reply

if TYPE_CHECKING:
    from bot.channels.registry import ChannelOptions
    from bot.config import Settings

log = logging.getLogger(__name__)

ENDPOINT_ENV = "WECHATY_PUPPET_SERVICE_ENDPOINT"
TOKEN_ENV = "WECHATY_PUPPET_SERVICE_TOKEN"

# What a non-text message looks like in the inbox; the core records it and otherwise ignores it.
_PLACEHOLDERS: dict[str, str] = {
    "image": "[图片]",
    "voice": "[语音]",
    "video": "[视频]",
    "file": "[文件]",
    "emoticon": "[表情]",
    "red_packet": "[红包]",
    "link": "[链接]",
    "mini_program": "[小程序]",
    "other": "[其他消息]",
}
# gRPC MessageType names (wechaty_grpc, after the client's own mapping) -> our kinds.
_KINDS: dict[str, MessageKind] = {
    "MESSAGE_TYPE_TEXT": "text",
    "MESSAGE_TYPE_IMAGE": "image",
    "MESSAGE_TYPE_AUDIO": "voice",
    "MESSAGE_TYPE_VIDEO": "video",
    "MESSAGE_TYPE_ATTACHMENT": "file",
    "MESSAGE_TYPE_EMOTICON": "emoticon",
    "MESSAGE_TYPE_RED_ENVELOPE": "red_packet",
    "MESSAGE_TYPE_URL": "link",
    "MESSAGE_TYPE_MINI_PROGRAM": "mini_program",
}


class WechatyChannelError(ConfigError):
    """The channel is misconfigured (for example, no puppet service endpoint); the CLI prints it plainly."""


# --------------------------------------------------------------------------- importing the old client

_wechaty: SimpleNamespace | None = None


def _load_wechaty() -> SimpleNamespace:
    """Import the wechaty client with the work-arounds it needs on Python 3.11 (once per process)."""
    global _wechaty
    if _wechaty is not None:
        return _wechaty
    # Work-around (Python 3.11): wechaty/wechaty.py declares `puppet_options: PuppetOptions = PuppetOptions()`
    # as a dataclass default, which 3.11 rejects as a "mutable default" (the class is unhashable). Making it
    # hashable by identity lets the module import. Side effect: that default is one instance shared by every
    # bot and written to by the client, so this channel always passes fresh PuppetOptions.
    import wechaty_puppet.schemas.puppet as puppet_schema

    if puppet_schema.PuppetOptions.__hash__ is None:
        puppet_schema.PuppetOptions.__hash__ = object.__hash__
    # The other two work-arounds are pins in pyproject's `wechat` extra: pyee==8.2.2 (pyee >= 12 dropped
    # AsyncIOEventEmitter) and urllib3<2 (2.x dropped get_host, still imported by the client's requests use).
    with warnings.catch_warnings():
        # Upstream imports telnetlib (deprecated in 3.11, gone in 3.13: hence requires-python < 3.13).
        warnings.simplefilter("ignore", DeprecationWarning)
        from apscheduler.schedulers.asyncio import AsyncIOScheduler
        from grpclib.exceptions import GRPCError, StreamTerminatedError
        from wechaty import Wechaty, WechatyOptions
        from wechaty.user.contact import Contact
        from wechaty.user.room import Room
        from wechaty.user.tag import Tag
        from wechaty_puppet import FileBox, PuppetOptions
        from wechaty_puppet_service import PuppetService

    # Work-around (protocol drift): today's puppet services send error events as {"gerror": "<json>"}, which
    # the 2022 client feeds to EventErrorPayload(**payload); that raises inside its event loop and ends the
    # stream, so every puppet error would cost a reconnect. Accept both shapes.
    import wechaty_puppet_service.puppet as service_module

    error_payload = service_module.EventErrorPayload
    if not getattr(error_payload, "_linju_tolerant", False):

        def tolerant_error_payload(**fields: Any) -> Any:
            return error_payload(data=str(fields.get("data") or fields.get("gerror") or fields))

        tolerant_error_payload._linju_tolerant = True  # type: ignore[attr-defined]
        service_module.EventErrorPayload = tolerant_error_payload

    _wechaty = SimpleNamespace(
        AsyncIOScheduler=AsyncIOScheduler,
        Contact=Contact,
        FileBox=FileBox,
        GRPCError=GRPCError,
        PuppetOptions=PuppetOptions,
        PuppetService=PuppetService,
        Room=Room,
        StreamTerminatedError=StreamTerminatedError,
        Tag=Tag,
        Wechaty=Wechaty,
        WechatyOptions=WechatyOptions,
    )
    return _wechaty


def clear_wechaty_pools() -> None:
    """Forget the client's process-wide Contact/Room/Tag caches (objects bound to an earlier puppet).

    Called on every (re)connection; tests that run several bots in one process rely on it too.
    """
    if "wechaty" not in sys.modules:
        return
    w = _load_wechaty()
    for cls in (w.Contact, w.Room, w.Tag):
        cls._pool.clear()


class _Redact(logging.Filter):
    """Keeps the puppet service token out of upstream log lines (it logs it at WARNING on every start)."""

    def __init__(self, secret: str) -> None:
        super().__init__()
        self.secret = secret

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if message.startswith(_UPSTREAM_NOISE):
            return False  # said on every connection or file; the first three also carry the token
        if self.secret and self.secret in message:
            record.msg, record.args = message.replace(self.secret, "***"), None
        return True


_UPSTREAM_NOISE = (
    "there are endpoint<",
    "there are two endpoints",
    "there are two tokens",
    "mimeType will be",
)
_UPSTREAM_FORMAT = "%(asctime)s - %(name)s - %(levelname)s - %(message)s"


def _tame_upstream_logging(secret: str) -> None:
    """Route the client's loggers into ours at WARNING, without its own handlers and without the token.

    wechaty_puppet.get_logger gives every upstream logger a private stderr handler at INFO (message texts
    included) and turns propagation off.
    """
    # The HTTP/2 layer logs every header at DEBUG, the token (sent as :authority) included.
    for name in ("hpack", "h2"):
        logging.getLogger(name).setLevel(logging.WARNING)
    for logger in list(logging.root.manager.loggerDict.values()):
        if not isinstance(logger, logging.Logger):
            continue
        upstream = [h for h in logger.handlers if getattr(h.formatter, "_fmt", None) == _UPSTREAM_FORMAT]
        if not upstream and not any(isinstance(f, _Redact) for f in logger.filters):
            continue
        for handler in upstream:
            logger.removeHandler(handler)
        logger.propagate = True
        logger.setLevel(logging.WARNING)
        for old in [f for f in logger.filters if isinstance(f, _Redact)]:
            logger.removeFilter(old)
        logger.addFilter(_Redact(secret))


# --------------------------------------------------------------------------- the channel


class WechatyChannel(Channel):
    """WeChat through a Wechaty puppet service (gRPC, no TLS), the same Channel shape as the console.

    Robustness, by design rather than by patching: upstream's `Wechaty.start()` calls `loop.stop()` on a
    puppet error (killing the app's loop, scheduler included) and hides network errors in a silent 60 s
    retry. This channel never calls it. It runs the same steps itself (create a PuppetService, bind the
    wechaty user classes to it, start it, whose event stream then runs until the link drops) inside a
    supervisor task on the app's own loop, catches every failure, logs it and reconnects with backoff.
    A watchdog pings the service so a half-open connection is noticed. Upstream's event bridge is not used
    either: its login handler starts a plugin web server on port 5000 and a second scheduler, and
    pyee would deliver messages as concurrent tasks; here messages are queued in arrival order and handed to
    the app one at a time. Replies are not queued here: `send` delivers a reply and returns only once the
    service accepted it, and raises otherwise, so the app's database outbox (which survives a crash) stays the
    only queue and sends the reply again later.
    A dedicated thread with its own loop was the alternative; it needs a thread-safe bridge for every
    call and upstream's loop.stop() would still silently kill that loop, so it contains less.
    """

    name = "wechaty"
    # WeChat's ids (wxid_…, …@chatroom) are the platform's; a personal account sees every message of its groups
    # and may send at any time, but WeChat restricts accounts that send in bursts. Photos are downloaded; a
    # voice message comes as a SILK recording, downloaded too (recorded as "[语音]" until the app transcribes it).
    capabilities = Capabilities(
        source="wechat",
        ids_trustworthy=True,
        sees_all_messages=True,
        can_push=True,
        max_text_length=MAX_TEXT_LENGTH,
        markdown=False,
        downloads_images=True,
        voice="audio",
        sends_per_minute=30,
        send_burst=10,
    )

    @classmethod
    def from_settings(cls, settings: Settings, options: ChannelOptions) -> WechatyChannel:
        """The registry's factory: endpoint and token from the environment (WECHATY_PUPPET_SERVICE_*)."""
        return cls(bot_name=settings.bot.name, data_dir=settings.data_dir)

    def __init__(
        self,
        bot_name: str,
        data_dir: Path,
        endpoint: str | None = None,
        token: str | None = None,
        *,
        start_timeout: float = 15.0,
        retry_initial: float = 1.0,
        retry_max: float = 30.0,
        probe_interval: float = 20.0,
        rpc_timeout: float = 15.0,
    ) -> None:
        self.bot_name = bot_name
        self.data_dir = Path(data_dir)
        self.cache_dir = self.data_dir / "wechaty"
        self.endpoint = (endpoint or os.environ.get(ENDPOINT_ENV) or "").strip() or None
        self._token = (token or os.environ.get(TOKEN_ENV) or "").strip() or None
        if not self.endpoint:
            raise WechatyChannelError(
                f"the wechaty channel needs a puppet service endpoint: set {ENDPOINT_ENV}=host:port "
                "(the gateway serving your WeChat account; the old discovery service by token alone is gone)"
            )
        if not self._token:
            raise WechatyChannelError(f"the wechaty channel needs the puppet service token in {TOKEN_ENV}")
        self._host, self._port = _parse_endpoint(self.endpoint)
        self.start_timeout = start_timeout
        self.retry_initial = retry_initial
        self.retry_max = retry_max
        self.probe_interval = probe_interval
        self.rpc_timeout = rpc_timeout

        self.self_id: str | None = None
        self.self_name: str | None = None
        self._on_message: OnMessage | None = None
        self._bot: Any = None
        self._puppet: Any = None
        self._tasks: list[asyncio.Task[None]] = []
        self._side_tasks: set[asyncio.Task[None]] = set()
        self._inbound: asyncio.Queue[str] | None = None
        self._seen: deque[str] = deque(maxlen=2000)
        self._send_lock = asyncio.Lock()  # one reply at a time, so replies leave in the order they were sent
        # Called after every login; the app sets it to flush its database outbox.
        self.on_connected: OnConnected | None = None
        self._logged_in: asyncio.Event | None = None
        self._closed: asyncio.Event | None = None
        self._closing = False
        self._ever_logged_in = False
        self._outage: str | None = None

    def __repr__(self) -> str:  # never show the token
        return f"WechatyChannel(endpoint={self.endpoint!r}, bot_name={self.bot_name!r})"

    @property
    def connected(self) -> bool:
        """True while the puppet service is reachable and the WeChat account is logged in."""
        return self._logged_in is not None and self._logged_in.is_set()

    # ------------------------------------------------------------------ lifecycle

    async def start(self, on_message: OnMessage) -> None:
        """Connect and begin delivering messages; returns at login, or after `start_timeout` (still retrying)."""
        self._ensure_events()
        assert self._logged_in is not None and self._closed is not None
        self._on_message = on_message
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        # Upstream reads CACHE_DIR at import time (plugin settings, a job store) and otherwise writes
        # ./.wechaty in the working directory.
        os.environ["CACHE_DIR"] = str(self.cache_dir)
        w = _load_wechaty()
        _tame_upstream_logging(self._token or "")
        # Fresh options for this bot (see the shim), and a scheduler without a job-store file: upstream only
        # uses it for plugins, which this channel does not start.
        self._bot = w.Wechaty(
            w.WechatyOptions(
                puppet="wechaty-puppet-service",
                puppet_options=w.PuppetOptions(end_point=self.endpoint, token=self._token),
                scheduler=w.AsyncIOScheduler(),
            )
        )
        _tame_upstream_logging(self._token or "")
        self._inbound = asyncio.Queue()
        loop = asyncio.get_running_loop()
        self._tasks = [
            loop.create_task(self._supervise(), name="wechaty-supervisor"),
            loop.create_task(self._consume(), name="wechaty-inbound"),
        ]
        log.info("WeChat: connecting to the puppet service at %s", self.endpoint)
        try:
            await _bounded(self._logged_in.wait(), self.start_timeout)
        except TimeoutError:
            log.warning(
                "WeChat is not logged in after %.0f s; still trying in the background; replies wait in the outbox",
                self.start_timeout,
            )

    async def wait_ready(self, within: float) -> None:
        """Wait until logged in; TimeoutError after `within` seconds."""
        self._ensure_events()
        assert self._logged_in is not None
        await _bounded(self._logged_in.wait(), within)

    async def wait_closed(self) -> None:
        self._ensure_events()
        assert self._closed is not None
        await self._closed.wait()

    async def close(self) -> None:
        """Stop receiving and stop the puppet (bounded); unsent replies are the app's outbox's to keep."""
        if self._closing:
            return
        self._closing = True
        self._ensure_events()
        assert self._closed is not None and self._logged_in is not None
        self._logged_in.clear()
        pending = {t for t in [*self._tasks, *self._side_tasks] if not t.done()}
        for _ in range(3):  # upstream code may swallow one cancellation; never hang on shutdown
            for task in pending:
                task.cancel()
            if not pending:
                break
            _, pending = await asyncio.wait(pending, timeout=2)
        if pending:
            log.warning("WeChat channel: %d tasks did not stop", len(pending))
        self._tasks = []
        await self._drop_puppet(graceful=True)
        log.info("WeChat channel closed")
        self._closed.set()

    def _ensure_events(self) -> None:
        if self._logged_in is None:
            self._logged_in = asyncio.Event()
            self._closed = asyncio.Event()

    # ------------------------------------------------------------------ connection supervision

    async def _supervise(self) -> None:
        delay = self.retry_initial
        attempt = 0
        loop = asyncio.get_running_loop()
        while not self._closing:
            attempt += 1
            began = loop.time()
            try:
                await self._connect_once()
                reason = "the puppet service ended the event stream"
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # every failure of the link is contained here
                reason = _describe(exc)
            await self._drop_puppet(graceful=False)
            if self._closing:
                return
            if loop.time() - began > 60:
                delay, attempt = self.retry_initial, 1
            self._link_lost(reason, attempt, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.retry_max)

    async def _connect_once(self) -> None:
        w = _load_wechaty()
        # Check reachability without blocking the loop: upstream's own check is a blocking telnet.
        _, writer = await _bounded(asyncio.open_connection(self._host, self._port), 5)
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()

        puppet = w.PuppetService(w.PuppetOptions(end_point=self.endpoint, token=self._token))
        self._bot._options.puppet = puppet
        await self._bot.init_puppet()  # binds bot.Contact / bot.Room / bot.Message to this puppet
        clear_wechaty_pools()
        for event, handler in (
            ("login", self._on_login),
            ("logout", self._on_logout),
            ("message", self._on_message_event),
            ("scan", self._on_scan),
            ("error", self._on_error),
            ("room-topic", self._on_room_topic),
        ):
            puppet.on(event, _guarded(handler))
        self._puppet = puppet
        loop = asyncio.get_running_loop()
        stream = loop.create_task(puppet.start(), name="wechaty-event-stream")
        watchdog = loop.create_task(self._watchdog(puppet), name="wechaty-watchdog")
        try:
            done, _ = await asyncio.wait({stream, watchdog}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (stream, watchdog):
                task.cancel()
            await asyncio.gather(stream, watchdog, return_exceptions=True)
        for task in done:
            task.result()

    async def _watchdog(self, puppet: Any) -> None:
        """Ping the service now and then; a half-open connection otherwise hangs the stream forever."""
        w = _load_wechaty()
        while True:
            await asyncio.sleep(self.probe_interval)
            try:
                await _bounded(puppet.ding("linju"), self.rpc_timeout)
            except w.GRPCError:
                pass  # the service answered (perhaps "unimplemented"): the link is alive
            except Exception as exc:
                raise ConnectionError(f"the puppet service stopped answering ({_describe(exc)})") from exc

    async def _drop_puppet(self, *, graceful: bool) -> None:
        puppet, self._puppet = self._puppet, None
        assert self._logged_in is not None
        self._logged_in.clear()
        if puppet is None:
            return
        if graceful:
            try:
                # Upstream's own stop: asks the service to stop the puppet, then closes the channel.
                await _bounded(puppet.stop(), 3)
                return
            except Exception as exc:
                log.debug("stopping the puppet failed: %s", _describe(exc))
        with contextlib.suppress(Exception):
            puppet._event_stream.remove_all_listeners()
        with contextlib.suppress(Exception):
            if puppet.channel is not None:
                puppet.channel.close()
                puppet.channel = None

    def _link_lost(self, reason: str, attempt: int, delay: float) -> None:
        first = self._outage is None
        if first:
            log.warning(
                "WeChat disconnected: %s (puppet service %s). Retrying; replies wait in the outbox",
                reason,
                self.endpoint,
            )
        elif reason != self._outage or attempt % 10 == 0:
            log.info("WeChat still disconnected (attempt %d, next in %.0f s): %s", attempt, delay, reason)
        else:
            log.debug("WeChat still disconnected (attempt %d): %s", attempt, reason)
        self._outage = reason

    # ------------------------------------------------------------------ puppet events (synchronous, guarded)

    def _on_login(self, payload: Any) -> None:
        assert self._logged_in is not None
        if self._logged_in.is_set() and payload.contact_id == self.self_id:
            return  # services repeat the login event when a stream (re)starts
        self.self_id = payload.contact_id
        reconnected = self._ever_logged_in
        self._ever_logged_in = True
        self._outage = None
        self._logged_in.set()
        task = asyncio.get_running_loop().create_task(
            self._announce_login(reconnected), name="wechaty-login-info"
        )
        self._side_tasks.add(task)
        task.add_done_callback(self._side_tasks.discard)

    async def _announce_login(self, reconnected: bool) -> None:
        try:
            contact = self._bot.Contact.load(self.self_id)
            await _bounded(contact.ready(), self.rpc_timeout)
            self.self_name = contact.payload.name or None
        except Exception as exc:
            log.debug("could not load the bot's own contact: %s", _describe(exc))
        who = f"{self.self_name or self.bot_name} ({self.self_id})"
        if reconnected:
            log.info("WeChat reconnected: logged in as %s; the replies kept meanwhile go out now", who)
        else:
            log.info("WeChat logged in as %s", who)
        if self.on_connected is not None:
            try:
                await self.on_connected()  # the app sends what its outbox kept while we were away
            except Exception:
                log.exception("sending the replies kept during the outage failed; the app retries later")
        if self.self_name and self.self_name != self.bot_name:
            log.warning(
                "the WeChat account is named %r but config says bot.name=%r; both count as @-mentions",
                self.self_name,
                self.bot_name,
            )
        try:
            rooms = await _bounded(self._room_summary(), self.rpc_timeout * 2)
            log.info("WeChat rooms (%d): %s", len(rooms), "; ".join(rooms) if rooms else "none")
        except Exception as exc:
            log.warning("WeChat rooms: could not list them (%s)", _describe(exc))

    async def _room_summary(self, limit: int = 100) -> list[str]:
        ids = await self._puppet.room_list()
        out = []
        for i, room_id in enumerate(ids):
            room = self._bot.Room.load(room_id)
            await room.ready()
            if i < limit:
                out.append(f"{room.payload.topic} [{room_id}]")
        if len(ids) > limit:
            out.append(f"... and {len(ids) - limit} more")
        return out

    def _on_logout(self, payload: Any) -> None:
        assert self._logged_in is not None
        self._logged_in.clear()
        self._outage = "the WeChat account logged out"
        log.warning(
            "WeChat disconnected: the account logged out (%s); waiting for it to log in again",
            getattr(payload, "data", "") or "no reason given",
        )

    def _on_scan(self, payload: Any) -> None:
        qrcode = getattr(payload, "qrcode", None)
        if qrcode:
            log.warning(
                "WeChat needs a login: scan https://wechaty.js.org/qrcode/%s (status %s)",
                qrcode,
                getattr(payload, "status", "?"),
            )
        else:
            log.info("WeChat login status: %s", getattr(payload, "status", "?"))

    def _on_error(self, payload: Any) -> None:
        data = str(getattr(payload, "data", payload))
        with contextlib.suppress(ValueError, TypeError, AttributeError):
            gerror = json.loads(data)  # a GError: {"name", "message", "code", "details", "stack"}
            data = gerror.get("message") or gerror.get("details") or data
        log.warning("WeChat puppet reported an error: %s", data.splitlines()[0][:300] if data else "?")

    def _on_room_topic(self, payload: Any) -> None:
        self._bot.Room._pool.pop(payload.room_id, None)  # reload the topic next time

    def _on_message_event(self, payload: Any) -> None:
        assert self._inbound is not None
        message_id = payload.message_id
        if message_id in self._seen:
            return  # the service sometimes delivers one message twice
        self._seen.append(message_id)
        self._inbound.put_nowait(message_id)

    # ------------------------------------------------------------------ inbound

    async def _consume(self) -> None:
        assert self._inbound is not None and self._logged_in is not None
        while True:
            message_id = await self._inbound.get()
            incoming = None
            for attempt in range(3):
                try:
                    await _bounded(self._logged_in.wait(), 120)
                    incoming = await _bounded(self._convert(message_id), self.rpc_timeout)
                    break
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    log.warning(
                        "could not load WeChat message %s (attempt %d): %s",
                        message_id,
                        attempt + 1,
                        _describe(exc),
                    )
                    await asyncio.sleep(1)
            if incoming is None or self._on_message is None:
                continue
            try:
                await self._on_message(incoming)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("handling WeChat message %s failed", message_id)

    async def _convert(self, message_id: str) -> IncomingMessage | None:
        """The platform message as an IncomingMessage, or None for the bot's own messages."""
        msg = self._bot.Message.load(message_id)
        await msg.ready()
        payload = msg.payload
        talker_id = payload.from_id
        if not talker_id or talker_id == self.self_id:
            return None
        talker = msg.talker()
        sender_name = talker.payload.name if talker.is_ready() else talker_id
        type_name = getattr(payload.type, "name", str(payload.type))
        kind: MessageKind = _KINDS.get(type_name, "other")
        text = payload.text or ""
        bot_names = [n for n in (self.bot_name, self.self_name) if n]
        room = msg.room()
        room_id = room_topic = None
        mentioned = any(mentions_name(text, n) for n in bot_names)
        if room is not None:
            room_id = room.room_id
            room_topic = room.payload.topic if room.is_ready() else None
            mention_ids = list(payload.mention_ids or [])
            mentioned = mentioned or (self.self_id in mention_ids)
            if kind == "text" and mention_ids:
                bot_names += await self._mention_names(mention_ids)
        text = strip_mentions(text, bot_names) if kind == "text" else _PLACEHOLDERS[kind]
        media = None
        if kind == "image":
            media = await self._save_file(msg, message_id, "image", "photo.jpg")
        elif kind == "voice":  # a SILK recording: transcribed by the app before it is understood (bot/voice.py)
            media = await self._save_file(msg, message_id, "voice recording", "voice.silk")
        return IncomingMessage(
            message_id=message_id,
            sender_id=talker_id,
            sender_name=sender_name,
            text=text,
            room_id=room_id,
            room_topic=room_topic,
            mentioned_bot=mentioned,
            kind=kind,
            timestamp=_timestamp(payload.timestamp),
            media=media,
        )

    async def _save_file(self, msg: Any, message_id: str, what: str, default_name: str) -> str | None:
        """Download a photo or a voice recording into data_dir/media under its content hash (a photo is attached
        to the sender's report by the conversation layer, a recording transcribed by the app); None, with the
        reason logged, when the gateway cannot give it."""
        try:
            box = await asyncio.wait_for(msg.to_file_box(), self.rpc_timeout)
            data = file_box_bytes(box)
        except Exception as exc:  # the file is extra: the message itself is never lost for it
            log.warning("could not download the %s of message %s: %s", what, message_id, _describe(exc))
            return None
        if not data:
            log.info("%s of message %s is only a link; its kind is recorded, not the file", what, message_id)
            return None
        return str(save_media(self.data_dir, data, getattr(box, "name", "") or default_name))

    async def _mention_names(self, contact_ids: list[str]) -> list[str]:
        names = []
        for contact_id in contact_ids:
            try:
                contact = self._bot.Contact.load(contact_id)
                await contact.ready()
                names.append(contact.payload.name)
            except Exception as exc:
                log.debug("could not load mentioned contact %s: %s", contact_id, _describe(exc))
        return names

    # ------------------------------------------------------------------ outbound

    async def send(self, reply: Reply) -> None:
        """Deliver every part of `reply` (text chunks, then a file); return only once the puppet service accepted
        each of them, raise otherwise.

        Raises ConnectionError while WeChat is not logged in, and on a link error or a timeout (then the link
        counts as down and is closed, so the supervisor reconnects and `on_connected` fires after the next
        login); any other error (the service refused the part, an unreadable file) is raised as it is. Nothing
        is kept here after a failure: the caller's outbox keeps the reply and sends it again, whole.

        Delivery is therefore at least once, not exactly once: a part whose call timed out may have gone out
        all the same, and after a failure the parts delivered before it are sent again with the rest.
        Replies are sent one at a time (a lock), so they leave in the order `send` was called.
        """
        parts = self._parts(reply)
        if not parts:
            return
        self._ensure_events()
        async with self._send_lock:
            for part in parts:
                if not self.connected:
                    raise ConnectionError("WeChat is disconnected; the reply stays in the outbox")
                try:
                    await self._deliver(reply, part)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    if not self._is_link_error(exc):
                        log.warning("sending to %s failed: %s", _target(reply), _describe(exc))
                        raise
                    log.warning(
                        "sending to %s failed (%s); reconnecting, the reply stays in the outbox",
                        _target(reply),
                        _describe(exc),
                    )
                    self._link_broken()
                    raise ConnectionError(f"sending to WeChat failed: {_describe(exc)}") from exc

    def _parts(self, reply: Reply) -> list[tuple[str, Any]]:
        prefix = ""
        mention_ids: list[str] = []
        if reply.room_id is not None and reply.mentions:
            prefix = "".join(f"@{m.name}{AT_SEPARATOR}" for m in reply.mentions)
            mention_ids = [m.contact_id for m in reply.mentions]
        parts: list[tuple[str, Any]] = []
        if reply.text:
            for i, chunk in enumerate(split_text(reply.text, self.max_text_length - len(prefix))):
                parts.append(("text", (prefix + chunk, mention_ids) if i == 0 else (chunk, [])))
        if reply.file is not None:
            parts.append(("file", Path(reply.file)))
        return parts

    def _link_broken(self) -> None:
        """A send found the link dead: stop sending until the next login and let the supervisor reconnect now."""
        assert self._logged_in is not None
        self._logged_in.clear()
        puppet = self._puppet
        if puppet is not None and puppet.channel is not None:
            with contextlib.suppress(Exception):
                puppet.channel.close()

    async def _deliver(self, reply: Reply, part: tuple[str, Any]) -> None:
        puppet = self._puppet
        if puppet is None:
            raise ConnectionError("not connected")
        conversation_id = reply.room_id if reply.room_id is not None else reply.contact_id
        kind, value = part
        # Straight to the puppet rather than room.say()/contact.say(): those reload the sent message by the
        # id the service returns, and fail *after sending* when a service returns no id (the mock does).
        if kind == "text":
            text, mention_ids = value
            await _bounded(
                puppet.message_send_text(conversation_id, text, mention_ids=mention_ids or None),
                self.rpc_timeout,
            )
        else:
            # What puppet.message_send_file does, minus a deprecation warning from FileBox's JSON encoding.
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                filebox = _file_box(value).to_json_str()
            await _bounded(
                puppet.puppet_stub.message_send_file(conversation_id=conversation_id, filebox=filebox),
                self.rpc_timeout * 4,
            )

    def _is_link_error(self, exc: BaseException) -> bool:
        w = _load_wechaty()
        if isinstance(exc, FileNotFoundError | IsADirectoryError | PermissionError):
            return False
        return self._puppet is None or isinstance(
            exc, ConnectionError | TimeoutError | OSError | w.StreamTerminatedError
        )


# --------------------------------------------------------------------------- small helpers


async def _bounded(awaitable: Any, seconds: float) -> Any:
    """`await` with a time limit. Not asyncio.wait_for: on 3.11 it can swallow a cancellation that arrives
    as the inner call finishes, which left a cancelled task running (and close() waiting for it)."""
    async with asyncio.timeout(seconds):
        return await awaitable


def _file_box(path: Path) -> Any:
    """A FileBox for `path` (FileBox.from_file would log a deprecation warning on every file)."""
    w = _load_wechaty()
    box = w.FileBox.from_base64(base64.b64encode(path.read_bytes()), name=path.name)
    box.mediaType = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    return box


def _guarded(handler: Any) -> Any:
    """pyee calls listeners inside the client's event loop; an exception there would end the stream."""

    def listener(payload: Any) -> None:
        try:
            handler(payload)
        except Exception:
            log.exception("WeChat event handler %s failed", getattr(handler, "__name__", handler))

    return listener


def _parse_endpoint(endpoint: str) -> tuple[str, int]:
    host, sep, port = endpoint.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise WechatyChannelError(f"{ENDPOINT_ENV} must be host:port, got {endpoint!r}")
    return host.strip("[]"), int(port)


def _timestamp(value: Any) -> datetime:
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        seconds = 0.0
    if seconds > 1e11:  # milliseconds
        seconds /= 1000
    if seconds <= 0:
        return datetime.now(UTC)
    return datetime.fromtimestamp(seconds, UTC)


def _target(reply: Reply) -> str:
    return reply.room_id or reply.contact_id or "?"


def _describe(exc: BaseException) -> str:
    """One short line for the log (a gRPC error from Node carries a whole stack trace)."""
    status: Any = getattr(exc, "status", None)
    message = getattr(exc, "message", None) if status is not None else None
    text = str(message if message is not None else exc).strip()
    text = text.splitlines()[0][:200] if text else ""
    name = type(exc).__name__ + (f" {status.name}" if hasattr(status, "name") else "")
    return f"{name}: {text}" if text else name
