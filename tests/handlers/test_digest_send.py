"""Exactly-once digest delivery through the digest table, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from openpyxl import load_workbook

from handlers.digest_send import DigestSender, Outcome, Target
from storage import digest_claims as claims
from storage import digest_queries as q
from storage import engine as db
from storage.models import Digest
from tests.handlers.test_digest import PHONE, REPORTER, seed, taxonomy

PERIOD = q.parse_period("2026-10")
ROOM = Target(name="书院路社区两委群", community="书院路社区", room_id="书院路社区两委群@chatroom")
NOW = datetime(2026, 11, 1, 1, 0, 5, tzinfo=UTC)


class Inbox:
    """A channel's send: records replies, can fail the next N sends, can be slow."""

    def __init__(self, *, fail: int = 0, delay: float = 0.0) -> None:
        self.sent = []
        self.fail = fail
        self.delay = delay

    async def __call__(self, reply) -> None:
        await asyncio.sleep(self.delay)
        if self.fail > 0:
            self.fail -= 1
            raise ConnectionError("channel down")
        self.sent.append(reply)


@pytest.fixture
async def engines(db_url):
    """Two engines on one database: two bot processes sharing it."""
    a, b = db.create_engine(db_url), db.create_engine(db_url)
    await db.upgrade(a)
    try:
        yield db.session_factory(a), db.session_factory(b)
    finally:
        await a.dispose()
        await b.dispose()


def sender(sessions, send, tmp_path, **kw) -> DigestSender:
    kw.setdefault("clock", lambda: NOW)
    return DigestSender(
        sessions=sessions,
        send=send,
        taxonomy=taxonomy(tmp_path),
        out_dir=tmp_path / "digests",
        retry_delay=0,
        **kw,
    )


async def digest_rows(sessions) -> list[Digest]:
    from sqlmodel import select

    async with sessions() as s:
        return list((await s.exec(select(Digest))).all())


async def test_a_digest_goes_out_as_text_chart_and_spreadsheet_once(engines, tmp_path):
    sessions, _ = engines
    await seed(sessions)
    inbox = Inbox()
    assert await sender(sessions, inbox, tmp_path).deliver(PERIOD, ROOM) == Outcome.SENT
    text, chart, xlsx = inbox.sent
    assert text.text.startswith("【书院路社区·2026年10月诉求月报】") and text.room_id == ROOM.room_id
    assert chart.file.suffix == ".png" and chart.file.read_bytes()[:4] == b"\x89PNG"
    assert xlsx.file.suffix == ".xlsx"
    [row] = await digest_rows(sessions)
    assert row.sent_at is not None and row.content_hash and row.error is None


async def test_a_restart_does_not_send_it_again(engines, tmp_path):
    sessions, other = engines
    await seed(sessions)
    first, second = Inbox(), Inbox()
    assert await sender(sessions, first, tmp_path).deliver(PERIOD, ROOM) == Outcome.SENT
    assert await sender(other, second, tmp_path).deliver(PERIOD, ROOM) == Outcome.ALREADY_SENT
    assert len(first.sent) == 3 and second.sent == []


async def test_two_processes_racing_send_it_once_between_them(engines, tmp_path):
    a_sessions, b_sessions = engines
    await seed(a_sessions)
    a, b = Inbox(delay=0.02), Inbox(delay=0.02)
    results = await asyncio.gather(
        sender(a_sessions, a, tmp_path / "a").deliver(PERIOD, ROOM),
        sender(b_sessions, b, tmp_path / "b").deliver(PERIOD, ROOM),
    )
    assert sorted(results) == sorted([Outcome.SENT, Outcome.BUSY])
    assert len(a.sent) + len(b.sent) == 3
    assert len(await digest_rows(a_sessions)) == 1


async def test_a_failed_send_is_retried_then_logged_and_not_recorded_as_sent(engines, tmp_path, caplog):
    sessions, _ = engines
    await seed(sessions)
    down = Inbox(fail=100)
    assert await sender(sessions, down, tmp_path, retries=3).deliver(PERIOD, ROOM) == Outcome.FAILED
    assert down.fail == 97  # three tries
    assert "not recorded as sent" in caplog.text
    [row] = await digest_rows(sessions)
    assert row.sent_at is None and "channel down" in row.error
    # The next run (the hourly retry, or a restart) sends it.
    up = Inbox(fail=1)
    assert await sender(sessions, up, tmp_path).deliver(PERIOD, ROOM) == Outcome.SENT
    assert len(up.sent) == 3
    [row] = await digest_rows(sessions)
    assert row.sent_at is not None and row.attempts == 2 and row.error is None


