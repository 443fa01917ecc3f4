"""Storage behaviour on SQLite and PostgreSQL: inbox idempotence, ticket numbers, events, outbox."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from storage import engine as db
from storage import messages, repo
from storage.models import InboxStatus, TicketStatus


async def test_migrations_are_idempotent_and_reach_head(db_url):
    engine = db.create_engine(db_url)
    try:
        await db.upgrade(engine)
        await db.upgrade(engine)
        assert await db.current_revision(engine) == db.SCHEMA_HEAD == "0010"
        async with engine.connect() as conn:
            drift = await conn.run_sync(_schema_drift)
        assert drift == [], "the models and the migrations disagree; add a migration"
    finally:
        await engine.dispose()


async def test_schema_head_is_alembics_head_and_an_older_database_is_upgraded(db_url):
    from alembic import command
    from alembic.script import ScriptDirectory

    engine = db.create_engine(db_url)
    try:
        async with engine.begin() as conn:
            cfg = await conn.run_sync(db._alembic_config)
            assert ScriptDirectory.from_config(cfg).get_current_head() == db.SCHEMA_HEAD
            await conn.run_sync(lambda c: command.upgrade(db._alembic_config(c), "0001"))
        assert await db.current_revision(engine) == "0001"
        await db.upgrade(engine)  # not at the head: alembic runs the rest
        assert await db.current_revision(engine) == db.SCHEMA_HEAD
        async with engine.connect() as conn:
            assert await conn.run_sync(_schema_drift) == []
    finally:
        await engine.dispose()


def _schema_drift(connection) -> list:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from sqlmodel import SQLModel

    import storage.models  # noqa: F401  (registers the tables)

    context = MigrationContext.configure(connection, opts={"compare_type": False})
    return compare_metadata(context, SQLModel.metadata)


async def test_a_message_id_is_recorded_once(sessions):
    async with sessions() as s:
        row, created = await messages.record_incoming(s, message_id="m1", sender_id="u1", sender_name="甲", text="你好")
        again, created_again = await messages.record_incoming(s, message_id="m1", sender_id="u1", sender_name="甲", text="x")
        await s.commit()
    assert created and not created_again
    assert again.id == row.id and again.text == "你好"


async def test_pending_messages_are_listed_until_finished(sessions):
    async with sessions() as s:
        a, _ = await messages.record_incoming(s, message_id="a", sender_id="u", text="1")
        b, _ = await messages.record_incoming(s, message_id="b", sender_id="u", text="2")
        await s.commit()
        await messages.finish_many(s, [{"inbox_id": a.id, "status": InboxStatus.DONE, "intent": "chat"}])
        await s.commit()
        pending = await messages.pending_inbox(s)
    assert [r.message_id for r in pending] == ["b"]


async def _ticket(s, **values):
    """A new ticket as an ORM object, for the staff-side functions that change it."""
    return await repo.get_ticket(s, (await repo.insert_ticket(s, **values)).number)


async def test_ticket_numbers_are_unique_digits(sessions):
    numbers = set()
    async with sessions() as s:
        for i in range(60):
            t = await repo.insert_ticket(s, category="repair", reporter_id=f"u{i}", text="灯坏了")
            numbers.add(t.number)
        await s.commit()
    assert len(numbers) == 60
    assert all(n.isdigit() and len(n) >= 4 for n in numbers)


async def test_status_changes_are_recorded_as_events(sessions):
    async with sessions() as s:
        t = await _ticket(s, category="drainage", reporter_id="u", text="下水道堵了")
        repo.set_status(s, t, TicketStatus.ASSIGNED, actor_id="staff", actor_name="刘主任", action="assign", note="物业")
        repo.set_status(s, t, TicketStatus.RESOLVED, actor_id="staff", actor_name="刘主任", action="resolve", note="已疏通")
        await s.commit()
        events = await repo.ticket_events(s, t)
        fresh = await repo.get_ticket(s, t.number)
    assert [(e.from_status, e.to_status) for e in events] == [("new", "assigned"), ("assigned", "resolved")]
    assert events[-1].note == "已疏通" and events[-1].actor_name == "刘主任"
    assert fresh.status == "resolved" and fresh.resolved_at is not None


async def test_outbox_rows_are_unsent_until_marked_and_respect_not_before(sessions):
    now = datetime.now(UTC)
    async with sessions() as s:
        a, _ = await messages.queue_outbox(
            s,
            [
                {"inbox_id": None, "room_id": "r", "contact_id": None, "payload": {"text": "早"}},
                {"inbox_id": None, "room_id": "r", "contact_id": None, "payload": {"text": "晚"},
                 "not_before": now + timedelta(hours=8)},
            ],
        )
        await s.commit()
        due = await messages.unsent_outbox(s, now=now)
        assert [r.id for r in due] == [a]
        await messages.mark_outbox_sent(s, [a])
        await s.commit()
        assert await messages.unsent_outbox(s, now=now) == []
        later = await messages.unsent_outbox(s, now=now + timedelta(hours=9))
    assert len(later) == 1


async def test_open_and_overdue_tickets(sessions):
    now = datetime.now(UTC)
    async with sessions() as s:
        late = await repo.insert_ticket(s, category="repair", reporter_id="u", text="a", due_at=now - timedelta(days=1))
        await repo.insert_ticket(s, category="repair", reporter_id="u", text="b", due_at=now + timedelta(days=3))
        done = await _ticket(s, category="repair", reporter_id="u", text="c", due_at=now - timedelta(days=2))
        repo.set_status(s, done, TicketStatus.CLOSED, actor_id=None, actor_name=None, action="close")
        await s.commit()
        overdue = await repo.overdue_tickets(s, now=now)
        open_ = await repo.duplicate_candidates(
            s, category="repair", since=now - timedelta(days=1), community=None, building=None
        )
    assert [t.number for t in overdue] == [late.number]
    assert len(open_) == 2 and done.number not in {t.number for t in open_}


async def test_duplicate_candidates_match_category_place_and_window(sessions):
    now = datetime.now(UTC)
    old = now - timedelta(days=30)
    async with sessions() as s:
        keep = await repo.insert_ticket(s, category="drainage", reporter_id="u", building="4", community="松涛")
        await repo.insert_ticket(s, category="drainage", reporter_id="u", building="5", community="松涛")
        await repo.insert_ticket(s, category="lighting", reporter_id="u", building="4", community="松涛")
        await repo.insert_ticket(s, category="drainage", reporter_id="u", building="4", community="建设")
        await repo.insert_ticket(s, category="drainage", reporter_id="u", building="4", community="松涛", created_at=old)
        await s.commit()
        found = await repo.duplicate_candidates(
            s, category="drainage", since=now - timedelta(days=14), community="松涛", building="4"
        )
    assert [t.number for t in found] == [keep.number]


async def test_a_supporter_is_counted_once_and_never_the_reporter_or_relay(sessions):
    now = datetime.now(UTC)
    async with sessions() as s:
        t = await repo.insert_ticket(s, category="repair", reporter_id="resident", relay_id="leader", text="灯坏了")
        counts = [
            await repo.add_supporter(s, t.id, actor_id=who, actor_name=who, now=now)
            for who in ("resident", "leader", "neighbour", "neighbour", "other")
        ]
        await s.commit()
        fresh = await repo.get_ticket(s, t.number)
        events = await repo.ticket_events(s, fresh)
    assert counts == [None, None, 2, None, 3]
    assert fresh.supporters == 3
    assert [(e.action, e.actor_id) for e in events] == [("support", "neighbour"), ("support", "other")]


async def test_ticket_numbers_taken_are_retried_and_grow_when_the_space_is_full(sessions):
    async with sessions() as s:
        numbers = [(await repo.insert_ticket(s, width=1, category="repair", reporter_id="u")).number for _ in range(30)]
        await s.commit()
    assert len(set(numbers)) == 30  # ten one-digit numbers exist: the rest had to grow a digit
    assert any(len(n) > 1 for n in numbers) and all(n.isdigit() for n in numbers)


async def test_queued_replies_come_back_with_ids_in_the_order_given(sessions):
    rows = [
        {"inbox_id": None, "room_id": f"r{i % 3}", "contact_id": None, "payload": {"text": f"第{i}条"}, "not_before": None}
        for i in range(40)
    ]
    async with sessions() as s:
        first = await messages.queue_outbox(s, rows[:25])
        second = await messages.queue_outbox(s, rows[25:])
        await s.commit()
        stored = await messages.unsent_outbox(s, now=datetime.now(UTC) + timedelta(seconds=1))
    ids = first + second
    assert len(set(ids)) == 40
    by_id = {r.id: r for r in stored}
    assert [by_id[i].payload for i in ids] == [json.dumps(r["payload"], ensure_ascii=False) for r in rows]
    assert [r.id for r in stored] == ids  # sent in id order: the order they were queued


async def test_sql_errors_do_not_carry_the_values_bound_to_them(sessions):
    """An error's text ends up in the inbox and the log: the engine hides bound parameters (message text, phones)."""
    import pytest
    from sqlalchemy.exc import DBAPIError

    secret = "王贵宝 13812345678"
    async with sessions() as s:
        await messages.record_incoming(s, message_id="dup", sender_id="u", text=secret)
        await s.commit()
    from sqlalchemy import insert

    from storage import core
    from storage.models import Inbox

    with pytest.raises(DBAPIError) as err:  # the hot path's own SQL (on SQLite: our in-loop driver)
        async with sessions() as s:
            await core.run(s, insert(Inbox.__table__), {"message_id": "dup", "sender_id": secret, "sender_name": "",
                                                        "kind": "text", "mentioned": False, "text": secret,
                                                        "received_at": datetime.now(UTC), "status": "pending",
                                                        "attempts": 0})
    assert secret not in str(err.value)
    with pytest.raises(DBAPIError) as err:
        async with sessions() as s:
            conn = await s.connection()
            from sqlalchemy import text

            await conn.execute(text("INSERT INTO inbox (message_id, sender_id, text) VALUES (:m, :s, :t)"),
                               {"m": "dup", "s": secret, "t": secret})
    assert secret not in str(err.value) and "hidden" in str(err.value)


