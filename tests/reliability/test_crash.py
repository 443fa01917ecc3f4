"""Crash: `linju run` killed with SIGKILL at random points and restarted on the same database loses nothing."""

from __future__ import annotations

import json
import os
import random
import time

from bench.messages import generate
from tests.reliability.support import (
    assert_consistent,
    outbox_replies,
    replies_printed,
    run_jsonl,
    scaled,
    snapshot,
    write_config,
)
from tests.support import pg_database, require_pg

MESSAGES = scaled(20_000, minimum=200)
# PostgreSQL repeats the check on a quarter of the stream: the same code paths, half the suite's time.
MESSAGES_PG = scaled(5_000, minimum=200)
KILLS = int(os.environ.get("LINJU_RELIABILITY_KILLS", "3"))
SEED = int(os.environ.get("LINJU_RELIABILITY_SEED", "8"))
REDELIVERED = 0.01  # a share of the stream comes again later with the same id (a reconnecting client)


def write_stream(path, n: int, seed: int) -> set[str]:
    """`n` realistic messages, plus ~1% redelivered later in the stream; returns the distinct ids."""
    rng = random.Random(seed)
    msgs = list(generate(n, seed=seed))
    again = rng.sample(range(n), int(n * REDELIVERED))
    for i in sorted(again, reverse=True):
        msgs.insert(min(n, i + rng.randint(1, 50)), msgs[i])
    with open(path, "w", encoding="utf-8") as f:
        for m in msgs:
            f.write(json.dumps(m, ensure_ascii=False) + "\n")
    return {m["id"] for m in msgs}


async def crash_and_restart(tmp_path, database_url: str | None, messages: int) -> None:
    rng = random.Random(SEED)
    stream = tmp_path / "stream.jsonl"
    ids = write_stream(stream, messages, SEED)
    config = write_config(tmp_path, database_url=database_url)
    log = tmp_path / "linju.log"
    url = database_url or f"sqlite+aiosqlite:///{tmp_path / 'data' / 'linju.db'}"
    # About a quarter of messages get a reply; the kills land at random reply counts spread over the stream.
    replies_expected = messages // 4
    targets = sorted(rng.sample(range(1, replies_expected * 3 // 4), max(0, KILLS - 1)))
    printed: list[str] = []
    kills, timings, done = [], [], 0
    for k in range(KILLS):
        if k < len(targets):
            plan = {"kill_after_lines": max(1, targets[k] - done)}
        else:
            # One kill by the clock: it may land in start-up, recovery or the redelivered stretch.
            plan = {"kill_after_seconds": rng.uniform(1.0, 6.0)}
        run = run_jsonl(config, stream, log=log, **plan)
        printed += run.lines
        done += len(run.lines)
        kills.append((plan, run.killed, len(run.lines)))
        timings.append(round(run.seconds, 1))
        assert run.killed or run.returncode == 0, f"run {k} ended with {run.returncode}; see {log}"
    final = run_jsonl(config, stream, log=log)
    printed += final.lines
    timings.append(round(final.seconds, 1))
    assert final.returncode == 0, f"the last run ended with {final.returncode}; see {log}"
    assert any(killed for _, killed, _ in kills), f"no run was killed: {kills}"
    print(f"crash test: {messages} messages, kills {kills}, run seconds {timings}")

    snap = await snapshot(url)
    assert_consistent(snap, expected_ids=ids)
    assert sum(1 for r in snap.inbox if r.intent == "report") > messages // 10, "the stream filed too few reports"
    # No reply lost: every committed reply was printed by some run (a reply may repeat after a kill).
    sent, committed = replies_printed(printed), outbox_replies(snap)
    lost = {k: n - sent[k] for k, n in committed.items() if sent[k] < n}
    assert not lost, f"{sum(lost.values())} replies committed but never printed, e.g. {list(lost)[:3]}"
    errors = [line for line in log.read_text(encoding="utf-8").splitlines() if " ERROR " in line]
    assert not errors, f"errors logged: {errors[:5]}"


async def test_sigkill_at_random_points_loses_no_message_files_no_ticket_twice_and_loses_no_reply(tmp_path):
    t0 = time.monotonic()
    await crash_and_restart(tmp_path, None, MESSAGES)
    print(f"sqlite crash test took {time.monotonic() - t0:.1f} s")


async def test_sigkill_at_random_points_on_postgresql(tmp_path):
    await require_pg()
    t0 = time.monotonic()
    async with pg_database() as url:
        await crash_and_restart(tmp_path, url, MESSAGES_PG)
    print(f"postgresql crash test took {time.monotonic() - t0:.1f} s")
