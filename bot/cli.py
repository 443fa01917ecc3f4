"""The `linju` command line: run the bot, chat in the console, classify and evaluate, manage the database."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import signal
import sys

from bot import cli_digest, cli_eval, cli_rooms, cli_tickets, cli_train, cli_web
from bot.channels import registry
from bot.channels.registry import ChannelOptions
from bot.cli_common import classification_json, classify_rows, read_jsonl, settings_from, setup_logging
from bot.config import ConfigError, Settings

log = logging.getLogger("linju")
CHAT_CHANNEL = "console"  # `linju chat` is the terminal group chat, whatever channel the config runs


# ---------------------------------------------------------------- commands


async def _run_channel(settings: Settings, channel_name: str, options: ChannelOptions) -> int:
    """Run the app on the channel registered as `channel_name` until its input ends or a signal stops it."""
    from bot.app import App

    channel = registry.create(channel_name, settings, options)
    app = App(settings, channel=channel)
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    await app.start()
    try:
        closed = asyncio.create_task(app.run_until_closed())
        stopping = asyncio.create_task(stop.wait())
        await asyncio.wait({closed, stopping}, return_when=asyncio.FIRST_COMPLETED)
        if stop.is_set():
            log.info("stopping on signal")
        failure = closed.exception() if closed.done() and not closed.cancelled() else None
        for t in (closed, stopping):
            t.cancel()
    finally:
        await app.stop()
    if failure is not None:
        raise failure
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    # A channel that talks through this terminal keeps the log off it when a person is typing there.
    in_terminal = registry.capabilities(settings.channel).terminal and sys.stdin.isatty()
    setup_logging(settings, quiet_console=in_terminal)
    options = ChannelOptions(jsonl=getattr(args, "jsonl", False))
    return asyncio.run(_run_channel(settings, settings.channel, options))


def cmd_chat(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    if args.room:
        settings.console.room = args.room
    if args.sender:
        settings.console.sender = args.sender
    setup_logging(settings, quiet_console=True)
    return asyncio.run(_run_channel(settings, CHAT_CHANNEL, ChannelOptions(jsonl=args.jsonl)))


def cmd_classify(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    setup_logging(settings, quiet_console=False)
    rows = list(read_jsonl(args.input))
    for n, row in rows:
        if "text" not in row:
            raise ConfigError(f"{args.input}:{n}: missing field 'text'")
    results, stats = asyncio.run(classify_rows(settings, rows))
    out = sys.stdout
    for row, c in results:
        out.write(json.dumps(classification_json(row.get("id"), c), ensure_ascii=False) + "\n")
    if stats:
        print("llm: " + json.dumps(stats, ensure_ascii=False), file=sys.stderr)
    return 0


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    setup_logging(settings, quiet_console=False)
    from storage import engine as db

    async def go() -> None:
        engine = db.create_engine(settings.database_url)
        try:
            await db.upgrade(engine)
            print(f"database at revision {await db.current_revision(engine)}")
        finally:
            await engine.dispose()

    asyncio.run(go())
    return 0


def cmd_db_purge(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    setup_logging(settings, quiet_console=False)
    days = args.days if args.days is not None else settings.retention.chat_days
    if days < 1:
        raise ConfigError("--days must be at least 1")
    from datetime import UTC, datetime, timedelta

    from bot import retention
    from storage import engine as db

    async def go() -> tuple[int, int]:
        engine = db.create_engine(settings.database_url)
        try:
            await db.upgrade(engine)
            return await retention.purge(db.session_factory(engine), before=datetime.now(UTC) - timedelta(days=days))
        finally:
            await engine.dispose()

    cleared, deleted = asyncio.run(go())
    print(f"cleared the text of {cleared} chat message(s) older than {days} days; deleted {deleted} sent replies")
    return 0


# ---------------------------------------------------------------- parser


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", metavar="PATH", help="configuration file (default: $LINJU_CONFIG or ./config.yaml)")

    p = argparse.ArgumentParser(
        prog="linju",
        description="linju (邻聚): turns neighbour leaders' WeChat messages into tickets and follows them up.",
        parents=[common],
    )
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    run = sub.add_parser("run", parents=[common], help="run the bot on the configured channel (console by default)")
    run.add_argument("--jsonl", action="store_true", help="console channel: JSON Lines in and out")
    run.set_defaults(func=cmd_run)

    chat = sub.add_parser("chat", parents=[common], help="a local group chat with the bot in the terminal")
    chat.add_argument("--jsonl", action="store_true", help='read {"id","room","sender","text"} lines; write replies as JSON')
    chat.add_argument("--room", help="the room to start in (default from config)")
    chat.add_argument("--as", dest="sender", help="the member to speak as (default from config)")
    chat.set_defaults(func=cmd_chat)

    cl = sub.add_parser("classify", parents=[common], help='classify JSON Lines {"id","text"} to JSON Lines')
    cl.add_argument("input", nargs="?", default="-", help="input file (default: stdin)")
    cl.set_defaults(func=cmd_classify)

    dbp = sub.add_parser("db", parents=[common], help="database maintenance")
    dbsub = dbp.add_subparsers(dest="db_command", metavar="ACTION")
    dbsub.required = True
    up = dbsub.add_parser("upgrade", parents=[common], help="apply migrations")
    up.set_defaults(func=cmd_db_upgrade)
    pg = dbsub.add_parser(
        "purge", parents=[common], help="clear chat messages older than retention.chat_days (the bot does it daily)"
    )
    pg.add_argument("--days", type=int, help="older than this many days instead (at least 1)")
    pg.set_defaults(func=cmd_db_purge)

    for feature in (cli_eval, cli_tickets, cli_train, cli_digest, cli_rooms, cli_web):
        feature.register(sub, common)
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except ConfigError as exc:
        print(f"linju: {exc}", file=sys.stderr)
        return 2
    except FileNotFoundError as exc:
        print(f"linju: file not found: {exc.filename}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # the operator gets one plain line; the log has the traceback
        log.exception("linju %s failed", args.command)
        print(f"linju: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

