"""Memos for texts, bounded in bytes as well as in entries: only texts up to MAX_CHARS are remembered, so a
memo of N entries holds at most N × MAX_CHARS characters however long the messages pasted into a group are
(keyed by full text, 8,192 entries of 20,000-character pastes were over a gigabyte)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TypeVar

R = TypeVar("R")
MAX_CHARS = 200  # group chat is short: its repeats (收到, 好的, a notice forwarded twice) are far below this


def short_texts(maxsize: int, max_chars: int = MAX_CHARS) -> Callable[[Callable[[str], R]], Callable[[str], R]]:
    """functools.lru_cache for a function of one text, used only for texts of at most `max_chars`."""

    def wrap(fn: Callable[[str], R]) -> Callable[[str], R]:
        cached = functools.lru_cache(maxsize=maxsize)(fn)

        @functools.wraps(fn)
        def call(text: str) -> R:
            return cached(text) if len(text) <= max_chars else fn(text)

        call.cached = cached  # type: ignore[attr-defined]  # for tests: cache_info()
        return call

    return wrap
