"""Helpers the benchmark rows share: a config in a temp dir, a channel that only counts, the jieba floor."""

from __future__ import annotations

import asyncio
import logging
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bot.channels.base import Channel
from handlers.types import Capabilities

REPO = Path(__file__).resolve().parent.parent
DEV = REPO.parent / "shared" / "data" / "dev_messages.jsonl"
RESULTS = REPO / "bench" / "results"


def config(tmp: Path, **extra: Any) -> Path:
    """A copy of config.yaml with data in `tmp` (and any top-level overrides)."""
    import yaml

    cfg = yaml.safe_load((REPO / "config.yaml").read_text(encoding="utf-8"))
    cfg["data_dir"] = str(tmp / "data")
    # A benchmark stream is thousands of reports from a few leaders in seconds: the flood limits would hold
    # most of them and measure something else; the figures stay comparable with the runs before the limits.
    cfg.setdefault("limits", {})["enabled"] = False
    cfg.update(extra)
    path = tmp / "config.yaml"
    path.write_text(yaml.safe_dump(cfg, allow_unicode=True), encoding="utf-8")
    return path


def floor_once(texts: list[str]) -> float:
    import jieba

    t0 = time.perf_counter()
    for t in texts:
        jieba.lcut(t)
    return len(texts) / (time.perf_counter() - t0)


def warm_jieba(texts: list[str]) -> None:
    import jieba

    jieba.setLogLevel(logging.WARNING)
    jieba.initialize()
    floor_once(texts)


def paired(rates: list[float], floors: list[float]) -> dict:
    """The median rate, and the median of each run's rate over the floor measured just before it."""
    ratios = [r / f for r, f in zip(rates, floors, strict=True)]
    return {"value": round(statistics.median(rates)), "ratio": round(statistics.median(ratios), 3), "floors": [round(f) for f in floors]}


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(len(s) * q))]


def train(tmp: Path) -> Path | None:
    """`linju train` on the dev set into tmp/data/model (as an operator runs it); None when it cannot."""
    if not DEV.exists():
        return None
    cfg = config(tmp)
    cmd = [sys.executable, "-m", "bot.cli", "train", "--data", str(DEV), "--config", str(cfg)]
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO)
    if done.returncode != 0:
        logging.getLogger("bench").warning("training failed: %s", done.stderr.strip()[-300:])
        return None
    return tmp / "data" / "model"


def install_model(model: Path | None, tmp: Path) -> None:
    """Put a trained model where the app under `tmp` (config(tmp)) loads it from."""
    if model is not None:
        shutil.copytree(model, tmp / "data" / "model", dirs_exist_ok=True)


class BenchChannel(Channel):
    name = "bench"
    # Like the console: configured rooms (the committee's) are known by name before they speak.
    capabilities = Capabilities(source="console", ids_trustworthy=False)

    def __init__(self) -> None:
        self.sent = 0
        self._closed = asyncio.Event()

    async def start(self, on_message) -> None:
        pass

    async def send(self, reply) -> None:
        self.sent += 1

    async def wait_closed(self) -> None:
        await self._closed.wait()

    async def close(self) -> None:
        self._closed.set()


def incoming(m: dict):
    from handlers.types import IncomingMessage

    extra = {"timestamp": m["ts"]} if "ts" in m else {}
    return IncomingMessage(
        message_id=m["id"], sender_id=m["sender"], sender_name=m["sender"], text=m["text"],
        room_id=m["room"], room_topic=m["room"], **extra,
    )
