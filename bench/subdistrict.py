"""A month of Shuyuan Road subdistrict through the real App: 9 communities, 51 areas, 217 leaders' groups,
1,112 leaders with ~11,000 households (a generated roster, imported with `linju roster import`), 30 days at
~20 messages per group per day (≈130k), a few percent reports, bursts at 8–9 am and 7–9 pm.

    .venv/bin/python -m bench.subdistrict [--quick]     # --quick: 5 days, 3 communities
    .venv/bin/python -m bench.subdistrict --update      # and put its rows into bench/results/latest.json
    LINJU_MONTH_DAYS=8 .venv/bin/python -m bench.subdistrict   # fewer days of the whole subdistrict

The month is fed a simulated day at a time as fast as the app takes it (the app's clock is the simulated
time of the message being submitted), on a SQLite file with the trained model. Then the busiest minute of the
month is replayed at the pace it arrived (its messages' own seconds) on that full database, and each
message's time from submit to handled is measured. Then the month's digest and its XLSX (handlers/digest.py,
handlers/digest_render.py). Peak RSS is this process's (it holds one day's stream at a time); `python -m bench
--month` runs this module in its own process for that reason.
"""

from __future__ import annotations

import asyncio
import csv
import logging
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from bench import common, distinct
from bench.digest_bench import COMMUNITIES

log = logging.getLogger("bench")
TZ = ZoneInfo("Asia/Shanghai")
MONTH = datetime(2026, 11, 1, tzinfo=TZ)
AREAS = [6, 6, 6, 6, 6, 6, 5, 5, 5]  # 51 areas
GROUPS, LEADERS, PER_GROUP_DAY = 217, 1112, 20
KINDS = (("chat", 0.93), ("report", 0.04), ("query", 0.02), ("long", 0.01))
# Relative weight of each local hour: quiet at night, bursts at 8–9 am and 7–9 pm.
HOURS = [0.1, 0.05, 0.05, 0.05, 0.1, 0.3, 0.8, 1.5, 6, 3, 2, 1.5, 1.2, 1, 1.2, 1.2, 1.3, 1.5, 2, 5, 5, 2, 0.8, 0.3]


def organisation(communities: int) -> tuple[list[dict], list[dict]]:
    """Groups {community, area, name, estate} and leaders {.., households} in the proportions above."""
    rng = random.Random(11)
    areas = [(c, a) for ci, c in enumerate(COMMUNITIES[:communities]) for a in range(1, AREAS[ci] + 1)]
    n_groups = round(GROUPS * len(areas) / sum(AREAS))
    groups = []
    for g in range(n_groups):
        c, a = areas[g % len(areas)]
        estate = distinct.ESTATES[(COMMUNITIES.index(c) * 2 + g % 2) % len(distinct.ESTATES)]
        groups.append({"community": c, "area": f"第{a}片", "grp": f"第{g // len(areas) + 1}组", "estate": estate,
                       "name": f"{c}{estate}第{a}片{g // len(areas) + 1}组邻长群"})
    n_leaders = round(LEADERS * n_groups / GROUPS)
    leaders = []
    for i in range(n_leaders):
        g = groups[i % n_groups]
        name = f"{rng.choice(distinct.SURNAMES)}{rng.choice('建国桂兰志强玉梅红霞爱民秀英德明')}{i}"
        leaders.append({**g, "leader": name, "households": rng.randint(6, 14), "building": rng.randint(1, 40)})
    return groups, leaders


def write_roster(path: Path, leaders: list[dict]) -> None:
    with path.open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(["街道", "社区", "片", "组", "姓名", "微信号", "角色", "小区", "楼栋", "联系户数", "所在群"])
        for p in leaders:
            w.writerow(["书院路街道", p["community"], p["area"], p["grp"], p["leader"], p["leader"], "邻长",
                        p["estate"], p["building"], p["households"], p["name"]])


