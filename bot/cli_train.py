"""`linju train`: fit the statistical stage from labelled JSON Lines or from staff-checked tickets."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

from bot.cli_common import read_jsonl
from bot.config import ConfigError, Settings, load_settings
from bot.understanding import model_dir, taxonomy_from_settings
from handlers import texts
from nlp.types import INTENTS, Taxonomy


def _say(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def rows_from_file(path: str, *, text_fields: tuple[str, ...], label_field: str) -> tuple[list[dict], str]:
    """Training rows {text, intent, category} and a description of the file's format.

    A file with an `intent` field (as dev_messages.jsonl) teaches intent and category; a file with only a label
    (a ledger of past complaints) teaches categories, and the intent stays with the rules.
    """
    rows: list[dict] = []
    has_intent = False
    for n, obj in read_jsonl(path):
        text = "。".join(str(obj[f]).strip() for f in text_fields if obj.get(f))
        if not text:
            continue
        intent = obj.get("intent")
        if intent is not None:
            if intent not in INTENTS:
                raise ConfigError(f"{path}:{n}: intent {intent!r} is not one of {', '.join(INTENTS)}")
            has_intent = True
            category = obj.get("category") if intent == "report" else None
        else:
            category = obj.get(label_field)
            if not category:
                continue
            intent = "report"
        rows.append({"text": text, "intent": intent, "category": category})
    if not rows:
        raise ConfigError(f"{path}: no labelled rows (need text and either intent or {label_field})")
    return rows, "intent and category" if has_intent else f"categories from '{label_field}'"


# What staff did to a ticket that makes its category a label (DESIGN.md: labels come from staff).
CHECKED_ACTIONS = ("confirm", "reclassify", "merge")
SETTLED = ("resolved", "closed")


async def rows_from_tickets(settings: Settings, *, max_silent: int = 20_000) -> tuple[list[dict], dict[str, int]]:
    """Training rows from what staff decided, and how many labels of each kind were used.

    Reports: tickets staff checked — confirmed from 待确认 (确认), corrected by 改类, merged, resolved or closed,
    or registered by staff themselves (登记) — in their current category. Not the bot's own unchecked tickets,
    and not tickets rejected (驳回) or withdrawn: a rejection says the community will not act, not that the
    message was chat. Chat: tickets marked 误报, candidates dropped with 忽略, and the newest messages the bot
    stayed silent on. Queries: messages it answered as progress questions.
    """
    from sqlmodel import col, select

    from handlers.texts import CHAT_SOURCES
    from storage import candidates as cand_store
    from storage import engine as db
    from storage.models import Inbox, Ticket, TicketEvent

    engine = db.create_engine(settings.database_url)
    try:
        await db.upgrade(engine)
        async with db.session_factory(engine)() as s:
            actions: dict[int, set[str]] = {}
            for ticket_id, action in (
                await s.exec(
                    select(TicketEvent.ticket_id, TicketEvent.action).where(
                        col(TicketEvent.action).in_([*CHECKED_ACTIONS, "false_positive"])
                    )
                )
            ).all():
                actions.setdefault(ticket_id, set()).add(action)
            # sqlmodel's select() overloads stop at four columns (SQLAlchemy's own select takes any number).
            tickets = (await s.exec(select(Ticket.id, Ticket.text, Ticket.category, Ticket.status, Ticket.source))).all()  # type: ignore[call-overload]
            settled = await cand_store.labelled(s)
            silent = (
                await s.exec(
                    select(Inbox.text, Inbox.intent)
                    .where(col(Inbox.intent).in_(["chat", "query"]))
                    .where(Inbox.kind == "text")
                    .order_by(col(Inbox.id).desc())
                    .limit(max_silent)
                )
            ).all()
    finally:
        await engine.dispose()
    counts = dict.fromkeys(
        ("confirmed", "reclassified", "merged", "settled", "registered", "false_positive", "ignored", "silent", "query"), 0
    )
    rows: list[dict] = []
    for tid, text, category, status, source in tickets:
        done = actions.get(tid, set())
        if not text or text == texts.VOICE_PENDING:  # a recording staff filed untranscribed: no words to learn
            continue
        if "false_positive" in done:
            counts["false_positive"] += 1
            rows.append({"text": text, "intent": "chat", "category": None})
            continue
        kind = (
            "confirmed" if "confirm" in done
            else "reclassified" if "reclassify" in done
            else "merged" if "merge" in done or status == "duplicate"
            else "registered" if source not in CHAT_SOURCES and status not in ("rejected", "withdrawn")
            else "settled" if status in SETTLED
            else None
        )
        if kind is not None:
            counts[kind] += 1
            rows.append({"text": text, "intent": "report", "category": category})
    for text, status, _number in settled:
        if status == "ignored" and text:
            counts["ignored"] += 1
            rows.append({"text": text, "intent": "chat", "category": None})
    for text, intent in silent:
        if text and text.strip():
            counts["silent" if intent == "chat" else "query"] += 1
            rows.append({"text": text, "intent": intent, "category": None})
    return rows, counts


def _check_labels(rows: list[dict], taxonomy: Taxonomy) -> list[str]:
    labels = sorted({r["category"] for r in rows if r["intent"] == "report" and r["category"]})
    unknown = [c for c in labels if taxonomy.get(c) is None]
    if unknown:
        _say(
            "warning: these labels are not categories of the configured taxonomy: "
            + ", ".join(unknown)
            + " — the bot will refuse this model at start-up until the taxonomy has them"
        )
    return labels


def train(settings: Settings, rows: list[dict], *, source: str, out: Path | None = None) -> dict[str, Any]:
    """Fit, save with metadata into data_dir/model (or `out`), and return the metadata written."""
    from nlp import model as statmodel
    from nlp.segment import TextProcessor

    taxonomy = taxonomy_from_settings(settings)
    labels = _check_labels(rows, taxonomy)
    if len(labels) < 2:
        raise ConfigError("need reports of at least two categories to learn from")
    processor = TextProcessor(user_words=settings.all_estates(), cache_dir=str(settings.data_dir / "cache"))
    _say("loading the dictionary")
    processor.initialize()
    t0 = time.perf_counter()
    model = statmodel.IntentCategoryModel.fit(rows, tokenize=processor.tokens, progress=_say)
    seconds = time.perf_counter() - t0
    target = out or model_dir(settings)
    meta = statmodel.save(
        model,
        target,
        {"source": source, "train_seconds": round(seconds, 2), "configured_taxonomy": taxonomy.fingerprint()},
    )
    _say(f"trained on {len(rows)} messages in {seconds:.1f} s; saved to {target}")
    return meta


def cmd_train(args: argparse.Namespace) -> int:
    settings = load_settings(args.config)
    if bool(args.data) == bool(args.from_tickets):
        raise ConfigError("give either --data FILE or --from-tickets")
    labels: dict[str, int] | None = None
    if args.from_tickets:
        rows, labels = asyncio.run(rows_from_tickets(settings))
        source = "tickets"
        _say(
            "labels from staff: "
            + ", ".join(f"{k} {v}" for k, v in labels.items())
            + f" ({sum(r['intent'] == 'report' for r in rows)} reports, {len(rows)} messages in all)"
        )
        if not any(r["intent"] == "report" for r in rows):
            raise ConfigError("no staff-checked tickets yet (confirmed, 改类, resolved or registered): nothing to learn reports from")
    else:
        rows, kind = rows_from_file(
            args.data, text_fields=tuple(f for f in args.text_fields.split(",") if f), label_field=args.label_field
        )
        source = str(args.data)
        _say(f"{len(rows)} labelled messages ({kind}) from {args.data}")
    meta = train(settings, rows, source=source, out=Path(args.out) if args.out else None)
    summary: dict[str, Any] = {k: meta[k] for k in ("kind", "labels", "intents", "training_size", "created_at", "source") if k in meta}
    if labels is not None:
        summary["labels_used"] = labels
    print(json.dumps(summary, ensure_ascii=False))
    print("the bot uses this model from its next start (linju classify and linju eval use it at once)", file=sys.stderr)
    return 0


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("train", parents=[common], help="train the statistical classifier stage")
    p.add_argument("--data", help="labelled JSON Lines (dev_messages.jsonl fields, or text + a label field)")
    p.add_argument(
        "--from-tickets",
        action="store_true",
        help="learn from what staff decided: checked tickets as reports (确认, 改类, 办结), 误报 and 忽略 as chat",
    )
    p.add_argument("--text-fields", default="text", help="fields joined as the text, e.g. title,text")
    p.add_argument("--label-field", default="label", help="the label field of a file without 'intent'")
    p.add_argument("--out", help="directory to save into (default: <data_dir>/model)")
    p.set_defaults(func=cmd_train)
