"""The LLM stage's guards: a circuit breaker, a daily request budget, and what a client error means."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import date, datetime, timedelta, timezone

# China keeps one offset all year, so the budget's day needs no tz database.
SHANGHAI = timezone(timedelta(hours=8), "Asia/Shanghai")


class CircuitBreaker:
    """Opens after `failures` failed calls in a row; after `cooldown` seconds lets one trial call through."""

    def __init__(self, failures: int, cooldown: float, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.failures = max(1, failures)
        self.cooldown = cooldown
        self._monotonic = monotonic
        self._in_a_row = 0
        self._opened_at: float | None = None
        self._trial = False

    @property
    def is_open(self) -> bool:
        return self._opened_at is not None

    def allow(self) -> bool:
        if self._opened_at is None:
            return True
        if self._trial or self._monotonic() - self._opened_at < self.cooldown:
            return False
        self._trial = True
        return True

    def success(self) -> bool:
        """Record a good answer; True when this closes an open breaker."""
        was_open = self._opened_at is not None
        self._in_a_row, self._opened_at, self._trial = 0, None, False
        return was_open

    def failure(self, *, fatal: bool = False) -> bool:
        """Record a failed call; True when this opens the breaker (a failed trial re-opens it quietly)."""
        self._in_a_row += 1
        if self._opened_at is not None:
            self._opened_at, self._trial = self._monotonic(), False
            return False
        if fatal or self._in_a_row >= self.failures:
            self._opened_at, self._trial = self._monotonic(), False
            return True
        return False


class DailyBudget:
    """At most `limit` requests per calendar day in Asia/Shanghai; the count starts again at local midnight."""

    def __init__(self, limit: int, now: Callable[[], datetime]) -> None:
        self.limit = limit
        self._now = now
        self._day: date | None = None
        self.used = 0

    def today(self) -> date:
        return self._now().astimezone(SHANGHAI).date()

    def take(self) -> bool:
        day = self.today()
        if day != self._day:
            self._day, self.used = day, 0
        if self.used >= self.limit:
            return False
        self.used += 1
        return True


def describe_error(exc: BaseException) -> tuple[str, bool, bool]:
    """(reason, worth retrying, hopeless until reconfigured) for an exception from the client."""
    if isinstance(exc, TimeoutError):
        return "timeout", True, False
    status = getattr(exc, "status_code", None)
    if isinstance(status, int):
        if status == 429:
            return "HTTP 429 (rate limited)", True, False
        if status >= 500:
            return f"HTTP {status}", True, False
        # Wrong key, no access, no such model or URL: retrying will not help.
        return f"HTTP {status}", False, status in (401, 403, 404)
    name = type(exc).__name__
    if "Timeout" in name:
        return "timeout", True, False
    if "Connection" in name:
        return "connection error", True, False
    return name, False, False
