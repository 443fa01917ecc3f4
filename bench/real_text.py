"""What the bot would do with real text nobody here wrote: share of tickets, held candidates and replies.

    .venv/bin/python -m bench.real_text [--json]

Every file in ../shared/data/external is either real chat (every line is chat: every ticket is false) or real
citizens' messages to a government board (every line asks for something: the ticket-or-review share is the
recall). The rules were tuned looking at the even lines of lccc_toy_chat and tipdm2020c_fj3 and of the
labelled 泰迪杯 set; the odd lines, chatterbot and fj4 were only measured. Each row says which it is. The
figures are `linju classify`'s decisions on the default config (rules only, no trained model, no LLM); a
leader's role or an @-mention can only turn a held candidate into a ticket on top of these.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXTERNAL = ROOT.parent / "shared" / "data" / "external"

# (label, file, text fields, max chars, assumed intent, lines, tuned on)
SETS = [
    ("LCCC chat, even lines", "lccc_toy_chat.jsonl", ("text",), None, "chat", 0, True),
    ("LCCC chat, odd lines", "lccc_toy_chat.jsonl", ("text",), None, "chat", 1, False),
    ("ChatterBot chat", "chatterbot_zh_chat.jsonl", ("text",), None, "chat", None, False),
    ("fj3 bodies (300 chars), even", "tipdm2020c_fj3_messages_with_likes.jsonl", ("text",), 300, "report", 0, True),
    ("fj3 bodies (300 chars), odd", "tipdm2020c_fj3_messages_with_likes.jsonl", ("text",), 300, "report", 1, False),
    ("fj3 titles, even", "tipdm2020c_fj3_messages_with_likes.jsonl", ("title",), None, "report", 0, True),
    ("fj3 titles, odd", "tipdm2020c_fj3_messages_with_likes.jsonl", ("title",), None, "report", 1, False),
    ("fj4 bodies (300 chars)", "tipdm2020c_fj4_messages_with_replies.jsonl", ("text",), 300, "report", None, False),
    ("fj4 titles", "tipdm2020c_fj4_messages_with_replies.jsonl", ("title",), None, "report", None, False),
    ("labelled bodies (300 chars), even", "tipdm2020c_messages_labeled.jsonl", ("text",), 300, "report", 0, True),
    ("labelled bodies (300 chars), odd", "tipdm2020c_messages_labeled.jsonl", ("text",), 300, "report", 1, False),
    ("labelled titles, odd", "tipdm2020c_messages_labeled.jsonl", ("title",), None, "report", 1, False),
]


def run() -> list[dict]:
    import logging

    from bot.cli_eval import evaluate, rows_for_eval
    from bot.config import load_settings

    logging.basicConfig(level=logging.WARNING)
    settings = load_settings(ROOT / "config.yaml")
    out = []
    for label, name, fields, max_chars, assume, parity, tuned in SETS:
        path = EXTERNAL / name
        if not path.exists():
            continue
        rows = rows_for_eval(str(path), text_fields=fields, max_chars=max_chars, assume=assume)
        if parity is not None:
            rows = rows[parity::2]
        s = evaluate(settings, rows)
        d = s["decisions"]
        out.append(
            {
                "set": label,
                "n": s["n"],
                "kind": assume,
                "tuned_on": tuned,
                "ticket": round(d["ticket"], 4),
                "review": round(d["review"], 4),
                "reply": round(d["reply"], 4),
                "ticket_or_review": round(d["ticket"] + d["review"], 4),
            }
        )
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    if not EXTERNAL.exists():
        print(f"no real text at {EXTERNAL}", file=sys.stderr)
        return 1
    rows = run()
    if args.json:
        print(json.dumps(rows, ensure_ascii=False))
        return 0
    print("| set | n | tuned on | ticket | review | reply | ticket or review |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['set']} ({r['kind']}) | {r['n']:,} | {'yes' if r['tuned_on'] else 'no'} | {r['ticket']:.1%} | "
            f"{r['review']:.1%} | {r['reply']:.1%} | {r['ticket_or_review']:.1%} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
