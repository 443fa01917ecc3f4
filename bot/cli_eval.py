"""`linju eval`: score the classifier on labelled JSON Lines, or real text assumed all chat or all reports."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from typing import Any

from bot.cli_common import classification_json, classify_rows, read_jsonl, settings_from, setup_logging
from bot.config import ConfigError, Settings


def rows_for_eval(path: str, *, text_fields: tuple[str, ...], max_chars: int | None, assume: str | None) -> list[dict]:
    """Rows with a `text` (the given fields joined, cut to `max_chars`) and, with `assume`, the intent every
    row is taken to have (real chat nobody labelled is all chat; citizens' complaints are all reports)."""
    out = []
    for n, row in read_jsonl(path):
        text = "。".join(str(row[f]).strip() for f in text_fields if row.get(f))
        if not text:
            continue
        if max_chars:
            text = text[:max_chars]
        if assume:
            row = {"id": row.get("id"), "intent": assume, "category": None, "also": [], "building": None, "urgent": False}
        elif "intent" not in row:
            raise ConfigError(f"{path}:{n}: no 'intent' field (label the rows, or pass --assume chat|report)")
        out.append({**row, "text": text})
    if not out:
        raise ConfigError(f"{path}: no rows with text in the fields {', '.join(text_fields)}")
    return out


def evaluate(settings: Settings, rows: list[dict]) -> dict[str, Any]:
    from nlp.metrics import score

    t0 = time.perf_counter()
    results, stats = asyncio.run(classify_rows(settings, [(0, r) for r in rows]))
    seconds = time.perf_counter() - t0
    preds = [classification_json(row.get("id"), c) for row, c in results]
    scores = score(preds, rows)
    scores["seconds"] = round(seconds, 3)
    stages: dict[str, int] = {}
    for p in preds:
        stages[p["stage"]] = stages.get(p["stage"], 0) + 1
    scores["stages"] = stages
    if stats:
        scores["llm"] = stats
    return scores


def cmd_eval(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    setup_logging(settings, quiet_console=False)
    if args.cv:
        return _eval_cv(args, settings)
    from nlp.metrics import format_table

    fields = tuple(f for f in (args.text_fields or "text").split(",") if f)
    report: dict[str, Any] = {}
    for path in args.data:
        rows = rows_for_eval(path, text_fields=fields, max_chars=args.max_chars, assume=args.assume)
        scores = evaluate(settings, rows)
        report[path] = scores
        if not args.json:
            if len(args.data) > 1:
                print(f"== {path}")
            print(format_table(scores, labels=args.assume is None))
            print(f"stages: {scores['stages']}  time: {scores['seconds']:.2f} s")
            if "llm" in scores:
                print(f"llm: {json.dumps(scores['llm'], ensure_ascii=False)}")
    if args.json:
        print(json.dumps(report[args.data[0]] if len(args.data) == 1 else report, ensure_ascii=False))
    return 0


def _eval_cv(args: argparse.Namespace, settings: Settings) -> int:
    from nlp import model as statmodel
    from nlp.segment import TextProcessor

    if len(args.data) != 1:
        raise ConfigError("--cv takes one --data file")
    processor = TextProcessor(user_words=settings.all_estates(), cache_dir=str(settings.data_dir / "cache"))
    processor.initialize()
    texts, labels = statmodel.load_labelled_jsonl(
        args.data[0], text_fields=tuple((args.text_fields or "text").split(",")), label_field=args.label_field
    )
    result = statmodel.cross_validate(
        texts, labels, k=args.cv, tokenize=processor.tokens, progress=lambda m: print(m, file=sys.stderr)
    )
    if args.json:
        print(json.dumps(result, ensure_ascii=False))
    else:
        print(statmodel.format_cv_report(result))
    return 0


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    ev = sub.add_parser(
        "eval",
        parents=[common],
        help="score the classifier on labelled JSON Lines (or real text assumed chat or reports)",
        description="Scores intent, category, building and urgency on labelled rows, and what the bot would do: "
        "the share of each decision (ticket, review, reply, none), precision and recall of tickets and of "
        "tickets plus held candidates, and how many messages a group would see a reply to.",
    )
    ev.add_argument("--data", required=True, action="append", help="JSON Lines (repeat for several files)")
    ev.add_argument("--assume", choices=("chat", "report"), help="unlabelled rows: score every row as this intent")
    ev.add_argument("--text-fields", help="fields joined as the text (default: text), e.g. title or title,text")
    ev.add_argument("--max-chars", type=int, metavar="N", help="use the first N characters of each text")
    ev.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    ev.add_argument("--cv", type=int, metavar="K", help="K-fold cross-validation of the trainable model")
    ev.add_argument("--label-field", default="label", help="with --cv: the field holding the label")
    ev.set_defaults(func=cmd_eval)
