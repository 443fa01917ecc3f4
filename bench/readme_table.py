"""Regenerate README.md's benchmark table (between <!-- bench:start --> and <!-- bench:end -->) from
bench/results/latest.json.

    .venv/bin/python -m bench.readme_table
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
START, END = "<!-- bench:start -->", "<!-- bench:end -->"


def _value(r: dict) -> str:
    if r.get("value") is None:
        return "-"
    v = r["value"]
    text = f"{v:,}" if isinstance(v, int) or abs(v) >= 100 else f"{v:g}"
    return f"{text} {r['unit']}"


def table(report: dict) -> str:
    lines = [
        f"Last run: {report['date']}, {report['machine']} (`{report.get('command', '.venv/bin/python -m bench')}`).",
        "",
        "| figure | value | ratio to floor | target | met | what |",
        "|---|---|---|---|---|---|",
    ]
    for r in report["rows"]:
        ratio = f"{r['ratio']:.3f}" if "ratio" in r else ""
        met = {True: "yes", False: "**no**"}.get(r.get("met"), "")
        what = r["what"].replace("|", "\\|")
        if r.get("from_run"):
            what += f" (from the run of {r['from_run']})"
        lines.append(f"| {r['figure']} | {_value(r)} | {ratio} | {r.get('target', '')} | {met} | {what} |")
    return "\n".join(lines)


def update(readme: Path = REPO / "README.md", results: Path = REPO / "bench" / "results" / "latest.json") -> None:
    text = readme.read_text(encoding="utf-8")
    if START not in text or END not in text:
        raise SystemExit(f"{readme} has no {START} … {END} markers")
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    report = json.loads(results.read_text(encoding="utf-8"))
    readme.write_text(f"{head}{START}\n{table(report)}\n{END}{tail}", encoding="utf-8")


if __name__ == "__main__":
    update()
    sys.exit(0)
