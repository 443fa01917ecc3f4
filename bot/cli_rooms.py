"""`linju rooms` (the rooms the bot has seen, by platform id) and `linju rooms bind`: which room is what."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Awaitable, Callable
from zoneinfo import ZoneInfo

from bot.config import ConfigError, Settings, load_settings
from handlers import texts

KINDS = ("committee", "leaders", "residents")


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    r = sub.add_parser(
        "rooms",
        parents=[common],
        help="the rooms the bot has seen (id, name, kind, community, last message); bind one by its id",
        description="A room is a committee room only by its platform id, never by its name: list the rooms the "
        "bot has seen, then bind the right one (or add `id:` to it in config.yaml).",
    )
    r.set_defaults(func=cmd_list)
    rs = r.add_subparsers(dest="rooms_command", metavar="ACTION")
    ls = rs.add_parser("list", parents=[common], help="list the rooms (the default)")
    ls.set_defaults(func=cmd_list)
    b = rs.add_parser("bind", parents=[common], help="give the room with this id its kind and community")
    b.add_argument("room_id", metavar="ID", help="the platform's room id, e.g. 12345678@chatroom (see `linju rooms`)")
    b.add_argument("--kind", choices=KINDS, required=True, help="committee rooms get urgent pushes, digests, lists")
    b.add_argument("--community", required=True, help='the community it belongs to ("" or 全街道: the whole subdistrict)')
    b.add_argument("--area", help="片区")
    b.add_argument("--group", help="组")
    b.set_defaults(func=cmd_bind)
    u = rs.add_parser("unbind", parents=[common], help="make a room bound from the shell ordinary again")
    u.add_argument("room_id", metavar="ID")
    u.set_defaults(func=cmd_unbind)


def _run(args: argparse.Namespace, body: Callable[..., Awaitable[int]]) -> int:
    settings = load_settings(args.config)
    return asyncio.run(_with_db(settings, body))


async def _with_db(settings: Settings, body) -> int:
    from storage import engine as db

    engine = db.create_engine(settings.database_url)
    try:
        await db.upgrade(engine)
        async with db.session_factory(engine)() as session:
            code = await body(session, settings)
            await session.commit()
        return code
    finally:
        await engine.dispose()


def _rules(settings: Settings):
    """The configured communities and the room ids config.yaml binds (on the console: the rooms' names)."""
    from bot.channels import registry
    from bot.rooms import room_rules

    return room_rules(settings, registry.capabilities(settings.channel))


def cmd_list(args: argparse.Namespace) -> int:
    async def body(session, settings: Settings) -> int:
        from storage import repo

        rooms = await repo.list_rooms(session)
        if not rooms:
            print("no rooms yet: the bot records a room when it sees a message there (or binds a configured id)")
            return 0
        print("id\tname\tkind\tcommunity\tbound by\tlast message")
        for r in rooms:
            kind = r.kind if r.bound_by else "ordinary"
            seen = texts.stamp(r.last_seen_at, ZoneInfo(settings.schedule.timezone), "%Y-%m-%d %H:%M")
            community = (r.community or "全街道") if r.bound_by else "-"
            print(f"{r.platform_id}\t{r.topic or '-'}\t{kind}\t{community}\t{r.bound_by or '-'}\t{seen}")
        print(f"{len(rooms)} room(s); bind one with: linju rooms bind ID --kind committee --community C", file=sys.stderr)
        return 0

    return _run(args, body)


def cmd_bind(args: argparse.Namespace) -> int:
    community = "" if args.community in ("", "全街道") else args.community

    async def body(session, settings: Settings) -> int:
        from handlers.desk_rooms import RoomRefused, bind_room

        try:
            room = await bind_room(
                session, _rules(settings), room_id=args.room_id, kind=args.kind, community=community,
                area=args.area, grp=args.group,
            )
        except RoomRefused as exc:
            if exc.reason == "configured":
                raise ConfigError(f"room {args.room_id} is configured in config.yaml; change it there") from None
            raise ConfigError(
                f"no community {community!r} in config.yaml (known: {', '.join(exc.known)})"
            ) from None
        print(f"bound {room.platform_id} ({room.topic or 'not seen yet'}) as {args.kind} of {community or '全街道'}")
        print("the running bot uses it within a minute", file=sys.stderr)
        return 0

    return _run(args, body)


def cmd_unbind(args: argparse.Namespace) -> int:
    async def body(session, settings: Settings) -> int:
        from handlers.desk_rooms import unbind_room

        if not await unbind_room(session, args.room_id):
            print(f"linju: {args.room_id} is not bound from the shell", file=sys.stderr)
            return 1
        print(f"{args.room_id} is an ordinary room again")
        return 0

    return _run(args, body)
