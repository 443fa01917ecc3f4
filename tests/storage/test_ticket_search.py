"""The console's ticket search on SQLite and PostgreSQL: scope, filters, LIKE taken literally, numeric order by
number, counts per status and the filter choices."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from storage import repo, ticket_search
from storage.ticket_search import Search

NOW = datetime(2026, 12, 4, 2, 0, tzinfo=UTC)


async def _seed(session) -> dict[str, str]:
    rows = {
        "lamp": dict(category="repair", summary="4栋 楼道灯不亮", text="4栋楼道灯坏了，100%不亮", estate="松涛里",
                     building="4", community="书院路社区", status="new", due_at=NOW - timedelta(days=2)),
        "drain": dict(category="drainage", summary="下水道堵了", text="金穗小区2栋下水道堵了", estate="金穗小区",
                      building="2", community="书院路社区", status="assigned", assignee="物业", due_at=NOW + timedelta(days=2)),
        "done": dict(category="repair", summary="路灯修好了", text="路灯不亮", estate="松涛里", building="9",
                     community="书院路社区", status="resolved", due_at=NOW - timedelta(days=5)),
        "theirs": dict(category="repair", summary="韶峰 楼道灯", text="韶峰小区楼道灯坏了", estate="韶峰小区",
                       building="3", community="韶山社区", status="new"),
    }
    numbers = {}
    for i, (key, values) in enumerate(rows.items()):
        row = await repo.insert_ticket(
            session, reporter_id=f"wxid_{key}", reporter_name=key, source="wechat",
            created_at=NOW - timedelta(days=10 - i), width=3 + i, **values,
        )
        numbers[key] = row.number
    await session.commit()
    return numbers


async def _found(session, q: Search, **kw) -> list[str]:
    rows, total = await ticket_search.search(session, q, **kw)
    assert total >= len(rows)
    return [t.number for t in rows]


async def test_search_filters_within_the_scope(sessions):
    async with sessions() as session:
        n = await _seed(session)
        mine = frozenset({"书院路社区"})
        assert sorted(await _found(session, Search(communities=mine))) == sorted([n["lamp"], n["drain"], n["done"]])
        assert len(await _found(session, Search(communities=None))) == 4
        assert await _found(session, Search(communities=mine, community="韶山社区")) == []
        assert await _found(session, Search(communities=mine, statuses={"resolved", "closed"})) == [n["done"]]
        assert await _found(session, Search(communities=mine, category="drainage")) == [n["drain"]]
        assert await _found(session, Search(communities=mine, assignee="物业")) == [n["drain"]]
        # Overdue: open and past due (the resolved one, though past due, is not).
        assert await _found(session, Search(communities=mine, overdue_at=NOW)) == [n["lamp"]]
        since = Search(communities=mine, created_from=NOW - timedelta(days=9, hours=1), created_before=NOW)
        assert sorted(await _found(session, since)) == sorted([n["drain"], n["done"]])
        assert await _found(session, Search(communities=mine, text="100%")) == [n["lamp"]]
        assert await _found(session, Search(communities=mine, text="%")) == [n["lamp"]]  # the one with a %
        for wild in ("_", "!", "\\", "1%亮"):  # as a pattern, "1%亮" would match "100%不亮"
            assert await _found(session, Search(communities=mine, text=wild)) == []
        assert await _found(session, Search(communities=mine, text="金穗")) == [n["drain"]]
        assert await _found(session, Search(communities=mine, text=f"#{n['drain']}")) == [n["drain"]]
        assert await _found(session, Search(communities=mine, text="韶峰")) == []  # another community's


async def test_sorting_counts_and_choices(sessions):
    async with sessions() as session:
        n = await _seed(session)
        mine = frozenset({"书院路社区"})
        # Numbers of different widths sort as integers, not as text.
        by_number = await _found(session, Search(communities=mine), sort="number", descending=False)
        assert by_number == sorted(by_number, key=int) and len({len(x) for x in by_number}) > 1
        newest = await _found(session, Search(communities=mine))
        assert newest == [n["done"], n["drain"], n["lamp"]]
        by_due = await _found(session, Search(communities=None), sort="due", descending=False)
        assert by_due[-1] == n["theirs"]  # no due date: last
        page, total = await ticket_search.search(session, Search(communities=mine), limit=2, offset=2)
        assert total == 3 and [t.number for t in page] == [n["lamp"]]
        counts = await ticket_search.status_counts(session, Search(communities=mine, statuses={"new"}))
        assert counts == {"new": 1, "assigned": 1, "resolved": 1}  # the status filter itself left out
        choices = await ticket_search.choices(session, mine)
        assert choices == {"estate": ["松涛里", "金穗小区"], "assignee": ["物业"], "community": ["书院路社区"]}
