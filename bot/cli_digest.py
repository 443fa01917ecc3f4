"""`linju digest`: build a period's digest (text, PNG chart, XLSX) from the shell, and optionally send it."""

from __future__ import annotations

import argparse
import asyncio
import io
import logging
import sys
from datetime import UTC, datetime
from pathlib import Path

from bot.config import ConfigError, Settings

log = logging.getLogger("linju")


def register(sub, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "digest",
        parents=[common],
        help="build (and with --send deliver) the committee digest for a period: text, PNG chart, XLSX",
        description=(
            "Build a period's digest as three files. Without --period: the period the schedule last covered. "
            "With --send: deliver it to the configured committee rooms through the configured channel, once per "
            "period and room (the digest table records it; --force sends again)."
        ),
    )
    p.add_argument(
        "--period", help="a month like 2026-10 or an ISO week like 2026-W42 (default: the last due one)"
    )
    p.add_argument("--community", metavar="NAME", help="one community (default: the whole subdistrict)")
    p.add_argument("--out", metavar="DIR", help="where to write the files (default: DATA_DIR/digests/PERIOD)")
    p.add_argument("--send", action="store_true", help="deliver to each community's committee rooms")
    p.add_argument(
        "--force", action="store_true", help="with --send: send even if the record says it was sent"
    )
    p.set_defaults(func=cmd_digest)


def cmd_digest(args: argparse.Namespace) -> int:
    from bot.cli_common import settings_from, setup_logging

    settings = settings_from(args)
    setup_logging(settings, quiet_console=False)
    if args.force and not args.send:
        raise ConfigError("--force only makes sense with --send")
    known = {c.name for c in settings.communities} | {settings.default_community}
    if args.community and args.community not in known:
        raise ConfigError(f"unknown community {args.community!r} (configured: {', '.join(sorted(known))})")
    return asyncio.run(_digest(settings, args))


def _period(settings: Settings, label: str | None):
    from bot.digest_job import due_period
    from storage import digest_queries as q

    if label:
        try:
            return q.parse_period(label, settings.schedule.timezone)
        except ValueError as exc:
            raise ConfigError(str(exc)) from exc
    p = due_period(settings, datetime.now(UTC))
    if p is None:
        raise ConfigError("the schedule has no past run; pass --period")
    return p


async def _digest(settings: Settings, args: argparse.Namespace) -> int:
    from bot.understanding import taxonomy_from_settings
    from handlers.digest import build_digest
    from handlers.digest_render import write_forms
    from storage import engine as db

    period = _period(settings, args.period)
    taxonomy = taxonomy_from_settings(settings)
    engine = db.create_engine(settings.database_url)
    try:
        await db.upgrade(engine)
        sessions = db.session_factory(engine)
        out = Path(args.out) if args.out else settings.data_dir / "digests" / period.label
        privacy = await _privacy(settings, sessions)
        async with sessions() as s:
            content = await build_digest(
                s,
                period=period,
                taxonomy=taxonomy,
                community=args.community,
                tz=settings.schedule.timezone,
                privacy=privacy,
            )
            files = await write_forms(s, content, out, taxonomy=taxonomy, privacy=privacy)
        for path in files.paths:
            print(path)
        print(
            f"{period.label} {content.scope}: {content.totals.received} received, {files.rows} rows in the spreadsheet"
        )
        if args.send:
            return await _send(
                settings, sessions, taxonomy, period, community=args.community, force=args.force
            )
        return 0
    finally:
        await engine.dispose()


async def _privacy(settings: Settings, sessions):
    """The privacy module with the staff's and the roster's names, as the bot has it."""
    from bot.wiring import staff_names
    from nlp.privacy import Privacy
    from storage.roster import people_names

    async with sessions() as s:
        return Privacy([*staff_names(settings), *await people_names(s)])


async def _send(settings: Settings, sessions, taxonomy, period, *, community: str | None, force: bool) -> int:
    from bot.digest_job import DigestJob
    from bot.rooms import bind_configured_rooms
    from handlers.digest_send import Outcome

    channel = await _open_channel(settings)
    try:
        job = DigestJob(
            settings,
            sessions=sessions,
            send=channel.send,
            taxonomy=taxonomy,
            privacy=await _privacy(settings, sessions),
            text_limit=channel.max_text_length,
        )
        async with sessions() as s:  # the configured room ids, as the bot binds them at start
            await bind_configured_rooms(s, settings, channel.capabilities)
            await s.commit()
        results = await job.run(period, community=community, force=force)
    finally:
        await channel.close()
    for room, outcome in results.items():
        print(f"{room}: {outcome}", file=sys.stderr)
    ok = bool(results) and all(r in (Outcome.SENT, Outcome.ALREADY_SENT) for r in results.values())
    return 0 if ok else 1


async def _open_channel(settings: Settings):
    if settings.channel == "console":
        from bot.channels.console import ConsoleChannel

        # Sending only: the console prints what it sends and reads nothing.
        return ConsoleChannel(
            room=settings.console.room,
            sender=settings.console.sender,
            bot_name=settings.bot.name,
            stdin=io.StringIO(),
            interactive=False,
        )
    from bot.channels.wechaty_channel import WechatyChannel
    from bot.channels.wecom_channel import WecomChannel

    channel: WechatyChannel | WecomChannel
    if settings.channel == "wecom":
        channel = WecomChannel.from_settings(settings)
    else:
        channel = WechatyChannel(bot_name=settings.bot.name, data_dir=settings.data_dir)

    async def ignore(_msg) -> None:
        return None

    await channel.start(ignore)
    return channel