async def test_ticket_numbers_have_no_leading_zeros_and_old_ones_are_made_integers_by_migration_0004(db_url):
    from alembic import command
    from sqlalchemy import text

    assert all(not repo.random_number(w).startswith("0") and len(repo.random_number(w)) == w for w in (4, 5, 6) * 50)
    engine = db.create_engine(db_url)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(lambda c: command.upgrade(db._alembic_config(c), "0003"))
            now = datetime(2026, 11, 1, tzinfo=UTC)
            for tid, number, dup in ((1, "0123", None), (2, "4567", None), (3, "00123", "0045"), (4, "0045", None)):
                await conn.execute(
                    text(
                        "INSERT INTO ticket (id, number, category, summary, text, reporter_id, reporter_name, source,"
                        " status, urgent, supporters, stage, confidence, duplicate_of, created_at, updated_at)"
                        " VALUES (:id, :n, 'repair', '', '', 'u', '', 'wechat', 'new', false, 1, 'rules', 0, :d, :t, :t)"
                    ),
                    {"id": tid, "n": number, "d": dup, "t": now},
                )
            await conn.execute(
                text("INSERT INTO inbox (message_id, sender_id, sender_name, kind, mentioned, text, received_at,"
                     " status, attempts, ticket_number) VALUES ('m3', 'u', '', 'text', false, '', :t, 'done', 0, '00123')"),
                {"t": now},
            )
        await db.upgrade(engine)
        async with db.session_factory(engine)() as s:
            numbers = {t.id: t for t in await repo.list_tickets(s)}
            assert (numbers[1].number, numbers[2].number, numbers[4].number) == ("123", "4567", "45")
            renumbered = numbers[3]
            assert renumbered.number != "123" and not renumbered.number.startswith("0")
            assert renumbered.duplicate_of == "45"
            [event] = [e for e in await repo.ticket_events(s, renumbered) if e.action == "renumber"]
            assert "#00123" in event.note and f"#{renumbered.number}" in event.note
            inbox_number = (await (await s.connection()).execute(text("SELECT ticket_number FROM inbox"))).scalar()
            assert inbox_number == renumbered.number
            assert (await repo.get_ticket(s, "123")).id == 1
    finally:
        await engine.dispose()
