"""Scoring, and the dev-set targets when the shared dev file is present."""

from __future__ import annotations

import pytest

from nlp.metrics import format_table, score
from tests.nlp import eval_dev


def test_score_counts_also_as_right():
    gold = [
        {"intent": "report", "category": "safety", "also": ["repair"], "building": "4", "urgent": True},
        {"intent": "chat", "category": None, "also": [], "building": None, "urgent": False},
        {"intent": "query", "category": None, "also": [], "building": None, "urgent": False},
    ]
    pred = [
        {"intent": "report", "category": "repair", "building": "4", "urgent": True},
        {"intent": "chat", "category": None, "building": None, "urgent": False},
        {"intent": "report", "category": "other", "building": "3", "urgent": False},
    ]
    s = score(pred, gold)
    assert s["n"] == 3
    assert s["intent_accuracy"] == pytest.approx(2 / 3)
    assert s["report_precision"] == pytest.approx(0.5)
    assert s["report_recall"] == 1.0
    assert s["per_category"]["safety"]["f1"] == 1.0
    assert s["category_macro_f1"] == 1.0
    assert s["building_accuracy"] == pytest.approx(2 / 3)
    assert s["urgent_precision"] == 1.0 and s["urgent_recall"] == 1.0
    assert "intent_accuracy" in format_table(s)


@pytest.mark.skipif(not eval_dev.DEV.exists(), reason="shared dev file not present")
def test_dev_set_targets():
    rows = eval_dev.load_rows("all")
    s = score(eval_dev.predict(eval_dev.build_classifier(), rows), rows)
    assert s["intent_accuracy"] >= 0.92
    assert s["category_macro_f1"] >= 0.85
    assert s["building_accuracy"] >= 0.95
