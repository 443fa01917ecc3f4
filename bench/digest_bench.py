"""Digest benchmark: seed a million tickets (SQLite file and PostgreSQL), time building a month's digest.

    .venv/bin/python -m bench.digest_bench                 # 1,000,000 tickets, SQLite and PostgreSQL
    .venv/bin/python -m bench.digest_bench --tickets 200000 --no-pg --xlsx

Prints the median of three builds of the digest content (all the aggregates: totals, breakdowns, hot issues,
oldest open, relayers) for the whole subdistrict and for one community, and, with --xlsx, what writing the
month's per-ticket spreadsheet costs. Seeding uses executemany (SQLite) and COPY (PostgreSQL).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sqlite3
import statistics
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.config import load_settings
from bot.understanding import taxonomy_from_settings
from handlers.digest import build_digest
from handlers.digest_render import write_xlsx
from storage import digest_queries as q
from storage import digest_rows
from storage import engine as db

REPO = Path(__file__).resolve().parent.parent
COMMUNITIES = [
    "书院路社区",
    "东坪社区",
    "湘江社区",
    "天马社区",
    "望岳社区",
    "枫林社区",
    "金盆社区",
    "桔园社区",
    "岳华社区",
]
ESTATES = [
    "建设小区",
    "湘钢一村",
    "电机厂宿舍",
    "书院花园",
    "金穗小区",
    "松涛里",
    "枫林苑",
    "望岳新村",
    "天马公寓",
]
PROBLEMS = {
    "drainage": ["下水道堵塞", "停水", "水管破裂", "化粪池满溢"],
    "facility": ["楼道灯坏", "电梯故障", "门禁损坏", "路灯坏"],
    "sanitation": ["垃圾清运不及时", "卫生死角", "老鼠多"],
    "safety": ["飞线充电", "消防通道堵塞", "外墙瓷砖脱落"],
    "noise": ["夜间装修", "广场舞噪音"],
    "parking": ["僵尸车", "乱停车"],
    "greening": ["树枝修剪", "草坪枯死"],
    "property": ["物业不作为"],
    "livelihood": ["独居老人关怀"],
    "other": ["信号差"],
}
STATUSES = (
    ["resolved"] * 45
    + ["closed"] * 25
    + ["new"] * 10
    + ["assigned"] * 8
    + ["in_progress"] * 7
    + ["rejected"] * 3
    + ["duplicate"] * 2
)
COLUMNS = [
    "number",
    "category",
    "summary",
    "text",
    "estate",
    "building",
    "unit",
    "room_no",
    "community",
    "area",
    "grp",
    "reporter_id",
    "reporter_name",
    "relay_id",
    "relay_name",
    "room_id",
    "source",
    "status",
    "assignee",
    "urgent",
    "due_at",
    "supporters",
    "stage",
    "confidence",
    "duplicate_of",
    "satisfaction",
    "inbox_message_id",
    "created_at",
    "updated_at",
    "resolved_at",
    "closed_at",
]


def rows(n: int, *, months: int, end: datetime, seed: int = 7):
    """n ticket tuples spread evenly over `months` months before `end` (UTC, aware)."""
    rnd = random.Random(seed)
    span = timedelta(days=30.4 * months).total_seconds()
    start = end - timedelta(seconds=span)
    cats = list(PROBLEMS)
    leaders = [f"邻长{i:04d}" for i in range(1112)]
    for i in range(n):
        created = start + timedelta(seconds=span * i / n + rnd.random())
        cat = rnd.choice(cats)
        b = str(rnd.randint(1, 30))
        status = rnd.choice(STATUSES)
        resolved = (
            created + timedelta(hours=rnd.expovariate(1 / 80)) if status in ("resolved", "closed") else None
        )
        closed = (
            (resolved or created + timedelta(days=2)) + timedelta(days=1)
            if status in ("closed", "rejected", "duplicate")
            else None
        )
        c = i % len(COMMUNITIES)
        relay = rnd.choice(leaders) if rnd.random() < 0.7 else None
        yield (
            f"{i:07d}", cat, f"{b}栋 {rnd.choice(PROBLEMS[cat])}", "（基准数据）", rnd.choice(ESTATES), b, None, None,
            COMMUNITIES[c], f"{c}-{rnd.randint(1, 6)}片", f"{rnd.randint(1, 25)}组", f"wxid_{i % 50000}", "居民",
            relay and f"wxid_{relay}", relay, None, "wechat", status, "小陈" if status != "new" else None,
            rnd.random() < 0.02, created + timedelta(days=7), 1 + (rnd.random() < 0.2) * rnd.randint(1, 5), "rules",
            0.8, None, rnd.choice([None, None, "satisfied", "satisfied", "unsatisfied"]) if resolved else None, None,
            created, created, resolved, closed,
        )  # fmt: skip


def _sqlite_value(v):
    return v.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f") if isinstance(v, datetime) else v


async def seed_sqlite(path: Path, n: int, *, months: int, end: datetime) -> float:
    for p in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        p.unlink(missing_ok=True)
    engine = db.create_engine(f"sqlite+aiosqlite:///{path}")
    await db.upgrade(engine)
    await engine.dispose()
    t0 = time.perf_counter()
    con = sqlite3.connect(path)
    con.execute("PRAGMA synchronous=OFF")
    sql = f"INSERT INTO ticket ({','.join(COLUMNS)}) VALUES ({','.join('?' * len(COLUMNS))})"
    batch = []
    for r in rows(n, months=months, end=end):
        batch.append(tuple(_sqlite_value(v) for v in r))
        if len(batch) == 50_000:
            con.executemany(sql, batch)
            batch.clear()
    con.executemany(sql, batch)
    con.commit()
    con.execute("ANALYZE")
    con.close()
    return time.perf_counter() - t0


async def seed_pg(url: str, n: int, *, months: int, end: datetime) -> float:
    import asyncpg

    engine = db.create_engine(url)
    await db.upgrade(engine)
    await engine.dispose()
    t0 = time.perf_counter()
    conn = await asyncpg.connect(url.replace("+asyncpg", ""))
    try:
        await conn.execute("TRUNCATE ticket RESTART IDENTITY CASCADE")
        await conn.copy_records_to_table("ticket", records=rows(n, months=months, end=end), columns=COLUMNS)
        await conn.execute("ANALYZE ticket")
    finally:
        await conn.close()
    return time.perf_counter() - t0


async def time_digest(url: str, period: q.Period, taxonomy, *, repeat: int, xlsx: Path | None) -> dict:
    engine = db.create_engine(url)
    sessions = db.session_factory(engine)
    out: dict = {}
    try:
        for scope in (None, COMMUNITIES[0]):
            times = []
            for _ in range(repeat):
                t0 = time.perf_counter()
                async with sessions() as s:
                    content = await build_digest(s, period=period, taxonomy=taxonomy, community=scope)
                times.append(time.perf_counter() - t0)
            out[scope or "全街道"] = (statistics.median(times), times, content.totals.received)
        if xlsx is not None:
            t0 = time.perf_counter()
            async with sessions() as s:
                content = await build_digest(s, period=period, taxonomy=taxonomy)
                t1 = time.perf_counter()
                n = await write_xlsx(content, xlsx, digest_rows.period_tickets(s, period), taxonomy=taxonomy)
            out["xlsx"] = (time.perf_counter() - t1, n, xlsx)
            out["content+xlsx"] = time.perf_counter() - t0
    finally:
        await engine.dispose()
    return out


def measure(tickets: int, *, with_pg: bool = False, repeat: int = 3) -> dict[str, float]:
    """Seed `tickets` into a temporary SQLite file (and a throwaway PostgreSQL database), return the median seconds
    to build the subdistrict's monthly digest content on each: {"sqlite": s, "postgresql": s}."""
    import tempfile

    settings = load_settings(REPO / "config.yaml")
    taxonomy = taxonomy_from_settings(settings)
    end = datetime(2026, 11, 1, tzinfo=UTC)
    period = q.parse_period("2026-10")
    out: dict[str, float] = {}

    async def go() -> None:
        with tempfile.TemporaryDirectory(prefix="linju-digest-") as d:
            path = Path(d) / "digest.db"
            await seed_sqlite(path, tickets, months=24, end=end)
            res = await time_digest(f"sqlite+aiosqlite:///{path}", period, taxonomy, repeat=repeat, xlsx=None)
            out["sqlite"] = res["全街道"][0]
        if with_pg:
            from tests.support import pg_database

            async with pg_database() as url:  # a throwaway database, dropped afterwards
                await seed_pg(url, tickets, months=24, end=end)
                res = await time_digest(url, period, taxonomy, repeat=repeat, xlsx=None)
                out["postgresql"] = res["全街道"][0]

    asyncio.run(go())
    return out


