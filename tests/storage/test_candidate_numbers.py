"""A held message gets the smallest number no candidate holds (1, or the first gap), on both databases."""

from __future__ import annotations

import random

from sqlmodel import update

from storage import candidates as store
from storage.models import Candidate


def _values(i: int) -> dict:
    return {"inbox_message_id": f"m{i}", "sender_id": f"wxid_{i}", "text": f"第{i}条"}


async def test_numbers_fill_the_smallest_gap(sessions):
    rng = random.Random(5)
    async with sessions() as s:
        held = [await store.add_candidate(s, **_values(i)) for i in range(12)]
        assert [c.number for c in held] == list(range(1, 13))
        for _ in range(30):
            taken = {c.number for c in held if c.number is not None}
            freed = rng.choice(sorted(taken))
            await s.exec(update(Candidate).where(Candidate.number == freed).values(number=None))
            held = [c for c in held if c.number != freed]
            new = await store.add_candidate(s, **_values(100 + _))
            expected = min(set(range(1, len(taken) + 2)) - (taken - {freed}))
            assert new.number == expected == freed
            held.append(new)
        again = await store.add_candidate(s, **_values(3))  # the same message held twice: the same candidate
        assert again.number == next(c.number for c in held if c.inbox_message_id == "m3")
        await s.commit()


async def test_an_empty_queue_starts_at_one(sessions):
    async with sessions() as s:
        assert (await store.add_candidate(s, **_values(1))).number == 1