class FailsAfterText(Inbox):
    """The text goes out, then the chart is refused (every try): the part that failed must be the first resent."""

    async def __call__(self, reply) -> None:
        if reply.file is not None and self.fail > 0:
            self.fail -= 1
            raise ConnectionError("channel down")
        self.sent.append(reply)


async def test_a_retry_after_a_part_failed_sends_only_the_parts_not_sent(engines, tmp_path):
    sessions, _ = engines
    await seed(sessions)
    channel = FailsAfterText(fail=3)
    assert await sender(sessions, channel, tmp_path, retries=3).deliver(PERIOD, ROOM) == Outcome.FAILED
    assert [bool(r.text) for r in channel.sent] == [True]  # the text went out; the chart did not
    [row] = await digest_rows(sessions)
    assert row.sent_at is None and row.parts_sent == 1
    assert await sender(sessions, channel, tmp_path).deliver(PERIOD, ROOM) == Outcome.SENT
    text, chart, xlsx = channel.sent  # the text once, then the rest
    assert text.text and chart.file.suffix == ".png" and xlsx.file.suffix == ".xlsx"
    [row] = await digest_rows(sessions)
    assert row.sent_at is not None and row.parts_sent == 3


async def test_a_claim_left_by_a_crashed_process_is_taken_over_once_stale(engines, tmp_path):
    sessions, _ = engines
    await seed(sessions)
    async with sessions() as s:
        assert await claims.insert_claim(
            s, period=PERIOD.label, target=ROOM.name, community=ROOM.community, now=NOW
        )
        await s.commit()
    fresh = Inbox()
    assert await sender(sessions, fresh, tmp_path).deliver(PERIOD, ROOM) == Outcome.BUSY
    later = Inbox()
    s2 = sender(sessions, later, tmp_path, clock=lambda: NOW + timedelta(minutes=20))
    assert await s2.deliver(PERIOD, ROOM) == Outcome.SENT
    assert fresh.sent == [] and len(later.sent) == 3


async def test_force_sends_again_and_an_unseen_room_is_not_recorded(engines, tmp_path, caplog):
    sessions, _ = engines
    await seed(sessions)
    inbox = Inbox()
    s = sender(sessions, inbox, tmp_path)
    assert await s.deliver(PERIOD, ROOM) == Outcome.SENT
    assert await s.deliver(PERIOD, ROOM, force=True) == Outcome.SENT
    assert len(inbox.sent) == 6
    unseen = Target(name="东坪社区两委群", community="东坪社区", room_id=None)
    assert await s.deliver(PERIOD, unseen) == Outcome.UNSEEN
    assert "has not seen this room yet" in caplog.text
    assert len(await digest_rows(sessions)) == 1


async def test_no_phone_numbers_or_residents_names_in_any_form(engines, tmp_path):
    """No phone, room number or reporter anywhere in what is sent, except one place: the spreadsheet is for the
    committee's staff, and its tickets sheet names each ticket's reporter (display name) in its 反映人 column."""
    sessions, _ = engines
    await seed(sessions)
    s = sender(sessions, Inbox(), tmp_path)
    files = await s.build(PERIOD, community=None)
    forms = [files.text, files.text_path.read_text(encoding="utf-8")]
    wb = load_workbook(files.xlsx, read_only=True)
    reporters = []
    for ws in wb.worksheets:
        rows = ws.iter_rows(values_only=True)
        column = None
        for row in rows:
            if ws.title == "工单明细" and column is None:
                column = row.index("反映人")
            elif column is not None:
                reporters.append(row[column])
            forms.append(" ".join(str(v) for i, v in enumerate(row) if v is not None and i != column))
    wb.close()
    blob = "\n".join(forms)
    for secret in (PHONE, REPORTER, "402室", "3-2-401"):
        assert secret not in blob
    assert set(reporters) == {REPORTER}
    assert "王贵宝" in blob  # relaying leaders are thanked by name
    assert files.rows == 6
