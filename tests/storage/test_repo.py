"""Storage behaviour on SQLite and PostgreSQL: inbox idempotence, ticket numbers, events, outbox."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from storage import engine as db
from storage import repo
from storage.models import InboxStatus, TicketStatus


async def test_migrations_are_idempotent_and_reach_head(db_url):
    engine = db.create_engine(db_url)
    try:
        await db.upgrade(engine)
        await db.upgrade(engine)
        assert await db.current_revision(engine) == "0001"
    finally:
        await engine.dispose()


async def test_a_message_id_is_recorded_once(sessions):
    async with sessions() as s:
        row, created = await repo.record_incoming(s, message_id="m1", sender_id="u1", sender_name="甲", text="你好")
        again, created_again = await repo.record_incoming(s, message_id="m1", sender_id="u1", sender_name="甲", text="x")
        await s.commit()
    assert created and not created_again
    assert again.id == row.id and again.text == "你好"


async def test_pending_messages_are_listed_until_finished(sessions):
    async with sessions() as s:
        a, _ = await repo.record_incoming(s, message_id="a", sender_id="u", text="1")
        b, _ = await repo.record_incoming(s, message_id="b", sender_id="u", text="2")
        await s.commit()
        await repo.finish_inbox(s, a.id, status=InboxStatus.DONE, intent="chat")
        await s.commit()
        pending = await repo.pending_inbox(s)
    assert [r.message_id for r in pending] == ["b"]


async def test_ticket_numbers_are_unique_digits(sessions):
    numbers = set()
    async with sessions() as s:
        for i in range(60):
            t = await repo.create_ticket(s, category="repair", reporter_id=f"u{i}", text="灯坏了")
            numbers.add(t.number)
        await s.commit()
    assert len(numbers) == 60
    assert all(n.isdigit() and len(n) >= 4 for n in numbers)


async def test_status_changes_are_recorded_as_events(sessions):
    async with sessions() as s:
        t = await repo.create_ticket(s, category="drainage", reporter_id="u", text="下水道堵了")
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
        a = repo.add_outbox(s, inbox_id=None, room_id="r", contact_id=None, payload={"text": "早"})
        repo.add_outbox(
            s, inbox_id=None, room_id="r", contact_id=None, payload={"text": "晚"}, not_before=now + timedelta(hours=8)
        )
        await s.commit()
        due = await repo.unsent_outbox(s, now=now)
        assert [r.id for r in due] == [a.id]
        await repo.mark_outbox_sent(s, [a.id])
        await s.commit()
        assert await repo.unsent_outbox(s, now=now) == []
        later = await repo.unsent_outbox(s, now=now + timedelta(hours=9))
    assert len(later) == 1


async def test_open_and_overdue_tickets(sessions):
    now = datetime.now(UTC)
    async with sessions() as s:
        late = await repo.create_ticket(s, category="repair", reporter_id="u", text="a", due_at=now - timedelta(days=1))
        await repo.create_ticket(s, category="repair", reporter_id="u", text="b", due_at=now + timedelta(days=3))
        done = await repo.create_ticket(s, category="repair", reporter_id="u", text="c", due_at=now - timedelta(days=2))
        repo.set_status(s, done, TicketStatus.CLOSED, actor_id=None, actor_name=None, action="close")
        await s.commit()
        overdue = await repo.overdue_tickets(s, now=now)
        open_ = await repo.open_tickets(s)
    assert [t.number for t in overdue] == [late.number]
    assert len(open_) == 2