def config(tmp: Path, groups: list[dict]) -> Path:
    communities = []
    for c in dict.fromkeys(g["community"] for g in groups):
        mine = [g for g in groups if g["community"] == c]
        communities.append({
            "name": c, "estates": sorted({g["estate"] for g in mine}),
            "rooms": [{"name": g["name"], "kind": "leaders", "estate": g["estate"]} for g in mine]
                     + [{"name": f"{c}两委群", "kind": "committee"}],
        })
    return common.config(tmp, communities=communities, default_community=communities[0]["name"])


def day_stream(day: int, groups: list[dict], leaders: list[dict]) -> list[dict]:
    """One simulated day's messages, in time order, with their UTC timestamps."""
    rng = random.Random(1000 + day)
    by_room: dict[str, list[str]] = {}
    for p in leaders:
        by_room.setdefault(p["name"], []).append(p["leader"])
    n = len(groups) * PER_GROUP_DAY
    texts = distinct.texts(n, seed=5000 + day, kinds=KINDS, estates=sorted({g["estate"] for g in groups}))
    start = MONTH + timedelta(days=day)
    secs = sorted(rng.choices(range(24), HOURS, k=n))
    out = []
    for i, (text, hour) in enumerate(zip(texts, secs, strict=True)):
        g = rng.choice(groups)
        ts = (start + timedelta(hours=hour, seconds=rng.randrange(3600))).astimezone(UTC)
        out.append({"id": f"sd-{day}-{i}", "room": g["name"], "sender": rng.choice(by_room[g["name"]]), "text": text, "ts": ts})
    out.sort(key=lambda m: m["ts"])
    return out


class SimClock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


async def month(tmp: Path, cfg: Path, days: int, groups: list[dict], leaders: list[dict]) -> dict:
    from bot.app import App
    from bot.config import load_settings

    clock = SimClock(MONTH.astimezone(UTC))
    app = App(load_settings(cfg), channel=common.BenchChannel(), clock=clock)
    await app.start()
    busiest: list[dict] = []
    total = 0
    try:
        t0 = time.perf_counter()
        for day in range(days):
            stream = day_stream(day, groups, leaders)
            per_minute = Counter(m["ts"].replace(second=0) for m in stream)
            minute, count = per_minute.most_common(1)[0]
            if count > len(busiest):
                busiest = [m for m in stream if m["ts"].replace(second=0) == minute]
            for m in stream:
                clock.now = m["ts"]
                app.dispatcher.submit(common.incoming(m))
            await app.dispatcher.drain()
            total += len(stream)
            log.info("day %d: %d messages, %.0f s so far, RSS %d MB", day + 1, total, time.perf_counter() - t0, _rss_now())
        seconds = time.perf_counter() - t0
        lat = await _replay(app, clock, busiest)
    finally:
        await app.stop()
    return {"messages": total, "seconds": seconds, "busiest": len(busiest), "lat": lat,
            "minute": busiest[0]["ts"].astimezone(TZ).strftime("%m-%d %H:%M") if busiest else ""}


async def _replay(app, clock: SimClock, busiest: list[dict]) -> list[float]:
    """The busiest minute again (new ids), each message submitted at its own second: submit → handled."""
    start = busiest[0]["ts"].replace(second=0)
    t0 = time.perf_counter()
    waits: list[asyncio.Future] = []
    lat: list[float] = []
    for i, m in enumerate(busiest):
        delay = (m["ts"] - start).total_seconds() - (time.perf_counter() - t0)
        if delay > 0:
            await asyncio.sleep(delay)
        clock.now = m["ts"]
        s = time.perf_counter()
        job = app.dispatcher.submit(common.incoming({**m, "id": f"replay-{i}"}))
        job.handled.add_done_callback(lambda _f, s=s: lat.append(time.perf_counter() - s))
        waits.append(job.handled)
    await asyncio.gather(*waits)
    return lat


def _peak() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024


