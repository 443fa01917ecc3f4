"""The live path on distinct text (bench/distinct.py): classify one message at a time as the dispatcher does,
with the model `linju train` makes from the dev set and without it; the model's own cost per call; and the
real App end to end on SQLite and on PostgreSQL.

    .venv/bin/python -m bench.live [--quick]
"""

from __future__ import annotations

import asyncio
import logging
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import common

log = logging.getLogger("bench")


class _Timed:
    """Wraps the trained model: every method the cascade calls on it is timed (whatever that method is)."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self.seconds: list[float] = []

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._inner, name)
        if not callable(attr):
            return attr

        def timed(*a: Any, **kw: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return attr(*a, **kw)
            finally:
                self.seconds.append(time.perf_counter() - t0)

        return timed


def _understanding(tmp: Path, use_model: bool):
    from bot.config import load_settings
    from bot.understanding import build_understanding

    settings = load_settings(common.config(tmp))
    return asyncio.run(build_understanding(settings, use_model=use_model, use_llm=False))


def _one_pass(understanding, texts: list[str]) -> tuple[float, list[float]]:
    """Each text through Understanding.early (what Dispatcher._understand calls per text), timed one by one."""
    memo = getattr(understanding.cascade, "_memo", None)
    if memo is not None:
        memo.clear()  # each pass starts as a fresh process would: only the stream's own repeats hit the memo
    early = understanding.early
    lat = []
    t0 = time.perf_counter()
    for t in texts:
        s = time.perf_counter()
        early(t)
        lat.append(time.perf_counter() - s)
    return len(texts) / (time.perf_counter() - t0), lat


def classify_rows(texts: list[str], model: Path | None, repeat: int) -> list[dict]:
    rows = []
    for label, use_model in (("trained model", True), ("rules only", False)):
        if use_model and model is None:
            rows.append({"figure": "classify live", "what": "no dev set to train on: skipped", "value": None, "unit": "msg/s"})
            continue
        with tempfile.TemporaryDirectory(prefix="linju-bench-") as d:
            common.install_model(model if use_model else None, Path(d))
            u = _understanding(Path(d), use_model)
            if use_model and u.cascade.model is None:
                raise RuntimeError("the trained model was not loaded by the app")
            _one_pass(u, texts[:500])  # warm
            rates, floors, lats = [], [], []
            for _ in range(repeat):
                floors.append(common.floor_once(texts))
                rate, lat = _one_pass(u, texts)
                rates.append(rate)
                lats.extend(lat)
            what = f"Understanding.early one message at a time, {label}, distinct text, no LLM"
            rows.append({"figure": "classify live", "what": what, "unit": "msg/s", **common.paired(rates, floors)})
            rows.append({"figure": "classify p50", "what": f"per message, {label}", "value": round(common.pct(lats, 0.5) * 1000, 3), "unit": "ms"})
            rows.append({"figure": "classify p99", "what": f"per message, {label}", "value": round(common.pct(lats, 0.99) * 1000, 3), "unit": "ms"})
            if use_model:
                timed = _Timed(u.cascade.model)
                u.cascade.model = timed
                _one_pass(u, texts)
                u.cascade.model = timed._inner
                s = timed.seconds
                share = f"{len(s):,} calls for {len(texts):,} messages ({len(s) / len(texts):.0%})"
                rows.append({"figure": "model p50", "what": f"the model call the cascade makes, alone: {share}", "value": round(common.pct(s, 0.5) * 1000, 3), "unit": "ms"})
                rows.append({"figure": "model p99", "what": "the same, 99th percentile", "value": round(common.pct(s, 0.99) * 1000, 3), "unit": "ms"})
    return rows


async def _app_run(messages: list[dict], tmp: Path, model: Path | None, url: str | None) -> float:
    from bot.app import App
    from bot.config import load_settings

    extra = {"database": {"url": url}} if url else {}
    cfg = common.config(tmp, **extra)
    common.install_model(model, tmp)
    app = App(load_settings(cfg), channel=common.BenchChannel())
    await app.start()
    try:
        if model is not None and app.understanding.cascade.model is None:
            raise RuntimeError("the trained model was not loaded by the app")
        incoming = [common.incoming(m) for m in messages]
        t0 = time.perf_counter()
        for msg in incoming:
            app.dispatcher.submit(msg)
        await app.dispatcher.drain()
        return len(incoming) / (time.perf_counter() - t0)
    finally:
        await app.stop()


async def _pg_run(messages: list[dict], tmp: Path, model: Path | None) -> float:
    from tests.support import pg_database

    async with pg_database() as url:
        return await _app_run(messages, tmp, model, url)


def e2e_rows(messages: list[dict], model: Path | None, repeat: int) -> list[dict]:
    from bench.distinct import measure_repeat_share
    from tests.support import pg_available

    texts = [m["text"] for m in messages]
    rep = measure_repeat_share(texts)
    rows = []
    backends = [("SQLite file", False)] + ([("PostgreSQL", True)] if asyncio.run(pg_available()) else [])
    for name, pg in backends:
        rates, floors = [], []
        for i in range(repeat):
            floors.append(common.floor_once(texts))
            with tempfile.TemporaryDirectory(prefix="linju-bench-") as d:
                run = _pg_run(messages, Path(d), model) if pg else _app_run(messages, Path(d), model, None)
                rates.append(asyncio.run(run))
            log.info("e2e distinct %s run %d: %.0f msg/s (floor %.0f)", name, i + 1, rates[-1], floors[-1])
        what = (f"real App, {name}, trained model, distinct text ({len(texts):,} messages, "
                f"{rep:.1%} exact repeats), submitted at once, until drained")
        rows.append({"figure": "e2e distinct", "what": what, "unit": "msg/s", **common.paired(rates, floors)})
    return rows


def main(argv: list[str] | None = None) -> int:
    import argparse

    from bench.distinct import generate

    p = argparse.ArgumentParser()
    p.add_argument("--quick", action="store_true")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    log.setLevel(logging.INFO)
    n = 2_000 if args.quick else 20_000
    messages = list(generate(n))
    texts = [m["text"] for m in messages]
    common.warm_jieba(texts)
    with tempfile.TemporaryDirectory(prefix="linju-train-") as d:
        model = common.train(Path(d))
        rows = classify_rows(texts, model, 3) + e2e_rows(messages, model, 1 if args.quick else 3)
    for r in rows:
        print(r)
    print("floor median", statistics.median(common.floor_once(texts) for _ in range(3)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
