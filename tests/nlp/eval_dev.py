"""Evaluate the rules stage: python tests/nlp/eval_dev.py [even|odd|all|fresh] [-v].

even/odd/all read the shared dev file; fresh reads our own independent set, tests/nlp/data/fresh_messages.jsonl.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import yaml

from nlp.metrics import format_table, score
from nlp.rules import RuleClassifier, taxonomy_from_dicts
from nlp.segment import TextProcessor

ROOT = Path(__file__).resolve().parents[2]
DEV = ROOT.parent / "shared" / "data" / "dev_messages.jsonl"
FRESH = Path(__file__).resolve().parent / "data" / "fresh_messages.jsonl"


def load_config() -> dict:
    return yaml.safe_load((ROOT / "config.yaml").read_text(encoding="utf-8"))


def build_classifier() -> RuleClassifier:
    cfg = load_config()
    estates = [e for c in cfg.get("communities", []) for e in c.get("estates", [])]
    taxonomy = taxonomy_from_dicts(cfg["taxonomy"]["categories"])
    return RuleClassifier(taxonomy, TextProcessor(estates), estates)


def load_rows(half: str = "all") -> list[dict]:
    path = FRESH if half == "fresh" else DEV
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    if half == "even":
        rows = [r for r in rows if int(r["id"][1:]) % 2 == 0]
    elif half == "odd":
        rows = [r for r in rows if int(r["id"][1:]) % 2 == 1]
    return rows


def predict(clf: RuleClassifier, rows: list[dict]) -> list[dict]:
    out = []
    for r in rows:
        c = clf.classify(r["text"])
        out.append({"intent": c.intent, "category": c.category, "building": c.building, "urgent": c.urgent})
    return out


def main(argv: list[str]) -> int:
    half = argv[1] if len(argv) > 1 and not argv[1].startswith("-") else "all"
    clf = build_classifier()
    rows = load_rows(half)
    pred = predict(clf, rows)
    print(format_table(score(pred, rows)))
    if "-v" in argv:
        for r, p in zip(rows, pred, strict=True):
            bad_i = p["intent"] != r["intent"]
            bad_c = (
                r["intent"] == "report"
                and p["intent"] == "report"
                and p["category"] not in ([r["category"], *r["also"]])
            )
            bad_b = p["building"] != r["building"]
            if bad_i or bad_c or bad_b:
                tag = "I" if bad_i else ("C" if bad_c else "B")
                print(
                    tag,
                    r["intent"],
                    r["category"],
                    "->",
                    p["intent"],
                    p["category"],
                    r["building"],
                    p["building"],
                    "|",
                    r["text"][:70],
                )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