def report(name: str, seeded: float | None, result: dict) -> None:
    if seeded is not None:
        print(f"[{name}] seeded in {seeded:.1f} s")
    for scope in ("全街道", COMMUNITIES[0]):
        med, times, received = result[scope]
        runs = ", ".join(f"{t:.2f}" for t in times)
        print(
            f"[{name}] digest content, {scope}: median {med:.2f} s (runs {runs}); {received} tickets that month"
        )
    if "xlsx" in result:
        secs, n, path = result["xlsx"]
        size = path.stat().st_size
        print(
            f"[{name}] xlsx for the month: {n} rows in {secs:.2f} s ({n / secs:,.0f} rows/s, {size / 1e6:.1f} MB)"
        )


async def main() -> None:
    import openpyxl  # noqa: F401  (imported once up front: the xlsx timing is the writing, not the import)

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tickets", type=int, default=1_000_000)
    ap.add_argument("--months", type=int, default=24, help="spread the tickets over this many months")
    ap.add_argument("--sqlite", type=Path, default=Path("/tmp/linju-digest-bench.db"))
    ap.add_argument("--pg", default="postgresql+asyncpg://postgres@127.0.0.1:5432/linju_digest_bench")
    ap.add_argument("--no-pg", action="store_true")
    ap.add_argument("--no-seed", action="store_true", help="reuse the databases from the last run")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--xlsx", action="store_true", help="also time writing the month's spreadsheet")
    args = ap.parse_args()

    settings = load_settings(REPO / "config.yaml")
    taxonomy = taxonomy_from_settings(settings)
    end = datetime(2026, 11, 1, tzinfo=UTC)
    period = q.parse_period("2026-10")
    xlsx = Path("/tmp") / f"digest-bench-{uuid.uuid4().hex[:6]}.xlsx" if args.xlsx else None

    seeded = (
        None if args.no_seed else await seed_sqlite(args.sqlite, args.tickets, months=args.months, end=end)
    )
    report(
        "sqlite",
        seeded,
        await time_digest(
            f"sqlite+aiosqlite:///{args.sqlite}", period, taxonomy, repeat=args.repeat, xlsx=xlsx
        ),
    )
    if not args.no_pg:
        import asyncpg

        admin = args.pg.rsplit("/", 1)[0].replace("+asyncpg", "") + "/postgres"
        name = args.pg.rsplit("/", 1)[1]
        conn = await asyncpg.connect(admin)
        try:
            if not await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
                await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()
        seeded = None if args.no_seed else await seed_pg(args.pg, args.tickets, months=args.months, end=end)
        report(
            "postgresql", seeded, await time_digest(args.pg, period, taxonomy, repeat=args.repeat, xlsx=xlsx)
        )
    if xlsx is not None:
        xlsx.unlink(missing_ok=True)


if __name__ == "__main__":
    asyncio.run(main())
