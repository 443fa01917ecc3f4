"""Helpers for the reliability suite: sizes from the environment, the CLI as a subprocess, database snapshots."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from sqlmodel import select

from storage import engine as db
from storage.models import Inbox, Outbox, Ticket, TicketEvent
from tests.support import DEFAULT_CONFIG, REPO

# LINJU_RELIABILITY_SCALE multiplies the sizes the issue asks for (1.0: a 20,000-message crash stream).
SCALE = float(os.environ.get("LINJU_RELIABILITY_SCALE", "1"))
# How many hypothesis examples each property test tries (moderate by default; raise it for a soak).
EXAMPLES = int(os.environ.get("LINJU_RELIABILITY_EXAMPLES", "150"))


def scaled(n: int, *, minimum: int = 1) -> int:
    return max(minimum, int(n * SCALE))


def write_config(tmp: Path, *, database_url: str | None = None, **extra) -> Path:
    """The default config.yaml on the console channel, with its data in `tmp` (and a database URL if given).

    The per-sender limits are off: these streams are bench.messages' ten leaders filing thousands of reports
    in minutes, which is a flood by any measure, and what these tests prove is durability, not the limits
    (tests/reliability/test_abuse.py proves those).
    """
    cfg = yaml.safe_load(DEFAULT_CONFIG.read_text(encoding="utf-8"))
    cfg["channel"] = "console"
    cfg["data_dir"] = str(tmp / "data")
    cfg.setdefault("database", {})["url"] = database_url
    cfg["log_level"] = "INFO"
    cfg["limits"] = {"enabled": False}
    cfg.update(extra)
    path = tmp / "config.yaml"
    path.write_text(yaml.safe_dump(cfg, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def cli_env() -> dict[str, str]:
    """The environment for a `linju` subprocess: no LINJU_ overrides leaking in from the caller's shell."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LINJU_")}
    env["PYTHONUNBUFFERED"] = "1"
    return env


def linju_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "bot.cli", *args]


@dataclass
class Run:
    """One `linju run --jsonl` process: the reply lines it printed and how it ended."""

    lines: list[str] = field(default_factory=list)
    killed: bool = False
    returncode: int | None = None
    seconds: float = 0.0


def run_jsonl(
    config: Path,
    stream: Path,
    *,
    log: Path,
    kill_after_lines: int | None = None,
    kill_after_seconds: float | None = None,
    timeout: float = 1800,
) -> Run:
    """Feed `stream` to `linju run --jsonl`; SIGKILL it after so many reply lines or seconds, if asked."""
    run = Run()
    t0 = time.monotonic()
    with open(stream, "rb") as stdin, open(log, "ab") as err:
        proc = subprocess.Popen(
            linju_command("run", "--jsonl", "--config", str(config)),
            stdin=stdin,
            stdout=subprocess.PIPE,
            stderr=err,
            cwd=REPO,
            env=cli_env(),
        )

        def kill() -> None:
            if proc.poll() is None:
                run.killed = True
                proc.send_signal(signal.SIGKILL)

        timers = [threading.Timer(timeout, kill)]
        if kill_after_seconds is not None:
            timers.append(threading.Timer(kill_after_seconds, kill))
        for t in timers:
            t.daemon = True
            t.start()
        try:
            assert proc.stdout is not None
            for raw in proc.stdout:
                run.lines.append(raw.decode("utf-8", "replace"))
                if kill_after_lines is not None and len(run.lines) >= kill_after_lines:
                    kill()
                    break
            # What the process wrote before it died was sent: read the rest of the pipe.
            run.lines.extend(proc.stdout.read().decode("utf-8", "replace").splitlines(keepends=True))
            run.returncode = proc.wait(timeout=60)
        finally:
            for t in timers:
                t.cancel()
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    run.seconds = time.monotonic() - t0
    return run


