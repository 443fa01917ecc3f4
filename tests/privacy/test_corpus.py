"""The privacy corpus through the one redactor: every secret goes, every ordinary phrase stays."""

from __future__ import annotations

import pytest

from nlp.privacy import Privacy
from tests.privacy.check import leaked, lost
from tests.privacy.corpus import CASES, ROSTER

PRIVACY = Privacy(ROSTER)


def test_the_corpus_is_large_and_has_no_repeats():
    texts = [text for text, _, _ in CASES]
    assert len(texts) >= 200 and len(set(texts)) == len(texts)
    assert sum(1 for _, secrets, _ in CASES if secrets) >= 180


@pytest.mark.parametrize(("text", "secrets", "kept"), CASES, ids=[c[0][:24] for c in CASES])
def test_redaction_removes_the_secrets_and_keeps_the_rest(text, secrets, kept):
    """Phones, ID cards, plates, rooms, doors, accounts and names go; places, amounts, dates, tickets stay."""
    out = PRIVACY.redact(text)
    assert not leaked(out, secrets), (text, out)
    assert not lost(out, kept), (text, out)


@pytest.mark.parametrize(("text", "secrets", "kept"), CASES, ids=[c[0][:24] for c in CASES])
def test_text_for_people_is_redacted_the_same_way(text, secrets, kept):
    """What residents and the committee read goes through the same rules (and is left alone when clean)."""
    out = PRIVACY.for_people(text)
    assert not leaked(out, secrets), (text, out)
    if not secrets:
        assert out == text


def test_names_are_loaded_and_replaced_when_the_roster_changes():
    p = Privacy()
    assert "王贵宝" in p.redact("王贵宝说灯坏了")
    p.set_names(["王贵宝"])
    assert p.redact("王贵宝说灯坏了") == "王某说灯坏了"
    assert p.names == ("王贵宝",)
