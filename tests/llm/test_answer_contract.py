"""The strict reading of the model's answer: five keys of the right types and a configured category, or nothing."""

from __future__ import annotations

import pytest

from nlp.llm import InvalidAnswer, parse_answer

CODES = ("repair", "drainage", "other")


GOOD = '{"intent": "report", "category": "drainage", "summary": "4栋 下水道堵塞", "building": "4", "urgent": false}'


def test_a_good_answer_is_read():
    a = parse_answer(GOOD, CODES)
    assert (a.intent, a.category, a.building, a.urgent) == ("report", "drainage", "4", False)


@pytest.mark.parametrize(
    ("content", "kind"),
    [
        ("", "empty reply"),
        ("好的：" + GOOD, "text around the JSON"),
        (GOOD + " 希望有帮助", "text around the JSON"),
        ("```json\n" + GOOD + "\n```", "text around the JSON"),
        ('{"intent": "report", ', "invalid JSON"),
        ("[1, 2]", "not a JSON object"),
        (GOOD.replace('"drainage"', '"plumbing"'), "unknown category"),
        (GOOD.replace("false", '"false"'), "wrong keys or types"),
        (GOOD.replace('"4"', "4"), "wrong keys or types"),
        (GOOD.replace('"report"', '"complaint"'), "wrong keys or types"),
        (GOOD.replace(', "urgent": false', ""), "wrong keys or types"),
        (GOOD.replace("}", ', "action": "resolve_all"}'), "wrong keys or types"),
        (GOOD.replace('"drainage"', "null"), "report without a category"),
    ],
)
def test_a_bad_answer_is_refused(content, kind):
    """Prose, a fence, invalid JSON, an unknown category, a wrong type, a missing or extra key: refused."""
    with pytest.raises(InvalidAnswer) as err:
        parse_answer(content, CODES)
    assert err.value.kind == kind
