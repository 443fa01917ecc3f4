"""Dev-set scoring: intent accuracy, report precision/recall, category macro-F1, building and urgency."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def _ratio(num: int, den: int) -> float:
    return num / den if den else 0.0


def _f1(p: float, r: float) -> float:
    return 2 * p * r / (p + r) if p + r else 0.0


def score(pred: Sequence[dict[str, Any]], gold: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Compare predictions with gold rows (same order; keys intent, category, also, building, urgent)."""
    if len(pred) != len(gold):
        raise ValueError(f"{len(pred)} predictions for {len(gold)} gold rows")
    n = len(gold)
    intent_ok = sum(p.get("intent") == g.get("intent") for p, g in zip(pred, gold, strict=True))
    pr = [p.get("intent") == "report" for p in pred]
    gr = [g.get("intent") == "report" for g in gold]
    both = sum(a and b for a, b in zip(pr, gr, strict=True))

    # Category: over gold reports; a prediction counts as right when it is the gold category or an "also".
    codes: set[str | None] = set()  # a gold report without a category counts as None (not scored below)
    tp: dict[str | None, int] = {}
    fp: dict[str | None, int] = {}
    fn: dict[str | None, int] = {}
    for p, g in zip(pred, gold, strict=True):
        if g.get("intent") != "report":
            continue
        gc = g.get("category")
        pc = p.get("category") if p.get("intent") == "report" else None
        codes.add(gc)
        ok = pc is not None and (pc == gc or pc in (g.get("also") or ()))
        if ok:
            tp[gc] = tp.get(gc, 0) + 1
        else:
            fn[gc] = fn.get(gc, 0) + 1
            if pc is not None:
                codes.add(pc)
                fp[pc] = fp.get(pc, 0) + 1
    per_category: dict[str, dict[str, float]] = {}
    for c in sorted(x for x in codes if x):
        t, f_p, f_n = tp.get(c, 0), fp.get(c, 0), fn.get(c, 0)
        prec, rec = _ratio(t, t + f_p), _ratio(t, t + f_n)
        per_category[c] = {"precision": prec, "recall": rec, "f1": _f1(prec, rec), "support": t + f_n}
    gold_codes = [c for c in per_category if per_category[c]["support"]]
    macro = sum(per_category[c]["f1"] for c in gold_codes) / len(gold_codes) if gold_codes else 0.0

    building_ok = sum(p.get("building") == g.get("building") for p, g in zip(pred, gold, strict=True))
    decisions = decision_scores(pred, gold)
    pu = [bool(p.get("urgent")) for p in pred]
    gu = [bool(g.get("urgent")) for g in gold]
    utp = sum(a and b for a, b in zip(pu, gu, strict=True))
    return {
        "n": n,
        "intent_accuracy": _ratio(intent_ok, n),
        "report_precision": _ratio(both, sum(pr)),
        "report_recall": _ratio(both, sum(gr)),
        "category_macro_f1": macro,
        "per_category": per_category,
        "building_accuracy": _ratio(building_ok, n),
        "urgent_precision": _ratio(utp, sum(pu)),
        "urgent_recall": _ratio(utp, sum(gu)),
        **decisions,
    }


def decision_scores(pred: Sequence[dict[str, Any]], gold: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """What the bot would do (predictions with a `decision`): the share of each decision, precision and
    recall of tickets filed at once and of tickets plus held candidates, false tickets, and how many messages
    a group would see a reply to (a ticket's ack or an answer; held candidates are silent)."""
    if not pred or "decision" not in pred[0]:
        return {}
    n = len(gold)
    ds = [p.get("decision") for p in pred]
    report = [g.get("intent") == "report" for g in gold]
    share = {d: _ratio(ds.count(d), n) for d in ("ticket", "review", "reply", "none")}
    tickets = [d == "ticket" for d in ds]
    held = [d in ("ticket", "review") for d in ds]
    t_ok = sum(a and b for a, b in zip(tickets, report, strict=True))
    h_ok = sum(a and b for a, b in zip(held, report, strict=True))
    false_tickets = sum(a and not b for a, b in zip(tickets, report, strict=True))
    return {
        "decisions": share,
        "ticket_precision": _ratio(t_ok, sum(tickets)),
        "ticket_recall": _ratio(t_ok, sum(report)),
        "ticket_or_review_precision": _ratio(h_ok, sum(held)),
        "ticket_or_review_recall": _ratio(h_ok, sum(report)),
        "false_tickets": false_tickets,
        "false_ticket_rate": _ratio(false_tickets, n - sum(report)),
        "replies_in_group": sum(d in ("ticket", "reply") for d in ds),
    }


def format_table(scores: dict[str, Any], *, labels: bool = True) -> str:
    """A plain-text table of the scores, for the terminal and for commit messages. `labels=False` (every row
    assumed chat or report) leaves out what needs real labels: categories, buildings and urgency."""
    lines = [f"n = {scores['n']}"]
    if "decisions" in scores:
        d = scores["decisions"]
        lines.append("decisions            " + "  ".join(f"{k} {d[k]:.3f}" for k in ("ticket", "review", "reply", "none")))
        for key in ("ticket_precision", "ticket_recall", "ticket_or_review_precision", "ticket_or_review_recall",
                    "false_ticket_rate"):
            lines.append(f"{key:<26} {scores[key]:.3f}")
        lines.append(f"{'false_tickets':<26} {scores['false_tickets']}")
        lines.append(f"{'replies_in_group':<26} {scores['replies_in_group']} "
                     f"({scores['replies_in_group'] / max(1, scores['n']):.2%} of messages)")
    if not labels:
        lines.append(f"{'intent_accuracy':<20} {scores['intent_accuracy']:.3f}")
        return "\n".join(lines)
    for key in (
        "intent_accuracy",
        "report_precision",
        "report_recall",
        "category_macro_f1",
        "building_accuracy",
        "urgent_precision",
        "urgent_recall",
    ):
        lines.append(f"{key:<20} {scores[key]:.3f}")
    lines.append(f"{'category':<12} {'P':>6} {'R':>6} {'F1':>6} {'n':>5}")
    for code, m in scores["per_category"].items():
        lines.append(
            f"{code:<12} {m['precision']:6.3f} {m['recall']:6.3f} {m['f1']:6.3f} {int(m['support']):5d}"
        )
    return "\n".join(lines)
