"""What several `linju` commands share: settings, logging, JSON Lines input, classifying rows."""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import sys
from collections.abc import Iterator
from typing import Any

from bot.config import ConfigError, Settings, load_settings


def setup_logging(settings: Settings, *, quiet_console: bool) -> None:
    """Operators' logs: to stderr, or (in an interactive console chat) to data_dir/linju.log."""
    level = getattr(logging, settings.log_level.upper(), logging.INFO)
    fmt = "%(asctime)s %(levelname)s %(name)s: %(message)s"
    root = logging.getLogger()
    root.handlers.clear()
    root.setLevel(level)
    if quiet_console:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        fh = logging.FileHandler(settings.data_dir / "linju.log", encoding="utf-8")
        fh.setFormatter(logging.Formatter(fmt))
        root.addHandler(fh)
        err = logging.StreamHandler(sys.stderr)
        err.setLevel(logging.ERROR)
        root.addHandler(err)
    else:
        h = logging.StreamHandler(sys.stderr)
        h.setFormatter(logging.Formatter(fmt))
        root.addHandler(h)
    for noisy in ("aiosqlite", "sqlalchemy.engine", "alembic.runtime.migration", "jieba", "httpx", "httpx2"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def _settings(args: argparse.Namespace) -> Settings:
    return load_settings(args.config)


def settings_from(args: argparse.Namespace) -> Settings:
    return load_settings(args.config)


def read_jsonl(path: str) -> Iterator[tuple[int, dict[str, Any]]]:
    stream = sys.stdin if path == "-" else open(path, encoding="utf-8")  # noqa: SIM115
    with contextlib.closing(stream) if stream is not sys.stdin else contextlib.nullcontext(stream):
        for n, line in enumerate(stream, 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ConfigError(f"{path}:{n}: not valid JSON ({exc.msg})") from exc
            if not isinstance(obj, dict):
                raise ConfigError(f"{path}:{n}: each line must be a JSON object")
            yield n, obj


def classification_json(rid: Any, c) -> dict[str, Any]:
    return {
        "id": rid,
        "intent": c.intent,
        "decision": c.decision,
        "category": c.category if c.intent == "report" else None,
        "confidence": round(float(c.confidence), 4),
        "building": c.location.building,
        "urgent": bool(c.urgent),
        "stage": c.stage,
        "strength": c.strength,
    }


async def classify_rows(settings: Settings, rows: list[tuple[int, dict[str, Any]]], *, use_llm: bool = True):
    from bot.understanding import build_understanding

    understanding = await build_understanding(settings, use_llm=use_llm)
    try:
        out = []
        for _, row in rows:
            text = row.get("text")
            c = await understanding.classify(text if isinstance(text, str) else "")
            out.append((row, c))
        return out, understanding.stats()
    finally:
        await understanding.close()