def replies_printed(lines: list[str]) -> Counter:
    """(room, text) of every complete JSON reply line (a line cut by SIGKILL is not a sent reply)."""
    out: Counter = Counter()
    for line in lines:
        if not line.endswith("\n"):
            continue
        obj = json.loads(line)
        out[(obj["room"] if obj["room"] is not None else obj["to"], obj["text"])] += 1
    return out


@dataclass
class Snapshot:
    """Everything the reliability checks read from a database."""

    inbox: list[Inbox]
    tickets: list[Ticket]
    events: list[TicketEvent]
    outbox: list[Outbox]


async def snapshot(url: str) -> Snapshot:
    engine = db.create_engine(url)
    try:
        async with db.session_factory(engine)() as s:
            return Snapshot(
                inbox=list((await s.exec(select(Inbox).order_by(Inbox.id))).all()),
                tickets=list((await s.exec(select(Ticket).order_by(Ticket.id))).all()),
                events=list((await s.exec(select(TicketEvent).order_by(TicketEvent.id))).all()),
                outbox=list((await s.exec(select(Outbox).order_by(Outbox.id))).all()),
            )
    finally:
        await engine.dispose()


def assert_consistent(snap: Snapshot, *, expected_ids: set[str] | None = None) -> None:
    """Nothing lost, nothing filed twice: the invariants every reliability test ends with.

    - every message is in the inbox exactly once, and handled (done or ignored);
    - every report points at a ticket; every ticket was created by exactly one report whose inbox row names
      it (a ticket no inbox row claims is a double filing); one `created` event per ticket;
    - a duplicate report joins at most once per person, and the supporters count matches the events;
    - every committed reply was sent.
    """
    ids = [r.message_id for r in snap.inbox]
    dupes = [m for m, n in Counter(ids).items() if n > 1]
    assert not dupes, f"messages in the inbox more than once: {dupes[:5]}"
    if expected_ids is not None:
        missing = expected_ids - set(ids)
        assert not missing, f"{len(missing)} messages never reached the inbox, e.g. {sorted(missing)[:5]}"
    unhandled = [(r.message_id, r.status, r.error) for r in snap.inbox if r.status not in ("done", "ignored")]
    assert not unhandled, f"{len(unhandled)} messages not handled: {unhandled[:5]}"

    by_number = {t.number: t for t in snap.tickets}
    assert len(by_number) == len(snap.tickets), "two tickets share a number"
    inbox_by_mid = {r.message_id: r for r in snap.inbox}
    for r in snap.inbox:
        if r.intent == "report":
            assert r.ticket_number in by_number, f"report {r.message_id} has no ticket ({r.ticket_number})"
    creators = Counter(t.inbox_message_id for t in snap.tickets)
    twice_filed = [m for m, n in creators.items() if n > 1]
    assert not twice_filed, f"messages that filed more than one ticket: {twice_filed[:5]}"
    for t in snap.tickets:
        row = inbox_by_mid.get(t.inbox_message_id or "")
        assert row is not None, f"ticket {t.number} comes from no inbox message"
        assert row.ticket_number == t.number, (
            f"ticket {t.number} was filed for {t.inbox_message_id}, whose inbox row names {row.ticket_number}: "
            "an extra filing"
        )
    created = Counter(e.ticket_id for e in snap.events if e.action == "created")
    assert all(created[t.id] == 1 for t in snap.tickets), "a ticket with other than one 'created' event"
    supports = Counter((e.ticket_id, e.actor_id) for e in snap.events if e.action == "support")
    assert all(n == 1 for n in supports.values()), "a person counted twice behind one ticket"
    per_ticket = Counter(e.ticket_id for e in snap.events if e.action == "support")
    for t in snap.tickets:
        assert t.supporters == 1 + per_ticket[t.id], f"ticket {t.number}: supporters {t.supporters} vs events"

    unsent = [o.id for o in snap.outbox if o.sent_at is None]
    assert not unsent, f"{len(unsent)} committed replies never sent"


def outbox_replies(snap: Snapshot) -> Counter:
    return Counter((o.room_id or o.contact_id, json.loads(o.payload)["text"]) for o in snap.outbox)
