"""What reaches the LLM server: none of the privacy corpus's personal data, with the roster's names loaded at
start-up and after an import, and never more than 500 characters of a message (the real app, the real
openai client, the local fake server)."""

from __future__ import annotations

import json

import pytest

from storage.roster import import_rows
from tests.privacy.check import leaked
from tests.privacy.corpus import CASES, ROSTER
from tests.support import llm_settings, running_app


@pytest.fixture
async def app(tmp_path, fake_llm, monkeypatch):
    """Every message the rules are less than certain of goes to the LLM; no per-sender limits in the way."""
    async with running_app(llm_settings(tmp_path, fake_llm, monkeypatch, limits={"enabled": False})) as application:
        yield application


async def import_roster(app, names) -> None:
    async with app.dispatcher.sessions() as s:
        result = await import_rows(s, [(i + 2, {"display_name": n, "role": "邻长"}) for i, n in enumerate(names)])
        await s.commit()
    assert result.loaded == len(names)


def bodies(fake) -> list[str]:
    return [json.dumps(b, ensure_ascii=False) for b in fake.requests]


async def test_no_request_body_carries_any_of_the_corpus_personal_data(app, fake_llm):
    await import_roster(app, ROSTER)
    assert await app.refresh_names(), "the roster import is picked up"
    own: list[tuple[str, tuple[str, ...], list[str]]] = []
    for i, (text, secrets, _) in enumerate(CASES):
        before = len(fake_llm.requests)
        await app.fake.say(text, sender=f"居民{i % 17}", room="松涛里邻长群")
        own.append((text, secrets, bodies(fake_llm)[before:]))
    sent = bodies(fake_llm)
    assert len(sent) >= len(CASES) * 3 // 4, f"only {len(sent)} of {len(CASES)} messages reached the server"
    for text, secrets, mine in own:  # each message's request: none of its secrets
        for body in mine:
            assert not leaked(body, secrets), (text, body)
    # And no request at all carries a phone, an ID number or a name from anywhere in the corpus.
    distinctive = tuple({s for _, secrets, _ in CASES for s in secrets if len(s) >= 7 or s in ROSTER})
    for body in sent:
        assert not leaked(body, distinctive), body


async def test_names_imported_while_the_bot_runs_are_taken_out_after_the_reload(app, fake_llm):
    text = "邓春花说她家楼下的下水道又反水了"
    await app.fake.say(text, sender="居民甲")
    assert "邓春花" in bodies(fake_llm)[-1], "not on the roster yet: the name is not known to be one"
    await import_roster(app, ["邓春花"])
    assert await app.refresh_names()
    await app.fake.say(text + "！", sender="居民乙")
    assert "邓春花" not in bodies(fake_llm)[-1] and "邓某" in bodies(fake_llm)[-1]
    assert not await app.refresh_names(), "nothing changed since: no reload"


async def test_at_most_500_characters_of_a_message_go_to_the_llm(app, fake_llm):
    from tests.llm.fake_server import message_of

    text = "各位邻居，" + "楼下那个垃圾站的事情我再说一遍，" * 150
    await app.fake.say(text, sender="居民丙")
    sent = message_of(fake_llm.requests[-1])
    assert sent is not None and len(sent) == 500 and len(text) > 2000
