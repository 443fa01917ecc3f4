"""The trained statistical stage: intent and category models, saved with metadata and refused when stale."""

from __future__ import annotations

import hashlib
import json
import os
import platform
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from nlp.crossval import cross_validate, format_cv_report, load_labelled_jsonl, scores_from_predictions
from nlp.features import Prepared, Progress, TextModel, TextModelConfig, Tokenize, prepare
from nlp.types import INTENTS

__all__ = [
    "IntentCategoryModel",
    "ModelError",
    "ModelIncompatible",
    "ModelMismatch",
    "Prediction",
    "TextModel",
    "TextModelConfig",
    "cross_validate",
    "format_cv_report",
    "labels_fingerprint",
    "load",
    "load_labelled_jsonl",
    "save",
    "scores_from_predictions",
]

FORMAT = 1
MODEL_FILE = "model.joblib"
META_FILE = "metadata.json"


class ModelError(Exception):
    """A saved model that must not be used; the message is meant for the operator."""


class ModelMismatch(ModelError):
    """The model was trained for other labels than the configured taxonomy."""


class ModelIncompatible(ModelError):
    """The model was saved by other library versions or in another format, or its files are damaged."""


@dataclass(frozen=True, slots=True)
class Prediction:
    """The model's intent and, for a report, category, each with its probability."""

    intent: str
    intent_prob: float
    category: str | None
    category_prob: float


def labels_fingerprint(labels: Collection[str]) -> str:
    """The fingerprint a taxonomy with exactly these codes has (nlp.types.Taxonomy.fingerprint)."""
    payload = json.dumps(sorted(set(labels)), ensure_ascii=False)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


class IntentCategoryModel:
    """Learns intent (report/query/chat) from every row and category from the reports."""

    kind = "intent_category"

    def __init__(self, intent: TextModel | None, category: TextModel | None) -> None:
        self.intent = intent
        self.category = category
        self.tokenize: Tokenize | None = None

    @property
    def labels(self) -> tuple[str, ...]:
        return self.category.labels if self.category is not None else ()

    @property
    def n_train(self) -> int:
        return (self.intent or self.category).n_train  # type: ignore[union-attr]

    @classmethod
    def fit(
        cls,
        rows: Sequence[Mapping[str, Any]],
        *,
        tokenize: Tokenize,
        progress: Progress | None = None,
        config: TextModelConfig | None = None,
    ) -> IntentCategoryModel:
        """Rows need text and intent; reports need a category (rows without one teach intent only)."""
        texts, intents, categories = _columns(rows)
        say = progress or (lambda _m: None)
        say(f"tokenising {len(texts)} messages")
        prepared = prepare(texts, tokenize, progress=progress)
        model = cls.fit_prepared(prepared, intents, categories, progress=progress, config=config)
        model.tokenize = tokenize
        return model

    @classmethod
    def fit_prepared(
        cls,
        prepared: Prepared,
        intents: Sequence[str],
        categories: Sequence[str | None],
        *,
        progress: Progress | None = None,
        config: TextModelConfig | None = None,
        calibrate: bool = True,
    ) -> IntentCategoryModel:
        cfg = config or TextModelConfig()
        say = progress or (lambda _m: None)
        intent = None
        if len(set(intents)) >= 2:  # a file of reports only teaches categories; intent stays with the rules
            say("intent model")
            intent = TextModel(cfg).fit_prepared(prepared, intents, progress=progress, calibrate=calibrate)
        idx = [i for i, (it, c) in enumerate(zip(intents, categories, strict=True)) if it == "report" and c]
        category = None
        if len({categories[i] for i in idx}) >= 2:
            say(f"category model on {len(idx)} reports")
            category = TextModel(cfg).fit_prepared(
                prepared.subset(idx),
                [str(categories[i]) for i in idx],
                progress=progress,
                calibrate=calibrate,
            )
        return cls(intent, category)

    def predict(self, texts: Sequence[str]) -> list[Prediction]:
        if self.tokenize is None:
            raise RuntimeError("IntentCategoryModel has no tokenizer: load it with tokenize=")
        if not texts:
            return []
        return self.predict_prepared(prepare(texts, self.tokenize))

    def predict_prepared(self, prepared: Prepared) -> list[Prediction]:
        if self.intent is not None:
            pi = self.intent.proba_prepared(prepared)
            bi = pi.argmax(axis=1)
        if self.category is not None:
            pc = self.category.proba_prepared(prepared)
            bc = pc.argmax(axis=1)
        out = []
        for n in range(len(prepared)):
            # Without an intent model the intent probability is 0: the cascade keeps the rules' intent.
            intent = self.intent.labels[bi[n]] if self.intent is not None else "report"
            if self.category is not None:
                cat, cp = self.category.labels[bc[n]], float(pc[n, bc[n]])
            else:
                cat, cp = None, 0.0
            ip = float(pi[n, bi[n]]) if self.intent is not None else 0.0
            out.append(Prediction(intent, ip, cat, cp))
        return out

    def __getstate__(self) -> dict[str, Any]:
        return {"intent": self.intent, "category": self.category, "tokenize": None}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)


def _columns(rows: Sequence[Mapping[str, Any]]) -> tuple[list[str], list[str], list[str | None]]:
    texts, intents, categories = [], [], []
    for n, row in enumerate(rows, 1):
        text, intent = row.get("text"), row.get("intent")
        if not text or intent is None:
            continue
        if intent not in INTENTS:
            raise ValueError(f"row {n}: intent {intent!r} is not one of {', '.join(INTENTS)}")
        texts.append(str(text))
        intents.append(str(intent))
        categories.append(row.get("category") if intent == "report" else None)
    if not texts:
        raise ValueError("no labelled rows (fields text and intent) to learn from")
    return texts, intents, categories


