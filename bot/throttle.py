"""A token bucket for outgoing sends: a platform restricts accounts that send in bursts."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable


class TokenBucket:
    """`burst` sends at once, then `per_minute` a minute; `take` waits (asynchronously) for the next token."""

    def __init__(
        self,
        per_minute: float,
        burst: int,
        *,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    ) -> None:
        if per_minute <= 0 or burst < 1:
            raise ValueError("a token bucket needs a positive rate and a burst of at least one")
        self.rate = per_minute / 60.0
        self.burst = float(burst)
        self._monotonic = monotonic
        self._sleep = sleep
        self._tokens = float(burst)
        self._at = monotonic()
        self._lock = asyncio.Lock()
        self.waited = 0.0  # seconds spent waiting, for the log and the tests

    def _refill(self) -> None:
        now = self._monotonic()
        self._tokens = min(self.burst, self._tokens + (now - self._at) * self.rate)
        self._at = now

    async def take(self) -> None:
        async with self._lock:  # one waiter at a time keeps the sending order
            self._refill()
            while self._tokens < 1.0:
                wait = (1.0 - self._tokens) / self.rate
                self.waited += wait
                await self._sleep(wait)
                self._refill()
            self._tokens -= 1.0
