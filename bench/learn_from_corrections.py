"""Does the bot learn from staff corrections? 误报 on its false tickets, then `linju train --from-tickets`.

    .venv/bin/python -m bench.learn_from_corrections [--json]

Real chat nobody here wrote (../shared/data/external/lccc_toy_chat.jsonl) is split in two halves by line
number. Half A goes through the real app as ordinary members of a leaders' group; staff mark every ticket it
files 误报 (up to 200) and drop every held candidate with 忽略. Reports staff checked come from our own
labelled messages (tests/nlp/data, filed and then 办结 or 确认 by staff) and real citizens' complaints (the
first 300 characters of 300 bodies of tipdm2020c_fj3, filed the same way). Then the statistical stage is
trained from the database as `linju train --from-tickets` does, and half B is classified before and after:
the figure is the share of half B filed as a ticket at once (every line there is chat, so every ticket is
false). Recall on the reports of our labelled set and on other real complaints is shown next to it, so a
model that only learnt to say "chat" would show.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import re
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bot.channels.base import Channel
from handlers.types import Capabilities

ROOT = Path(__file__).resolve().parents[1]
EXTERNAL = ROOT.parent / "shared" / "data" / "external"
LCCC = EXTERNAL / "lccc_toy_chat.jsonl"
FJ3 = EXTERNAL / "tipdm2020c_fj3_messages_with_likes.jsonl"
FJ4 = EXTERNAL / "tipdm2020c_fj4_messages_with_replies.jsonl"
OURS = sorted((ROOT / "tests" / "nlp" / "data").glob("fresh_messages*.jsonl"))
MAX_FALSE = 200
NUMBER = re.compile(r"#(\d{4,})")
CANDIDATE = "待确认"


def _jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


class _Channel(Channel):
    """A fake channel at the edge: messages in, replies collected."""

    name = "bench"
    capabilities = Capabilities(source="wechat", ids_trustworthy=True)  # ids are the platform's, as on WeChat

    def __init__(self) -> None:
        self.sent: list[Any] = []
        self.on_message = None
        self._n = 0
        self._closed = asyncio.Event()

    async def start(self, on_message) -> None:
        self.on_message = on_message

    async def send(self, reply) -> None:
        self.sent.append(reply)

    async def wait_closed(self) -> None:
        await self._closed.wait()

    async def close(self) -> None:
        self._closed.set()

    async def say(self, text: str, *, sender: str, room: str | None) -> list[Any]:
        from handlers.types import IncomingMessage

        self._n += 1
        before = len(self.sent)
        msg = IncomingMessage(
            message_id=f"bench-{self._n}",
            sender_id=f"wxid_{sender}",
            sender_name=sender,
            text=text,
            room_id=f"{room}@chatroom" if room else None,
            room_topic=room,
        )
        handled = await self.on_message(msg)
        await handled
        return self.sent[before:]


async def _teach(settings, half_a: list[str], reports: list[str], staff: str, leaders: str, committee: str) -> dict:
    """Half A and the reports through the app; staff correct what it did. Returns what staff did."""
    from sqlmodel import select

    from bot.app import App
    from storage.models import Candidate, Ticket

    chat = _Channel()
    app = App(settings, channel=chat)
    await app.start()
    did = {"false_tickets_marked": 0, "candidates_ignored": 0, "reports_settled": 0, "reports_confirmed": 0}
    try:
        for i, text in enumerate(half_a):
            await chat.say(text, sender=f"居民{i % 300}", room=leaders)
        async with app.dispatcher.sessions() as s:
            false = [t.number for t in (await s.exec(select(Ticket))).all()]
            chat_candidates = [c.number for c in (await s.exec(select(Candidate))).all()]
        did["false_tickets_filed"] = len(false)
        did["candidates_held"] = len(chat_candidates)
        for number in false[:MAX_FALSE]:
            await chat.say(f"误报 {number}", sender=staff, room=committee)
            did["false_tickets_marked"] += 1
        for number in chat_candidates:
            await chat.say(f"忽略 {number}", sender=staff, room=committee)
            did["candidates_ignored"] += 1
        for i, text in enumerate(reports):
            replies = await chat.say(text, sender=f"邻长{i % 50}", room=leaders)
            numbers = [m.group(1) for r in replies if (m := NUMBER.search(r.text))]
            if numbers:
                await chat.say(f"办结 {numbers[0]} 已处理", sender=staff, room=committee)
                did["reports_settled"] += 1
        async with app.dispatcher.sessions() as s:
            held = [c.number for c in (await s.exec(select(Candidate).where(Candidate.status == "pending"))).all()]
        for number in held:
            await chat.say(f"确认 {number}", sender=staff, room=committee)
            did["reports_confirmed"] += 1
    finally:
        await app.stop()
    return did


async def _decisions(settings, texts: list[str], *, use_model: bool) -> list[str]:
    from bot.understanding import build_understanding

    u = await build_understanding(settings, use_model=use_model, use_llm=False)
    try:
        return [(await u.classify(u.normalize(t))).decision for t in texts]
    finally:
        await u.close()


def _ticketed(texts: list[str], decisions: list[str]) -> list[str]:
    return [t for t, d in zip(texts, decisions, strict=True) if d == "ticket"]


def _share(decisions: list[str], *kinds: str) -> float:
    return sum(d in kinds for d in decisions) / max(1, len(decisions))


def run() -> dict[str, Any]:
    from bot.cli_train import rows_from_tickets, train
    from tests.support import make_settings

    lccc = [r["text"] for r in _jsonl(LCCC)]
    half_a, half_b = lccc[0::2], lccc[1::2]
    ours = [r["text"] for p in OURS for r in _jsonl(p) if r["intent"] == "report"]
    fj3 = [r["text"][:300] for r in _jsonl(FJ3)[:300] if r.get("text")]
    held_out_reports = [r["text"][:300] for r in _jsonl(FJ4)[:1000] if r.get("text")]
    out: dict[str, Any] = {"half_a": len(half_a), "half_b": len(half_b)}
    with tempfile.TemporaryDirectory() as tmp:
        # Rooms and staff by the ids the channel below gives them; no flood limits: one afternoon stands in for
        # months of a group's messages.
        settings = make_settings(Path(tmp))
        settings.limits.enabled = False
        leaders = settings.console.room
        committee = next(r.name for c in settings.communities for r in c.rooms if r.kind == "committee")
        t0 = time.perf_counter()
        out["staff"] = asyncio.run(_teach(settings, half_a, ours + fj3, "刘主任", leaders, committee))
        rows, labels = asyncio.run(rows_from_tickets(settings))
        out["labels_used"] = labels
        train(settings, rows, source="tickets")
        for when, use_model in (("before", False), ("after", True)):
            b = asyncio.run(_decisions(settings, half_b, use_model=use_model))
            r = asyncio.run(_decisions(settings, held_out_reports, use_model=use_model))
            o = asyncio.run(_decisions(settings, ours, use_model=use_model))
            out[when] = {
                "half_b_ticket_share": round(_share(b, "ticket"), 5),
                "half_b_tickets": b.count("ticket"),
                "half_b_review_share": round(_share(b, "review"), 5),
                "fj4_ticket_or_review": round(_share(r, "ticket", "review"), 4),
                "ours_ticket_or_review": round(_share(o, "ticket", "review"), 4),
                "half_b_ticketed": _ticketed(half_b, b),
            }
        before, after = out["before"]["half_b_tickets"], out["after"]["half_b_tickets"]
        out["false_tickets_fall"] = round(1 - after / before, 3) if before else None
        out["seconds"] = round(time.perf_counter() - t0, 1)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    if not LCCC.exists():
        print(f"no real chat at {LCCC}", file=sys.stderr)
        return 1
    logging.basicConfig(level=logging.WARNING)
    out = run()
    if args.json:
        print(json.dumps(out, ensure_ascii=False))
        return 0
    s = out["staff"]
    print(f"half A: {out['half_a']} lines of real chat; the bot filed {s['false_tickets_filed']} tickets and held "
          f"{s['candidates_held']}; staff marked {s['false_tickets_marked']} 误报 and {s['candidates_ignored']} 忽略")
    print(f"reports staff checked: {s['reports_settled']} 办结, {s['reports_confirmed']} 确认")
    print("labels used by train --from-tickets: " + ", ".join(f"{k} {v}" for k, v in out["labels_used"].items()))
    for when in ("before", "after"):
        w = out[when]
        print(f"{when:6s} half B tickets {w['half_b_tickets']} ({w['half_b_ticket_share']:.3%}), held "
              f"{w['half_b_review_share']:.2%}; reports still taken (ticket or review): fj4 {w['fj4_ticket_or_review']:.3f}, "
              f"ours {w['ours_ticket_or_review']:.3f}")
    print("still filed after training (half B): " + " | ".join(t[:40] for t in out["after"]["half_b_ticketed"]))
    fall = out["false_tickets_fall"]
    print(f"false tickets on half B fell by {fall:.0%}" if fall is not None else "no false tickets on half B before")
    return 0


if __name__ == "__main__":
    sys.exit(main())
