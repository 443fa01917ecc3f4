"""Labelled JSON Lines loading and stratified K-fold cross-validation of the text model, with a report."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from nlp.features import Prepared, Progress, TextModel, TextModelConfig, Tokenize, prepare


def load_labelled_jsonl(
    path: str | Path, *, text_fields: Sequence[str] = ("text",), label_field: str = "label"
) -> tuple[list[str], list[str]]:
    """Texts (the given fields joined with "。") and labels; rows without a label or any text are skipped."""
    texts: list[str] = []
    labels: list[str] = []
    with open(path, encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{path}:{n}: not JSON: {exc.msg}") from None
            label = row.get(label_field)
            parts = [str(row[f]).strip() for f in text_fields if row.get(f) not in (None, "")]
            text = "。".join(p for p in parts if p)
            if label in (None, "") or not text:
                continue
            texts.append(text)
            labels.append(str(label))
    return texts, labels


def _fold(
    prepared: Prepared, labels: Sequence[str], tr, te, config: TextModelConfig | None
) -> tuple[Any, list[str]]:
    model = TextModel(config).fit_prepared(prepared.subset(tr), [labels[i] for i in tr], calibrate=False)
    return te, model.predict_labels(prepared.subset(te))


def scores_from_predictions(gold: Sequence[str], pred: Sequence[str]) -> dict[str, Any]:
    """Per-label precision/recall/F1, macro-F1, accuracy and the confusion table (rows gold, columns predicted)."""
    from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

    names = sorted(set(gold) | set(pred))
    p, r, f, s = precision_recall_fscore_support(gold, pred, labels=names, zero_division=0)
    gold_names = [i for i, n in enumerate(names) if s[i] > 0]
    return {
        "macro_f1": float(np.mean([f[i] for i in gold_names])) if gold_names else 0.0,
        "accuracy": float(np.mean([a == b for a, b in zip(gold, pred, strict=True)])) if gold else 0.0,
        "per_label": {
            n: {"precision": float(p[i]), "recall": float(r[i]), "f1": float(f[i]), "support": int(s[i])}
            for i, n in enumerate(names)
        },
        "confusion": {"labels": names, "matrix": confusion_matrix(gold, pred, labels=names).tolist()},
    }


def cross_validate(
    texts: Sequence[str],
    labels: Sequence[str],
    *,
    k: int,
    tokenize: Tokenize,
    seed: int = 0,
    progress: Progress | None = None,
    config: TextModelConfig | None = None,
    n_jobs: int = 2,
) -> dict[str, Any]:
    """Stratified K-fold scores of TextModel; texts are tokenised once and folds run in parallel."""
    from joblib import Parallel, delayed
    from sklearn.model_selection import StratifiedKFold

    if k < 2:
        raise ValueError("--cv needs K of at least 2")
    smallest = min(labels.count(x) for x in set(labels)) if labels else 0
    if smallest < k:
        raise ValueError(f"a label has only {smallest} examples: too few for {k}-fold cross-validation")
    say = progress or (lambda _m: None)
    t0 = time.perf_counter()
    say(f"tokenising {len(texts)} messages")
    prepared = prepare(texts, tokenize, progress=progress)
    labels = list(labels)
    folds = list(StratifiedKFold(k, shuffle=True, random_state=seed).split(np.zeros(len(labels)), labels))
    pred: list[str | None] = [None] * len(labels)
    say(f"fitting {k} folds ({min(n_jobs, k)} at a time)")
    runs = Parallel(n_jobs=n_jobs, return_as="generator")(
        delayed(_fold)(prepared, labels, tr, te, config) for tr, te in folds
    )
    for done, (te, fold_pred) in enumerate(runs, 1):
        for i, p in zip(te, fold_pred, strict=True):
            pred[i] = p
        say(f"fold {done}/{k} done ({time.perf_counter() - t0:.1f} s)")
    result = scores_from_predictions(labels, [p or "" for p in pred])
    result.update(seconds=round(time.perf_counter() - t0, 3), n=len(labels), k=k)
    return result


def format_cv_report(result: dict[str, Any]) -> str:
    """A plain-text report: per-label table, macro-F1, accuracy, confusion table and time."""
    per = result["per_label"]
    conf = result["confusion"]
    width = max(
        [
            12,
            *(_width(n) + 1 for n in per),
            *(_width(f"{i + 1} {n}") + 1 for i, n in enumerate(conf["labels"])),
        ]
    )
    lines = [f"{result.get('k', '?')}-fold cross-validation on {result.get('n', '?')} messages"]
    lines.append(f"{_pad('label', width)} {'P':>6} {'R':>6} {'F1':>6} {'n':>6}")
    for name, m in per.items():
        lines.append(
            f"{_pad(name, width)} {m['precision']:6.3f} {m['recall']:6.3f} {m['f1']:6.3f} {m['support']:6d}"
        )
    lines.append(f"{_pad('macro-F1', width)} {result['macro_f1']:6.3f}")
    lines.append(f"{_pad('accuracy', width)} {result['accuracy']:6.3f}")
    lines.append("")
    lines.append("confusion (rows: true label, columns: predicted, in the order of the rows)")
    cell = max(5, *(len(str(v)) + 1 for row in conf["matrix"] for v in row))
    lines.append(_pad("", width) + "".join(f"{i + 1:>{cell}}" for i in range(len(conf["labels"]))))
    for i, (name, row) in enumerate(zip(conf["labels"], conf["matrix"], strict=True)):
        lines.append(_pad(f"{i + 1} {name}", width) + "".join(f"{v:>{cell}}" for v in row))
    lines.append("")
    lines.append(f"time: {result['seconds']:.1f} s")
    return "\n".join(lines)


def _width(s: str) -> int:
    """Display width in a terminal: CJK characters take two columns."""
    return sum(2 if ord(ch) > 0x2E80 else 1 for ch in s)


def _pad(s: str, width: int) -> str:
    return s + " " * max(0, width - _width(s))
