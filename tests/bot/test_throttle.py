"""The outgoing token bucket: a burst at once, then the rate; waits are computed, never measured."""

from __future__ import annotations

import pytest

from bot.app import App
from bot.throttle import TokenBucket
from tests.support import FakeChannel, make_settings


class Time:
    """A clock that only moves when the bucket sleeps."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


async def test_a_burst_goes_at_once_and_the_rest_at_the_rate():
    t = Time()
    bucket = TokenBucket(30, 5, monotonic=t.monotonic, sleep=t.sleep)
    for _ in range(5):
        await bucket.take()
    assert t.sleeps == []
    for _ in range(4):
        await bucket.take()
    assert t.sleeps == pytest.approx([2.0] * 4)  # 30 a minute: one every two seconds
    t.now += 60  # a quiet minute refills the burst, no more
    for _ in range(6):
        await bucket.take()
    assert t.sleeps[4:] == pytest.approx([2.0])


def test_a_bucket_needs_a_rate_and_a_burst():
    with pytest.raises(ValueError):
        TokenBucket(0, 5)
    with pytest.raises(ValueError):
        TokenBucket(10, 0)


async def test_the_app_sends_through_a_bucket_at_the_channels_or_the_configured_rate(tmp_path):
    class Chatty(FakeChannel):
        from handlers.types import Capabilities

        capabilities = Capabilities(source="wechat", ids_trustworthy=True, sends_per_minute=20, send_burst=3)

    assert App(make_settings(tmp_path), channel=FakeChannel())._bucket is None
    declared = App(make_settings(tmp_path), channel=Chatty())._bucket
    assert declared is not None and (declared.rate, declared.burst) == (20 / 60, 3)
    configured = make_settings(tmp_path, limits={"sends_per_minute": 6, "send_burst": 2})
    bucket = App(configured, channel=Chatty())._bucket
    assert bucket is not None and (bucket.rate, bucket.burst) == (0.1, 2)


async def test_every_send_of_the_app_takes_a_token(tmp_path):
    from handlers.types import Reply

    channel = FakeChannel()
    app = App(make_settings(tmp_path), channel=channel)
    t = Time()
    app._bucket = TokenBucket(60, 1, monotonic=t.monotonic, sleep=t.sleep)
    for i in range(3):
        await app._send(Reply(text=f"第{i}条", room_id="r@chatroom"))
    assert len(channel.sent) == 3 and t.sleeps == pytest.approx([1.0, 1.0])
