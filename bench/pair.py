"""Two App processes on one PostgreSQL database, each handling half of a distinct stream, against one alone.

    .venv/bin/python -m bench.pair [--quick]

Each process is `python -m bench.worker` (its own event loop, its own data_dir and bot.instance, the trained
model). Both load first; then both are told to go at once, and the pair's rate is all messages over the wall
time until the slower one is done. "One alone" is one process handling one half, on a fresh database.
"""

from __future__ import annotations

import asyncio
import json
import logging
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench import common

log = logging.getLogger("bench")


def _spawn(cfg: Path, stream: Path) -> subprocess.Popen:
    p = subprocess.Popen(
        [sys.executable, "-m", "bench.worker", str(cfg), str(stream)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, cwd=common.REPO, text=True,
    )
    assert p.stdout is not None
    line = p.stdout.readline().strip()
    if line != "ready":
        p.kill()
        raise RuntimeError(f"bench worker did not start (said {line!r})")
    return p


def _together(workers: list[subprocess.Popen]) -> tuple[float, int]:
    t0 = time.perf_counter()
    for p in workers:
        assert p.stdin is not None
        p.stdin.write("go\n")
        p.stdin.flush()
    n = 0
    for p in workers:
        assert p.stdout is not None
        n += json.loads(p.stdout.readline())["n"]
        p.wait(timeout=120)
    return time.perf_counter() - t0, n


async def _measure(halves: list[list[dict]], tmp: Path, model: Path | None, count: int) -> float:
    from tests.support import pg_database

    async with pg_database() as url:
        workers = []
        for i in range(count):  # started one after the other: the first migrates the fresh database
            d = tmp / f"w{i}"
            d.mkdir()
            cfg = common.config(d, database={"url": url})
            common.install_model(model, d)
            stream = d / "stream.jsonl"
            stream.write_text("".join(json.dumps(m, ensure_ascii=False) + "\n" for m in halves[i]), encoding="utf-8")
            workers.append(await asyncio.to_thread(_spawn, cfg, stream))
        seconds, n = await asyncio.to_thread(_together, workers)
        return n / seconds


def rows(messages: list[dict], model: Path | None, repeat: int) -> list[dict]:
    from tests.support import pg_available

    if not asyncio.run(pg_available()):
        return [{"figure": "two instances", "what": "PostgreSQL not reachable: skipped", "value": None, "unit": "×"}]
    half = len(messages) // 2
    halves = [messages[:half], messages[half:]]
    ratios, one, two = [], [], []
    for i in range(repeat):
        with tempfile.TemporaryDirectory(prefix="linju-pair-") as d:
            Path(d, "a").mkdir()
            Path(d, "b").mkdir()
            one.append(asyncio.run(_measure(halves, Path(d, "a"), model, 1)))
            two.append(asyncio.run(_measure(halves, Path(d, "b"), model, 2)))
        ratios.append(two[-1] / one[-1])
        log.info("two instances run %d: one %.0f msg/s, two %.0f msg/s (%.2f ×)", i + 1, one[-1], two[-1], ratios[-1])
    from statistics import median

    what = (f"two App processes on one PostgreSQL, {half:,} distinct messages each, together: "
            f"{median(two):,.0f} msg/s against one alone: {median(one):,.0f} msg/s (median ratio of {repeat} pairs)")
    return [{"figure": "two instances", "what": what, "value": round(median(ratios), 2), "unit": "×",
             "one": [round(x) for x in one], "two": [round(x) for x in two]}]


def main(argv: list[str] | None = None) -> int:
    from bench.distinct import generate

    quick = "--quick" in (argv if argv is not None else sys.argv[1:])
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    log.setLevel(logging.INFO)
    messages = list(generate(2_000 if quick else 20_000))
    with tempfile.TemporaryDirectory(prefix="linju-train-") as d:
        print(rows(messages, common.train(Path(d)), 1 if quick else 3))
    return 0


if __name__ == "__main__":
    sys.exit(main())
