"""Regression floors on our own labelled set (tests/nlp/data/fresh_messages.jsonl).

The set was written from scratch, without looking at the shared dev file, and labelled by TAXONOMY.md. It was
blind once; the lexicons have since been tuned on it, so these scores are in-sample, not held-out: the floors
only catch a change that breaks what already worked. (A message held for review counts as a report, as in
`linju eval`.) Held-out figures come from real text nobody here wrote (bench/real_text.py) and from a blind
batch scored once before any tuning (see README).
"""

from __future__ import annotations

import pytest

from nlp.metrics import score
from tests.nlp import eval_dev


@pytest.fixture(scope="module")
def fresh_scores():
    rows = eval_dev.load_rows("fresh")
    assert len(rows) >= 400
    return score(eval_dev.predict(eval_dev.build_classifier(), rows), rows)


def test_fresh_rows_are_well_formed():
    rows = eval_dev.load_rows("fresh")
    ids = [r["id"] for r in rows]
    assert len(ids) == len(set(ids))
    for r in rows:
        assert r["intent"] in ("report", "query", "chat")
        assert (r["category"] is None) == (r["intent"] != "report")
        assert r["building"] is None or r["building"].isdigit()


def test_fresh_intent_accuracy(fresh_scores):
    assert fresh_scores["intent_accuracy"] >= INTENT_FLOOR


def test_fresh_category_macro_f1(fresh_scores):
    assert fresh_scores["category_macro_f1"] >= CATEGORY_FLOOR


def test_fresh_building_accuracy(fresh_scores):
    assert fresh_scores["building_accuracy"] >= BUILDING_FLOOR


INTENT_FLOOR = 0.96
CATEGORY_FLOOR = 0.96
BUILDING_FLOOR = 0.98
