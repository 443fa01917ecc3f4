"""`linju web`: the web console for committee staff, and its accounts and Open311 keys."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import getpass
import logging
import signal
import sys

from bot.channels import registry
from bot.cli_common import settings_from, setup_logging
from bot.config import ConfigError, Settings

log = logging.getLogger("linju")


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    w = sub.add_parser(
        "web", parents=[common], help="the web console for committee staff (and its accounts and Open311 keys)",
        description="Serve the web console on this database (no chat channel: the replies its steps make wait in "
        "the outbox for `linju run`, or go at once with web.enabled inside it).",
    )
    w.add_argument("--host", help="address to listen on (default web.host, 127.0.0.1)")
    w.add_argument("--port", type=int, help="port (default web.port, 8080)")
    w.set_defaults(func=cmd_serve)
    ws = w.add_subparsers(dest="web_command", metavar="ACTION")

    user = ws.add_parser("user", parents=[common], help="staff accounts").add_subparsers(dest="user_command", metavar="ACTION")
    user.required = True
    add = user.add_parser("add", parents=[common], help="add an account, or give one a new password and scope")
    add.add_argument("name", help="the staff member's name, as under staff: in config.yaml")
    add.add_argument("--community", action="append", default=[], help="a community they handle (repeat for more)")
    add.add_argument("--admin", action="store_true", help="rooms, roster and every community (unless --community)")
    add.add_argument("--wechat-id", help="their chat identity (default: their staff entry's wechat_id)")
    add.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    add.set_defaults(func=cmd_user_add)
    ls = user.add_parser("list", parents=[common], help="the accounts")
    ls.set_defaults(func=cmd_user_list)
    off = user.add_parser("disable", parents=[common], help="sign an account out everywhere and keep it out")
    off.add_argument("name")
    off.set_defaults(func=cmd_user_disable)

    key = ws.add_parser("key", parents=[common], help="Open311 API keys").add_subparsers(dest="key_command", metavar="ACTION")
    key.required = True
    kadd = key.add_parser("add", parents=[common], help="a new key for a platform that reads tickets (shown once)")
    kadd.add_argument("name")
    kadd.add_argument("--community", action="append", default=[], help="only these communities' tickets")
    kadd.set_defaults(func=cmd_key_add)
    krev = key.add_parser("revoke", parents=[common], help="the key stops working")
    krev.add_argument("name")
    krev.set_defaults(func=cmd_key_revoke)


def chat_identity(settings: Settings, name: str, wechat_id: str | None) -> str:
    """Who this account is in chat: the id given, or their staff entry's wechat_id; on a channel without real
    ids (the console) their name is their identity."""
    if wechat_id:
        return wechat_id.strip()
    entry = next((s for s in settings.staff if s.name == name), None)
    if entry is not None and entry.wechat_id:
        return entry.wechat_id
    if not registry.capabilities(settings.channel).ids_trustworthy:
        return name
    raise ConfigError(
        f"{name} has no wechat_id under staff: in the config; give it there or with --wechat-id (their chat identity)"
    )


async def _accounts(settings: Settings, body):
    from handlers.accounts import Accounts
    from storage import engine as db

    engine = db.create_engine(settings.database_url)
    try:
        await db.upgrade(engine)
        return await body(Accounts(db.session_factory(engine)))
    finally:
        await engine.dispose()


def _password(args: argparse.Namespace) -> str:
    if args.password_stdin or not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass("密码：")
    if getpass.getpass("再输一次：") != first:
        raise ConfigError("the two passwords differ")
    return first


def cmd_user_add(args: argparse.Namespace) -> int:
    from handlers.accounts import AccountError

    settings = settings_from(args)
    known = {c.name for c in settings.communities} | {settings.default_community}
    if unknown := [c for c in args.community if c not in known]:
        raise ConfigError(f"no community {'、'.join(unknown)} in the config (communities: {'、'.join(sorted(known))})")
    actor_id = chat_identity(settings, args.name, args.wechat_id)
    password = _password(args)
    try:
        asyncio.run(_accounts(settings, lambda a: a.add_user(
            args.name, actor_id=actor_id, communities=args.community, admin=args.admin, password=password
        )))
    except AccountError as exc:
        raise ConfigError(str(exc)) from None
    scope = "、".join(args.community) or "全部社区"
    print(f"account {args.name} ready (chat identity {actor_id}; {scope}{'; admin' if args.admin else ''})")
    return 0


def cmd_user_list(args: argparse.Namespace) -> int:
    rows = asyncio.run(_accounts(settings_from(args), lambda a: a.list_users()))
    for name, actor_id, communities, admin, disabled in rows:
        flags = ",".join(f for f, on in (("admin", admin), ("disabled", disabled)) if on)
        print(f"{name}\t{actor_id}\t{'、'.join(communities) or '全部社区'}\t{flags}")
    return 0


def cmd_user_disable(args: argparse.Namespace) -> int:
    if not asyncio.run(_accounts(settings_from(args), lambda a: a.disable_user(args.name))):
        raise ConfigError(f"no account named {args.name}")
    print(f"account {args.name} disabled and signed out")
    return 0


def cmd_key_add(args: argparse.Namespace) -> int:
    key = asyncio.run(_accounts(settings_from(args), lambda a: a.add_key(args.name, communities=args.community)))
    print(key)
    print(f"(the key for {args.name}; it is not shown again)", file=sys.stderr)
    return 0


def cmd_key_revoke(args: argparse.Namespace) -> int:
    if not asyncio.run(_accounts(settings_from(args), lambda a: a.revoke_key(args.name))):
        raise ConfigError(f"no live key named {args.name}")
    print(f"key {args.name} revoked")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    setup_logging(settings, quiet_console=False)
    return asyncio.run(_serve(settings, args.host, args.port))


async def _serve(settings: Settings, host: str | None, port: int | None) -> int:
    from bot.app import App
    from bot.web.server import serve

    app = App(settings)
    await app.open()
    server = await serve(app, host=host, port=port)
    print(f"web console: http://{server.config.host}:{server.port}/", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await server.stop()
        await app.stop()
    return 0