def _rss_now() -> int:
    """This process's resident memory now, in MB (Linux), to see whether the month grows it."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) // 1024
    except OSError:
        pass
    return 0


async def digest(url: str, xlsx: Path) -> float:
    from bench.digest_bench import time_digest
    from bot.config import load_settings
    from bot.understanding import taxonomy_from_settings
    from storage import digest_queries as q

    taxonomy = taxonomy_from_settings(load_settings(common.REPO / "config.yaml"))
    res = await time_digest(url, q.parse_period("2026-11"), taxonomy, repeat=1, xlsx=xlsx)
    return float(res["content+xlsx"])


def rows(quick: bool) -> list[dict]:
    days, communities = (5, 3) if quick else (int(os.environ.get("LINJU_MONTH_DAYS", 30)), 9)
    groups, leaders = organisation(communities)
    with tempfile.TemporaryDirectory(prefix="linju-month-") as d:
        tmp = Path(d)
        (tmp / "train").mkdir()
        model = common.train(tmp / "train")
        cfg = config(tmp, groups)
        common.install_model(model, tmp)
        roster = tmp / "roster.csv"
        write_roster(roster, leaders)
        t0 = time.perf_counter()
        cmd = [sys.executable, "-m", "bot.cli", "roster", "import", str(roster), "--config", str(cfg)]
        done = subprocess.run(cmd, capture_output=True, text=True, cwd=common.REPO)
        roster_s = time.perf_counter() - t0
        log.info("roster: %s (%.1f s)", done.stdout.strip() or done.stderr.strip()[-200:], roster_s)
        r = asyncio.run(month(tmp, cfg, days, groups, leaders))
        db = tmp / "data" / "linju.db"
        size = sum(p.stat().st_size for p in db.parent.glob("linju.db*")) / 2**20
        log.info("month handled: RSS %d MB now, %d MB at the peak", _rss_now(), _peak())
        dig = asyncio.run(digest(f"sqlite+aiosqlite:///{db}", tmp / "month.xlsx"))
        log.info("digest done: RSS %d MB now, %d MB at the peak", _rss_now(), _peak())
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    households = sum(p["households"] for p in leaders)
    scope = (f"{communities} communities, {len(groups)} groups, {len(leaders):,} leaders, {households:,} households; "
             f"{days} days, {r['messages']:,} messages")
    lat = r["lat"]
    return [
        {"figure": "month total", "what": f"subdistrict month on SQLite, trained model ({scope}), fed a day at a time as fast as it goes; roster import {roster_s:.1f} s",
         "value": round(r["seconds"], 1), "unit": "s", "rate": round(r["messages"] / r["seconds"])},
        {"figure": "month p99", "what": f"submit to handled, the busiest minute ({r['minute']}, {r['busiest']} messages) replayed at its own pace on the month's database",
         "value": round(common.pct(lat, 0.99) * 1000, 1), "unit": "ms", "p50": round(common.pct(lat, 0.5) * 1000, 1)},
        {"figure": "month db", "what": "SQLite file size after the month (with WAL)", "value": round(size, 1), "unit": "MB"},
        {"figure": "month digest", "what": "the month's digest content + XLSX of its tickets", "value": round(dig, 2), "unit": "s"},
        {"figure": "month RSS", "what": "peak RSS of the month's own process (the app, one day's stream, the digest)", "value": round(rss), "unit": "MB"},
    ]


def update(found: list[dict]) -> None:
    """Replace the month's rows in latest.json with these (targets judged as `python -m bench` does)."""
    import json

    from bench.__main__ import MONTH_FIGURES, judge

    path = common.RESULTS / "latest.json"
    report = json.loads(path.read_text(encoding="utf-8"))
    when = datetime.now(UTC).isoformat(timespec="seconds")
    for r in found:
        judge(r)
        r["from_run"] = f"{when}, `python -m bench.subdistrict`"
    old = report["rows"]
    at = next((i for i, r in enumerate(old) if r["figure"] in MONTH_FIGURES), len(old))
    kept = [r for r in old if r["figure"] not in MONTH_FIGURES]
    report["rows"] = kept[:at] + found + kept[at:]
    path.write_text(json.dumps(report, ensure_ascii=False, indent=2), encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    import json

    args = argv if argv is not None else sys.argv[1:]
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    log.setLevel(logging.INFO)
    found = rows("--quick" in args)
    if "--json" in args:
        print(json.dumps(found, ensure_ascii=False))
    else:
        for r in found:
            print(r)
    if "--update" in args:
        update(found)
    return 0


if __name__ == "__main__":
    sys.exit(main())
