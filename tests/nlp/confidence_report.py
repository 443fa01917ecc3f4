"""How meaningful the rules' confidence is, and how fast they are.

PYTHONPATH=. python tests/nlp/confidence_report.py [odd|even|all|fresh ...]

For each threshold: how many messages fall below it and the accuracy above and below (right = intent right
and, for gold reports predicted as reports, the category or an accepted alternative). Then the speed of
RuleClassifier.classify in messages per second.
"""

from __future__ import annotations

import sys
import time

from tests.nlp import eval_dev


def _right(c, r) -> bool:
    if c.intent != r["intent"]:
        return False
    return r["intent"] != "report" or c.category in (r["category"], *r["also"])


def main(argv: list[str]) -> int:
    clf = eval_dev.build_classifier()
    halves = argv[1:] or ["odd", "even", "fresh"]
    allrows = []
    for half in halves:
        rows = eval_dev.load_rows(half)
        allrows += rows
        res = [(clf.classify(r["text"]).confidence, _right(clf.classify(r["text"]), r)) for r in rows]
        print(f"{half}: n={len(rows)} accuracy={sum(ok for _, ok in res) / len(res):.3f}")
        for th in (0.5, 0.6, 0.7):
            lo = [ok for conf, ok in res if conf < th]
            hi = [ok for conf, ok in res if conf >= th]
            print(
                f"  below {th}: {len(lo):4d} ({len(lo) / len(res):.0%}) acc {sum(lo) / max(len(lo), 1):.3f}"
                f" | at/above: {len(hi):4d} acc {sum(hi) / max(len(hi), 1):.3f}"
            )
    texts = [r["text"] for r in allrows]
    for t in texts:  # warm the caches (t2s conversion) as a running bot would have
        clf.classify(t)
    # CPU time of this process: wall-clock is meaningless on a machine shared with other jobs.
    best = 0.0
    for _ in range(5):
        start = time.process_time()
        for t in texts:
            clf.classify(t)
        best = max(best, len(texts) / max(time.process_time() - start, 1e-9))
    print(f"speed: {best:,.0f} msgs/s (CPU time, best of 5 rounds of {len(texts)} messages)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
