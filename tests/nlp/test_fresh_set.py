"""Targets on our own independent labelled set (tests/nlp/data/fresh_messages.jsonl).

The set was written from scratch, without looking at the shared dev file, and labelled by TAXONOMY.md; it
stands in for the held-out messages the product is judged on. The floors sit a little below what the rules
reach, so a change that generalises worse fails here.
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


INTENT_FLOOR = 0.97
CATEGORY_FLOOR = 0.96
BUILDING_FLOOR = 0.98