# ---------------------------------------------------------------- saving and loading


def library_versions() -> dict[str, str]:
    """The versions a pickled model depends on; any difference means retraining."""
    import jieba
    import joblib
    import scipy
    import sklearn

    return {
        "python": ".".join(platform.python_version_tuple()[:2]),
        "scikit-learn": sklearn.__version__,
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "joblib": joblib.__version__,
        "jieba": getattr(jieba, "__version__", "unknown"),
    }


def version_differences(saved: Mapping[str, str]) -> list[str]:
    now = library_versions()
    return [f"{k} {saved.get(k)} (now {v})" for k, v in now.items() if saved.get(k) != v]


def save(
    model: TextModel | IntentCategoryModel, path_dir: str | Path, metadata: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """Write the model and its metadata into path_dir; returns the metadata written.

    `metadata` may carry taxonomy_fingerprint (else it is computed from the labels) and anything else worth
    keeping (e.g. the source of the training data).
    """
    path = Path(path_dir)
    path.mkdir(parents=True, exist_ok=True)
    import joblib

    tmp = path / (MODEL_FILE + ".tmp")
    joblib.dump(model, tmp, compress=3)
    meta: dict[str, Any] = dict(metadata or {})
    kind = "intent_category" if isinstance(model, IntentCategoryModel) else "text"
    meta.update(
        format=FORMAT,
        kind=kind,
        labels=list(model.labels),
        training_size=model.n_train,
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
        versions=library_versions(),
        sha256=_sha256(tmp),
    )
    if isinstance(model, IntentCategoryModel):
        meta["intents"] = list(model.intent.labels) if model.intent else []
        meta["intent_model"] = model.intent.describe() if model.intent else None
        meta["category_model"] = model.category.describe() if model.category else None
    else:
        meta["model"] = model.describe()
    meta.setdefault("taxonomy_fingerprint", labels_fingerprint(model.labels))
    meta_tmp = path / (META_FILE + ".tmp")
    text = json.dumps(meta, ensure_ascii=False, indent=2)
    meta_tmp.write_text(text, encoding="utf-8")
    # The model file first, then the metadata that vouches for it: a crash in between leaves a checksum mismatch.
    os.replace(tmp, path / MODEL_FILE)
    os.replace(meta_tmp, path / META_FILE)
    return json.loads(text)


def read_metadata(path_dir: str | Path) -> dict[str, Any]:
    meta_path = Path(path_dir) / META_FILE
    try:
        return json.loads(meta_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelIncompatible(f"{meta_path} is missing; retrain with `linju train`") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ModelIncompatible(
            f"{meta_path} is not valid JSON ({exc}); retrain with `linju train`"
        ) from None


def check_metadata(
    meta: Mapping[str, Any],
    *,
    expected_fingerprint: str | None,
    expected_labels: Collection[str] | None = None,
) -> None:
    """Raise ModelError unless the model fits this installation and this taxonomy."""
    if meta.get("format") != FORMAT:
        raise ModelIncompatible(
            f"the saved model has format {meta.get('format')!r}, this version reads {FORMAT}; retrain with `linju train`"
        )
    diffs = version_differences(meta.get("versions") or {})
    if diffs:
        raise ModelIncompatible(
            "the saved model was built with other library versions (" + "; ".join(diffs) + "); "
            "it is not loaded, retrain it with `linju train`"
        )
    saved_fp = meta.get("taxonomy_fingerprint")
    if expected_fingerprint is not None and saved_fp != expected_fingerprint:
        raise ModelMismatch(
            f"the saved model was trained for another set of categories (fingerprint {saved_fp}, the configured "
            f"taxonomy has {expected_fingerprint}; model labels: {', '.join(meta.get('labels') or [])}); "
            "retrain it with `linju train` after changing the taxonomy"
        )
    if expected_labels is not None:
        unknown = sorted(set(meta.get("labels") or ()) - set(expected_labels))
        if unknown:
            raise ModelMismatch(
                f"the saved model predicts labels the configured taxonomy lacks: {', '.join(unknown)}; "
                "retrain it with `linju train`"
            )


def load(
    path_dir: str | Path,
    *,
    expected_fingerprint: str | None,
    tokenize: Tokenize,
    expected_labels: Collection[str] | None = None,
) -> TextModel | IntentCategoryModel:
    """The saved model, ready to predict; raises ModelMismatch or ModelIncompatible before unpickling anything."""
    path = Path(path_dir)
    meta = read_metadata(path)
    check_metadata(meta, expected_fingerprint=expected_fingerprint, expected_labels=expected_labels)
    model_path = path / MODEL_FILE
    if not model_path.exists():
        raise ModelIncompatible(f"{model_path} is missing; retrain with `linju train`")
    if _sha256(model_path) != meta.get("sha256"):
        raise ModelIncompatible(
            f"{model_path} does not match its metadata (checksum); retrain with `linju train`"
        )
    import joblib

    model = joblib.load(model_path)
    expected_type = IntentCategoryModel if meta.get("kind") == "intent_category" else TextModel
    if not isinstance(model, expected_type):
        raise ModelIncompatible(
            f"{model_path} holds a {type(model).__name__}, not a {expected_type.__name__}"
        )
    model.tokenize = tokenize
    return model


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
