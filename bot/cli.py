"""The `linju` command line: run the bot, chat in the console, classify and evaluate, manage the database."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import signal
import sys
import time
from collections.abc import Iterator
from typing import Any

from bot import cli_digest, cli_rooms, cli_tickets, cli_train
from bot.config import ConfigError, Settings, load_settings

log = logging.getLogger("linju")


# ---------------------------------------------------------------- helpers


def _setup_logging(settings: Settings, *, quiet_console: bool) -> None:
    """Operators' logs: to stderr, or (in an interactive console chat) to data_dir/linju.log."""
    level = getattr(logging, settings.log_level.upper(), logging.INFO)
    fmt = "%(asctime)s %(levelname)s %(name)s: %(message)s"
    root = logging.getLogger()
    root.handlers.clear()
    root.setLevel(level)
    if quiet_console:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        fh = logging.FileHandler(settings.data_dir / "linju.log", encoding="utf-8")
        fh.setFormatter(logging.Formatter(fmt))
        root.addHandler(fh)
        err = logging.StreamHandler(sys.stderr)
        err.setLevel(logging.ERROR)
        root.addHandler(err)
    else:
        h = logging.StreamHandler(sys.stderr)
        h.setFormatter(logging.Formatter(fmt))
        root.addHandler(h)
    for noisy in ("aiosqlite", "sqlalchemy.engine", "alembic.runtime.migration", "jieba", "httpx", "httpx2"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def _settings(args: argparse.Namespace) -> Settings:
    return load_settings(args.config)


def _read_jsonl(path: str) -> Iterator[tuple[int, dict[str, Any]]]:
    stream = sys.stdin if path == "-" else open(path, encoding="utf-8")  # noqa: SIM115
    with contextlib.closing(stream) if stream is not sys.stdin else contextlib.nullcontext(stream):
        for n, line in enumerate(stream, 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ConfigError(f"{path}:{n}: not valid JSON ({exc.msg})") from exc
            if not isinstance(obj, dict):
                raise ConfigError(f"{path}:{n}: each line must be a JSON object")
            yield n, obj


# ---------------------------------------------------------------- commands


async def _run_channel(settings: Settings, *, jsonl: bool = False, console_only: bool = False) -> int:
    from bot.app import App
    from bot.channels.console import ConsoleChannel

    channel_name = "console" if console_only else settings.channel
    if channel_name == "console":
        channel = ConsoleChannel(
            room=settings.console.room, sender=settings.console.sender, bot_name=settings.bot.name, jsonl=jsonl
        )
    else:
        from bot.channels.wechaty_channel import WechatyChannel

        channel = WechatyChannel(bot_name=settings.bot.name, data_dir=settings.data_dir)
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
    settings = _settings(args)
    interactive_console = settings.channel == "console" and sys.stdin.isatty()
    _setup_logging(settings, quiet_console=interactive_console)
    return asyncio.run(_run_channel(settings, jsonl=getattr(args, "jsonl", False)))


def cmd_chat(args: argparse.Namespace) -> int:
    settings = _settings(args)
    if args.room:
        settings.console.room = args.room
    if args.sender:
        settings.console.sender = args.sender
    _setup_logging(settings, quiet_console=True)
    return asyncio.run(_run_channel(settings, jsonl=args.jsonl, console_only=True))


def _classification_json(rid: Any, c) -> dict[str, Any]:
    return {
        "id": rid,
        "intent": c.intent,
        "category": c.category if c.intent == "report" else None,
        "confidence": round(float(c.confidence), 4),
        "building": c.location.building,
        "urgent": bool(c.urgent),
        "stage": c.stage,
    }


async def _classify_rows(settings: Settings, rows: list[tuple[int, dict[str, Any]]], *, use_llm: bool = True):
    from bot.understanding import build_understanding

    understanding = await build_understanding(settings, use_llm=use_llm)
    try:
        out = []
        for _, row in rows:
            text = row.get("text")
            c = await understanding.classify(text if isinstance(text, str) else "")
            out.append((row, c))
        return out, understanding.stats()
    finally:
        await understanding.close()


def cmd_classify(args: argparse.Namespace) -> int:
    settings = _settings(args)
    _setup_logging(settings, quiet_console=False)
    rows = list(_read_jsonl(args.input))
    for n, row in rows:
        if "text" not in row:
            raise ConfigError(f"{args.input}:{n}: missing field 'text'")
    results, stats = asyncio.run(_classify_rows(settings, rows))
    out = sys.stdout
    for row, c in results:
        out.write(json.dumps(_classification_json(row.get("id"), c), ensure_ascii=False) + "\n")
    if stats:
        print("llm: " + json.dumps(stats, ensure_ascii=False), file=sys.stderr)
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    settings = _settings(args)
    _setup_logging(settings, quiet_console=False)
    if args.cv:
        return _eval_cv(args, settings)
    from nlp.metrics import format_table, score

    rows = list(_read_jsonl(args.data))
    t0 = time.perf_counter()
    results, stats = asyncio.run(_classify_rows(settings, rows))
    seconds = time.perf_counter() - t0
    preds = [_classification_json(row.get("id"), c) for row, c in results]
    scores = score(preds, [r for _, r in rows])
    scores["seconds"] = round(seconds, 3)
    stages: dict[str, int] = {}
    for p in preds:
        stages[p["stage"]] = stages.get(p["stage"], 0) + 1
    scores["stages"] = stages
    if stats:
        scores["llm"] = stats
    if args.json:
        print(json.dumps(scores, ensure_ascii=False))
    else:
        print(format_table(scores))
        print(f"stages: {stages}  time: {seconds:.2f} s")
        if stats:
            print(f"llm: {json.dumps(stats, ensure_ascii=False)}")
    return 0


def _eval_cv(args: argparse.Namespace, settings: Settings) -> int:
    from nlp import model as statmodel
    from nlp.segment import TextProcessor

    processor = TextProcessor(user_words=settings.all_estates(), cache_dir=str(settings.data_dir / "cache"))
    processor.initialize()
    texts, labels = statmodel.load_labelled_jsonl(
        args.data, text_fields=tuple(args.text_fields.split(",")), label_field=args.label_field
    )
    result = statmodel.cross_validate(
        texts, labels, k=args.cv, tokenize=processor.tokens, progress=lambda m: print(m, file=sys.stderr)
    )
    if args.json:
        print(json.dumps(result, ensure_ascii=False))
    else:
        print(statmodel.format_cv_report(result))
    return 0


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    settings = _settings(args)
    _setup_logging(settings, quiet_console=False)
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
    settings = _settings(args)
    _setup_logging(settings, quiet_console=False)
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

    ev = sub.add_parser("eval", parents=[common], help="score the classifier on labelled JSON Lines")
    ev.add_argument("--data", required=True, help="labelled JSON Lines (fields as in dev_messages.jsonl)")
    ev.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    ev.add_argument("--cv", type=int, metavar="K", help="K-fold cross-validation of the trainable model")
    ev.add_argument("--text-fields", default="text", help="with --cv: fields joined as the text (e.g. title,text)")
    ev.add_argument("--label-field", default="label", help="with --cv: the field holding the label")
    ev.set_defaults(func=cmd_eval)

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

    for feature in (cli_tickets, cli_train, cli_digest, cli_rooms):
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

