"""One App process for bench/pair.py: loads, says "ready", waits for "go" on stdin, handles a stream, reports.

    .venv/bin/python -m bench.worker CONFIG STREAM.jsonl

Prints one JSON line {"n", "seconds"} once every message of the stream is handled (the inbox, classify,
tickets and replies committed), then stops the app.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path

from bench import common


async def run(cfg: Path, messages: list[dict]) -> dict:
    from bot.app import App
    from bot.config import load_settings

    incoming = [common.incoming(m) for m in messages]
    app = App(load_settings(cfg), channel=common.BenchChannel())
    await app.start()
    try:
        print("ready", flush=True)
        await asyncio.to_thread(sys.stdin.readline)
        t0 = time.perf_counter()
        for msg in incoming:
            app.dispatcher.submit(msg)
        await app.dispatcher.drain()
        return {"n": len(incoming), "seconds": time.perf_counter() - t0}
    finally:
        await app.stop()


def main() -> int:
    text = Path(sys.argv[2]).read_text(encoding="utf-8")
    result = asyncio.run(run(Path(sys.argv[1]), [json.loads(line) for line in text.splitlines() if line.strip()]))
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
