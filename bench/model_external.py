"""Benchmark of the statistical model on the external labelled set: 5-fold CV, full training, prediction rate."""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "external" / "tipdm2020c_messages_labeled.jsonl"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--data", default=str(DEFAULT_DATA))
    ap.add_argument("--cv", type=int, default=5)
    ap.add_argument("--skip-cv", action="store_true")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    if not Path(args.data).exists():
        print(f"no data at {args.data}", file=sys.stderr)
        return 1
    sys.path.insert(0, str(ROOT))
    from nlp import model as statmodel
    from nlp.segment import TextProcessor

    def say(m: str) -> None:
        print(f"  .. {m}", file=sys.stderr)

    t = time.perf_counter()
    proc = TextProcessor(cache_dir=tempfile.gettempdir())
    proc.initialize()
    out: dict = {"jieba_init_seconds": round(time.perf_counter() - t, 2)}
    texts, labels = statmodel.load_labelled_jsonl(
        args.data, text_fields=("title", "text"), label_field="label"
    )
    titles, _ = statmodel.load_labelled_jsonl(args.data, text_fields=("title",), label_field="label")
    out["n"] = len(texts)

    if not args.skip_cv:
        cv = statmodel.cross_validate(texts, labels, k=args.cv, tokenize=proc.tokens, progress=say)
        if not args.json:
            print(statmodel.format_cv_report(cv))
        out.update(
            cv_macro_f1=round(cv["macro_f1"], 4),
            cv_accuracy=round(cv["accuracy"], 4),
            cv_seconds=cv["seconds"],
        )

    t = time.perf_counter()
    m = statmodel.TextModel.fit(texts, labels, tokenize=proc.tokens, progress=say)
    out["train_seconds"] = round(time.perf_counter() - t, 2)
    out["temperature"] = round(m.temperature, 3)
    with tempfile.TemporaryDirectory() as d:
        t = time.perf_counter()
        statmodel.save(m, d)
        out["save_seconds"] = round(time.perf_counter() - t, 2)
        out["model_mb"] = round((Path(d) / statmodel.MODEL_FILE).stat().st_size / 1e6, 1)
        t = time.perf_counter()
        m = statmodel.load(d, expected_fingerprint=None, tokenize=proc.tokens)
        out["load_seconds"] = round(time.perf_counter() - t, 2)

    short = titles[:5000]
    t = time.perf_counter()
    for i in range(0, len(short), 500):
        m.predict_proba(short[i : i + 500])
    out["msgs_per_second_batched"] = round(len(short) / (time.perf_counter() - t))
    t = time.perf_counter()
    for s in short[:1000]:
        m.predict_proba([s])
    out["msgs_per_second_one_by_one"] = round(1000 / (time.perf_counter() - t))
    print(json.dumps(out, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
