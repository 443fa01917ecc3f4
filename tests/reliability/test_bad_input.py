"""Bad input: arbitrary Unicode, huge texts, control and zero-width characters, lone surrogates, markup, SQL, JSON,
non-text kinds. No exception escapes, every message is recorded, every output is valid."""

from __future__ import annotations

import asyncio
import itertools
import json
import math
import subprocess

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmodel import col, select

from bot.understanding import build_understanding
from handlers.staff import Command, CommandError, parse_command
from handlers.types import IncomingMessage, Reply
from nlp.types import INTENTS
from storage.models import Inbox
from tests.reliability.strategies import any_text, kinds, names, nasty_lines
from tests.reliability.support import EXAMPLES, cli_env, linju_command, snapshot, write_config
from tests.support import REPO, make_settings, running_app

PROPERTY = settings(
    max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
# Column sizes a classification's place must fit (storage/models.py Ticket).
PLACE_LIMITS = {"building": 20, "unit": 20, "room": 20, "estate": 100}


@pytest.fixture(scope="module")
def understanding(tmp_path_factory):
    u = asyncio.run(build_understanding(make_settings(tmp_path_factory.mktemp("nlp")), use_llm=False))
    yield u
    asyncio.run(u.close())


def assert_valid_classification(c, codes: set[str]) -> None:
    assert c.intent in INTENTS
    assert c.category is None or c.category in codes, c.category
    assert isinstance(c.confidence, float | int) and math.isfinite(c.confidence) and 0 <= c.confidence <= 1
    for name, limit in PLACE_LIMITS.items():
        value = getattr(c.location, name)
        assert value is None or (isinstance(value, str) and 0 < len(value) <= limit), (name, value)
    assert all(isinstance(n, str) and n.isdigit() and len(n) <= 12 for n in c.ticket_numbers), c.ticket_numbers
    assert isinstance(c.urgent, bool) and isinstance(c.summary, str)


@PROPERTY
@given(text=any_text)
def test_the_classifier_takes_any_text_and_answers_within_its_contract(understanding, text):
    codes = {c.code for c in understanding.taxonomy.categories}
    assert isinstance(understanding.normalize(text), str)
    assert_valid_classification(understanding.classify_sync(text), codes)
    assert_valid_classification(understanding.classify_sync(understanding.normalize(text)), codes)


@PROPERTY
@given(text=any_text)
def test_the_staff_command_parser_takes_any_text(text):
    parsed = parse_command(text)
    assert parsed is None or isinstance(parsed, Command | CommandError)
    if isinstance(parsed, Command) and parsed.number is not None:
        assert parsed.number.isdigit() and len(parsed.number) <= 12


@pytest.fixture
async def any_app(db_url, tmp_path):
    """The real app on a fake channel, on SQLite and on PostgreSQL (whose column limits are enforced)."""
    async with running_app(make_settings(tmp_path, database={"url": db_url})) as app:
        yield app


def assert_valid_reply(reply: Reply, limit: int) -> None:
    assert isinstance(reply.text, str) and reply.text.strip()
    reply.text.encode("utf-8")  # strict: no lone surrogates reach a channel
    assert len(reply.text) <= limit, len(reply.text)
    assert (reply.room_id is None) != (reply.contact_id is None)
    json.dumps({"room": reply.room_id, "to": reply.contact_id, "text": reply.text}, ensure_ascii=False).encode()


_ids = itertools.count()


@PROPERTY
@given(
    text=any_text,
    kind=kinds,
    sender=names,
    sender_id=st.one_of(st.just(""), st.text(max_size=300)),
    room=st.one_of(st.none(), st.sampled_from(["松涛里邻长群", "书院路社区两委群", ""]), st.text(max_size=300)),
    mentioned=st.booleans(),
    id_tail=st.text(max_size=300),
)
async def test_any_message_through_the_app_is_recorded_and_answered_validly(
    any_app, text, kind, sender, sender_id, room, mentioned, id_tail
):
    prefix = f"bad-{next(_ids)}-"
    msg = IncomingMessage(
        message_id=prefix + id_tail, sender_id="wxid_" + sender_id, sender_name=sender, text=text,
        room_id=None if room is None else room + "@chatroom", room_topic=room, mentioned_bot=mentioned,
        kind=kind,  # type: ignore[arg-type]
    )
    channel = any_app.fake
    before = len(channel.sent)
    handled = await any_app.on_message(msg)
    if handled is not None:
        await handled
    replies = channel.sent[before:]
    async with any_app.dispatcher.sessions() as s:
        rows = (await s.exec(select(Inbox).where(col(Inbox.message_id).startswith(prefix)))).all()
    assert len(rows) == 1, "the message was not recorded exactly once"
    assert rows[0].status in ("done", "ignored"), (rows[0].status, rows[0].error)
    for reply in replies:
        assert_valid_reply(reply, channel.max_text_length)
    if kind != "text":
        assert replies == [], "a picture, voice or other non-text message got an answer"


def test_linju_chat_jsonl_survives_hostile_lines_and_writes_only_valid_json(tmp_path):
    lines = nasty_lines(300, seed=8)
    stream = tmp_path / "nasty.jsonl"
    stream.write_text("\n".join(lines) + "\n", encoding="utf-8")
    config = write_config(tmp_path)
    with open(stream, "rb") as stdin:
        out = subprocess.run(
            linju_command("chat", "--jsonl", "--config", str(config)),
            stdin=stdin, capture_output=True, cwd=REPO, env=cli_env(), timeout=600,
        )
    assert out.returncode == 0, out.stderr.decode("utf-8", "replace")[-2000:]
    replies = [json.loads(line) for line in out.stdout.decode("utf-8").split("\n") if line]
    assert replies, "nothing was answered"
    for r in replies:
        assert set(r) >= {"room", "to", "text"} and isinstance(r["text"], str) and r["text"].strip()
    assert "bad input line" in out.stderr.decode("utf-8", "replace")
    snap = asyncio.run(snapshot(f"sqlite+aiosqlite:///{tmp_path / 'data' / 'linju.db'}"))
    recorded = {r.message_id for r in snap.inbox}
    sent = [f"nasty-8-{i}" for i in range(300)]
    assert set(sent) <= recorded, f"{len(set(sent) - recorded)} messages were not recorded"
    assert all(r.status in ("done", "ignored") for r in snap.inbox), [(r.message_id, r.error) for r in snap.inbox
                                                                      if r.status not in ("done", "ignored")][:3]
