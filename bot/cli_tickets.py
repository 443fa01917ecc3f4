"""`linju tickets` (list / show / update / add) and `linju roster import`: the shell side of ticket life."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from bot.config import ConfigError, Settings, load_settings
from handlers import texts
from storage.models import TicketStatus

# English action names for the shell, mapped to the chat verbs so both go through one parser and one set of rules.
ACTIONS = {
    "assign": "派单",
    "accept": "签收",
    "start": "处理",
    "resolve": "办结",
    "close": "关闭",
    "reject": "驳回",
    "merge": "合并",
    "reclassify": "改类",
    "extend": "延期",
    "return": "退单",
    "chase": "催办",
    "grant": "同意延期",
    "refuse-extension": "不同意延期",
}


def _status(value: str) -> str:
    """A status code, or the Chinese word staff use for it; anything else is an error naming the accepted ones."""
    from handlers.staff_words import STATUS_WORDS

    code = value if value in TicketStatus.ALL else STATUS_WORDS.get(value)
    if code is None:
        raise argparse.ArgumentTypeError(
            f"unknown status {value!r}; use one of {', '.join(sorted(TicketStatus.ALL))} (or 已办结, 处理中, 已派单, ...)"
        )
    return code


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    t = sub.add_parser("tickets", parents=[common], help="list, show, update and add tickets from the shell")
    ts = t.add_subparsers(dest="tickets_command", metavar="ACTION")
    ts.required = True

    ls = ts.add_parser("list", parents=[common], help="list tickets (newest first; --overdue: most overdue first)")
    ls.add_argument(
        "--status", type=_status, help="only this status: " + ", ".join(sorted(TicketStatus.ALL)) + " (or 已办结, 处理中, ...)"
    )
    ls.add_argument("--open", action="store_true", help="only tickets not yet resolved")
    ls.add_argument("--overdue", action="store_true", help="only open tickets past their due date")
    ls.add_argument("--source", help="only tickets from this source (wechat, box, meeting, 议事会, ...)")
    ls.add_argument("--limit", type=int, default=50, help="at most this many (default 50)")
    ls.set_defaults(func=cmd_list)

    sh = ts.add_parser("show", parents=[common], help="one ticket with its full history")
    sh.add_argument("number", help="ticket number (3810 or #3810; leading zeros are ignored)")
    sh.set_defaults(func=cmd_show)

    fl = ts.add_parser("failed", parents=[common], help="messages whose handling failed (kept, retried at start)")
    fl.add_argument("--limit", type=int, default=50, help="at most this many (default 50)")
    fl.set_defaults(func=cmd_failed)

    hd = ts.add_parser("held", parents=[common], help="reports held back by the limits (kept, not filed), newest first")
    hd.add_argument("--limit", type=int, default=50, help="at most this many (default 50)")
    hd.set_defaults(func=cmd_held)

    up = ts.add_parser(
        "update",
        parents=[common],
        help="change a ticket as staff would in chat",
        description="Same rules and events as the chat commands; the reporter's room is told when the bot runs. "
        "Examples: update 3810 assign 物业 · update 3810 resolve 已疏通 · update 3811 merge 3810 · "
        "update 3810 reclassify 排水",
    )
    up.add_argument("number", help="ticket number")
    up.add_argument("action", choices=sorted(ACTIONS), help="what to do")
    up.add_argument("args", nargs="*", help="assignee, note, reason, category, or the ticket to merge into")
    up.add_argument("--as", dest="actor", help="who is doing it (default: the shell user)")
    up.set_defaults(func=cmd_update)

    add = ts.add_parser("add", parents=[common], help="file a ticket from another source (box, meeting, ...)")
    add.add_argument("text", help="the problem, as written")
    add.add_argument("--source", default="shell", help="where it came from: box, notebook, meeting, phone, visit, ...")
    add.add_argument("--reporter", help="who reported it (default: the shell user)")
    add.add_argument("--community", help="community (default from config)")
    add.set_defaults(func=cmd_add)

    r = sub.add_parser("roster", parents=[common], help="the roster of staff, leaders and residents")
    rs = r.add_subparsers(dest="roster_command", metavar="ACTION")
    rs.required = True
    imp = rs.add_parser("import", parents=[common], help="load people and hierarchy from CSV or XLSX")
    imp.add_argument("file", help="roster file (.csv or .xlsx; see samples/roster.csv)")
    imp.set_defaults(func=cmd_roster_import)


# ---------------------------------------------------------------- plumbing


def _run(args: argparse.Namespace, body: Callable[..., Awaitable[int]], *, classify: bool = False) -> int:
    settings = load_settings(args.config)
    return asyncio.run(_with_app(settings, body, classify=classify))


async def _with_app(settings: Settings, body, *, classify: bool) -> int:
    import logging

    from bot.understanding import build_understanding, taxonomy_from_settings
    from storage import engine as db

    logging.getLogger("alembic").setLevel(logging.WARNING)
    engine = db.create_engine(settings.database_url)
    understanding = None
    try:
        await db.upgrade(engine)
        if classify:
            understanding = await build_understanding(settings)
        taxonomy = understanding.taxonomy if understanding else taxonomy_from_settings(settings)
        sessions = db.session_factory(engine)
        async with sessions() as session:
            code = await body(session, settings=settings, taxonomy=taxonomy, understanding=understanding)
            await session.commit()
        return code
    finally:
        if understanding is not None:
            await understanding.close()
        await engine.dispose()


def _ops(settings: Settings, taxonomy):
    from bot.app import build_notifier
    from bot.rooms import build_units
    from handlers.ticket_ops import TicketOps

    return TicketOps(taxonomy=taxonomy, notifier=build_notifier(settings), units=build_units(settings))


def _actor(name: str | None):
    from handlers.context import Actor

    name = name or getpass.getuser() or "operator"
    return Actor(id=f"shell:{name}", name=name, role="staff", communities=None)  # the operator: every community


def _now() -> datetime:
    return datetime.now(UTC)


def _number(raw: str) -> str:
    from handlers.staff import ticket_number

    try:
        n = ticket_number(raw)
    except ValueError:
        n = "0"
    if int(n) <= 0:
        raise ConfigError(f"not a ticket number: {raw!r}")
    return n


# ---------------------------------------------------------------- commands


def cmd_list(args: argparse.Namespace) -> int:
    async def body(session, *, settings, taxonomy, understanding) -> int:
        from handlers.staff import source_code
        from storage import repo

        now = _now()
        tickets = await repo.find_tickets(
            session,
            open_only=args.open,
            overdue_at=now if args.overdue else None,
            status=args.status,
            source=source_code(args.source) if args.source else None,
            limit=args.limit,
        )
        ops = _ops(settings, taxonomy)
        for t in tickets:
            print(ops.line(t, now=now))
        print(f"{len(tickets)} ticket(s)", file=sys.stderr)
        return 0

    return _run(args, body)


def cmd_show(args: argparse.Namespace) -> int:
    number = _number(args.number)

    async def body(session, *, settings, taxonomy, understanding) -> int:
        from storage import repo

        t = await repo.get_ticket(session, number)
        if t is None:
            print(f"linju: no ticket {number}", file=sys.stderr)
            return 1
        print(await _ops(settings, taxonomy).history(session, t, now=_now()))
        return 0

    return _run(args, body)


def cmd_failed(args: argparse.Namespace) -> int:
    async def body(session, *, settings, taxonomy, understanding) -> int:
        from storage import messages

        rows = await messages.failed_inbox(session, limit=args.limit)
        if not rows:
            print("no failed messages")
            return 0
        for r in rows:
            when = texts.stamp(r.processed_at, ZoneInfo(settings.schedule.timezone), "%Y-%m-%d %H:%M")
            where = r.room_topic or "私聊"
            print(f"{r.message_id}  {when}  {where}  {r.sender_name}  attempts {r.attempts}")
            print(f"    text:  {r.text[:80]}")
            print(f"    error: {(r.error or '').splitlines()[0][:200] if r.error else '-'}")
        print(f"{len(rows)} failed message(s); each is retried at the next start, up to five attempts")
        return 0

    return _run(args, body)


def cmd_held(args: argparse.Namespace) -> int:
    async def body(session, *, settings, taxonomy, understanding) -> int:
        from storage import messages

        rows = await messages.held_messages(session, limit=args.limit)
        for r in rows:
            when = texts.stamp(r.received_at, ZoneInfo(settings.schedule.timezone), "%Y-%m-%d %H:%M")
            print(f"{r.message_id}  {when}  {r.room_topic or '私聊'}  {r.sender_name}  {r.text[:80]}")
        print(f"{len(rows)} held message(s); file one with: linju tickets add TEXT", file=sys.stderr)
        return 0

    return _run(args, body)


def cmd_update(args: argparse.Namespace) -> int:
    from handlers.staff import CommandError, parse_command

    number = _number(args.number)
    rest = " ".join(args.args)
    if args.action == "merge" and rest:
        rest = f"到 {rest}"
    parsed = parse_command(f"{ACTIONS[args.action]} {number} {rest}".strip())
    if parsed is None or isinstance(parsed, CommandError):
        print(f"linju: {parsed.usage if parsed else 'not understood'}", file=sys.stderr)
        return 2

    async def body(session, *, settings, taxonomy, understanding) -> int:
        from handlers.envelope import outbox_row
        from handlers.ticket_ops import OpError
        from storage import messages

        try:
            change = await _ops(settings, taxonomy).apply(session, parsed, actor=_actor(args.actor), now=_now())
        except OpError as exc:
            print(f"linju: {exc}", file=sys.stderr)
            return 1
        # Sent by the running bot's outbox flush.
        await messages.queue_outbox(session, [outbox_row(None, reply) for reply in change.notices])
        print(change.confirmation)
        for reply in change.notices:
            print(f"notice queued for {reply.room_id or reply.contact_id}: {reply.text}", file=sys.stderr)
        return 0

    return _run(args, body)


def cmd_add(args: argparse.Namespace) -> int:
    async def body(session, *, settings, taxonomy, understanding) -> int:
        from handlers.context import RoomInfo
        from handlers.report import Intake
        from handlers.staff import source_code

        text = args.text.strip()
        if not text:
            print("linju: the text is empty", file=sys.stderr)
            return 2
        intake = Intake(
            taxonomy=taxonomy,
            duplicate_window_days=settings.classifier.duplicate_window_days,
            duplicate_similarity=settings.classifier.duplicate_similarity,
        )
        c = await understanding.classify(understanding.normalize(text))
        actor = _actor(args.reporter)
        filed = await intake.intake(
            session,
            c=c,
            text=understanding.normalize(text),
            raw_text=text,
            actor=actor,
            room=RoomInfo(community=args.community or settings.default_community, kind="private"),
            room_id=None,
            source=source_code(args.source),
            now=_now(),
        )
        print(_ops(settings, taxonomy).filed_text(filed, c))
        return 0

    return _run(args, body, classify=True)


def cmd_roster_import(args: argparse.Namespace) -> int:
    from storage.roster import RosterError, import_file

    async def body(session, *, settings, taxonomy, understanding) -> int:
        try:
            result = await import_file(session, args.file, default_community=settings.default_community)
        except RosterError as exc:
            raise ConfigError(str(exc)) from exc
        for line, problem in result.errors:
            print(f"{args.file}:{line}: {problem}", file=sys.stderr)
        if result.ignored_columns:
            print(f"ignored columns: {', '.join(result.ignored_columns)}", file=sys.stderr)
        summary: dict[str, Any] = {
            "created": result.created,
            "updated": result.updated,
            "unchanged": result.unchanged,
            "communities_created": result.communities_created,
            "errors": len(result.errors),
        }
        print(" ".join(f"{k}={v}" for k, v in summary.items()))
        return 1 if result.errors and not result.loaded else 0

    return _run(args, body)
