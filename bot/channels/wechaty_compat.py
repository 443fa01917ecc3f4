"""The 2022 wechaty client on Python 3.11: importing it with its work-arounds, and keeping its logging quiet.

The only module that imports wechaty; bot/channels/wechaty_channel.py uses it through `load_wechaty()`.
"""

from __future__ import annotations

import logging
import sys
import warnings
from types import SimpleNamespace
from typing import Any

_wechaty: SimpleNamespace | None = None


def load_wechaty() -> SimpleNamespace:
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
        puppet_schema.PuppetOptions.__hash__ = object.__hash__  # type: ignore[method-assign]
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
    w = load_wechaty()
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


def tame_upstream_logging(secret: str) -> None:
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
