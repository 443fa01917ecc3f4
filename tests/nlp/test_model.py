"""The statistical stage: fitting, probabilities, saving with metadata, refusal of stale models, CV output."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from nlp import model as statmodel
from nlp.features import fit_temperature, head_of
from nlp.types import Category, Taxonomy

# Our own small vocabulary: three topics, each message a random mix of its topic's words and shared filler.
TOPICS = {
    "water": ["下水道", "水管", "停水", "污水", "漏水", "水压"],
    "light": ["路灯", "楼道灯", "灯泡", "不亮", "黑漆漆", "电灯"],
    "noise": ["噪音", "装修", "电钻", "广场舞", "吵", "喇叭"],
}
FILLER = ["今天", "我们", "小区", "那边", "麻烦", "一下", "好久", "了", "的", "还是"]


def chars(text: str) -> list[str]:
    """A tokenizer that needs no dictionary: one token per character."""
    return [c for c in text if not c.isspace()]


def synthetic(n_per: int, seed: int = 1) -> tuple[list[str], list[str]]:
    rng = random.Random(seed)
    texts, labels = [], []
    for label, words in TOPICS.items():
        for _ in range(n_per):
            parts = rng.sample(words, 2) + rng.sample(FILLER, 3)
            rng.shuffle(parts)
            texts.append("".join(parts))
            labels.append(label)
    return texts, labels


@pytest.fixture(scope="module")
def fitted():
    texts, labels = synthetic(40)
    return statmodel.TextModel.fit(texts, labels, tokenize=chars)


def test_text_model_learns_topics_and_gives_probabilities(fitted):
    out = fitted.predict_proba(["楼下下水道又堵了", "晚上装修电钻太吵", "路灯不亮"])
    assert [label for label, _ in out] == ["water", "noise", "light"]
    assert all(0.34 < p <= 1.0 for _, p in out)
    assert fitted.labels == ("light", "noise", "water")


def test_probability_is_lower_for_a_message_without_topic_words(fitted):
    [(_, sure)] = fitted.predict_proba(["下水道污水漏水停水"])
    [(_, unsure)] = fitted.predict_proba(["大家好"])
    assert unsure < sure


def test_predict_proba_of_nothing_is_empty(fitted):
    assert fitted.predict_proba([]) == []


def test_fit_refuses_a_single_label():
    with pytest.raises(ValueError, match="two labels"):
        statmodel.TextModel.fit(["甲", "乙"], ["a", "a"], tokenize=chars)


def test_fit_reports_progress():
    seen: list[str] = []
    texts, labels = synthetic(10)
    statmodel.TextModel.fit(texts, labels, tokenize=chars, progress=seen.append)
    assert any("fitting" in m for m in seen) and any("calibrat" in m for m in seen)


def test_temperature_softens_overconfident_scores():
    import numpy as np

    # Scores that always favour the right class by a wide margin but are wrong a third of the time.
    scores = np.array([[5.0, 0.0], [0.0, 5.0], [5.0, 0.0]] * 20)
    y = np.array([0, 1, 1] * 20)
    assert fit_temperature(scores, y) > 3.0


def test_head_is_the_first_sentence():
    assert head_of("路灯坏了。详细情况如下") == "路灯坏了"
    assert head_of("没有句号") == "没有句号"


# ---------------------------------------------------------------- saving and loading


def rows_for_taxonomy(n_per: int = 15) -> list[dict]:
    texts, labels = synthetic(n_per, seed=2)
    rows = [{"text": t, "intent": "report", "category": c} for t, c in zip(texts, labels, strict=True)]
    rng = random.Random(3)
    for _ in range(n_per):
        rows.append(
            {
                "text": "".join(rng.sample(["收到", "谢谢", "好的", "辛苦了", "哈哈", "早上好"], 2)),
                "intent": "chat",
            }
        )
        rows.append({"text": f"查询{rng.randint(1, 99):04d}号工单进度", "intent": "query", "category": None})
    return rows


TAXONOMY = Taxonomy(tuple(Category(code, code) for code in ("water", "light", "noise", "other")))


@pytest.fixture(scope="module")
def intent_model():
    return statmodel.IntentCategoryModel.fit(rows_for_taxonomy(), tokenize=chars)


def test_intent_category_model_predicts_intent_and_category(intent_model):
    preds = intent_model.predict(["路灯不亮黑漆漆", "谢谢辛苦了", "查询0012号工单进度"])
    assert [p.intent for p in preds] == ["report", "chat", "query"]
    assert preds[0].category == "light"
    assert 0 < preds[0].intent_prob <= 1 and 0 < preds[0].category_prob <= 1


def test_save_and_load_round_trip(tmp_path: Path, intent_model):
    meta = statmodel.save(
        intent_model, tmp_path, {"taxonomy_fingerprint": TAXONOMY.fingerprint(), "source": "test"}
    )
    saved = json.loads((tmp_path / "metadata.json").read_text(encoding="utf-8"))
    assert saved == meta
    for key in ("labels", "taxonomy_fingerprint", "versions", "training_size", "created_at", "kind"):
        assert key in saved
    assert saved["labels"] == ["light", "noise", "water"] and saved["kind"] == "intent_category"
    assert {"scikit-learn", "numpy", "python"} <= set(saved["versions"])
    loaded = statmodel.load(tmp_path, expected_fingerprint=TAXONOMY.fingerprint(), tokenize=chars)
    texts = ["下水道停水了", "收到"]
    assert loaded.predict(texts) == intent_model.predict(texts)


def test_text_model_round_trip_without_tokenizer_in_the_file(tmp_path: Path, fitted):
    statmodel.save(fitted, tmp_path)
    loaded = statmodel.load(tmp_path, expected_fingerprint=None, tokenize=chars)
    assert isinstance(loaded, statmodel.TextModel)
    assert loaded.predict_proba(["装修噪音"]) == fitted.predict_proba(["装修噪音"])


def test_load_refuses_another_taxonomy(tmp_path: Path, intent_model):
    statmodel.save(intent_model, tmp_path, {"taxonomy_fingerprint": TAXONOMY.fingerprint()})
    other = Taxonomy((Category("repair", "设施报修"), Category("other", "其他")))
    with pytest.raises(statmodel.ModelMismatch, match="another set of categories"):
        statmodel.load(tmp_path, expected_fingerprint=other.fingerprint(), tokenize=chars)


def test_load_refuses_labels_the_taxonomy_lacks(tmp_path: Path, intent_model):
    statmodel.save(intent_model, tmp_path)
    with pytest.raises(statmodel.ModelMismatch, match="water"):
        statmodel.load(
            tmp_path, expected_fingerprint=None, tokenize=chars, expected_labels={"light", "noise"}
        )


def test_load_refuses_other_library_versions_without_unpickling(tmp_path: Path, intent_model, monkeypatch):
    statmodel.save(intent_model, tmp_path)
    meta_path = tmp_path / "metadata.json"
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    meta["versions"]["scikit-learn"] = "0.0.1"
    meta_path.write_text(json.dumps(meta), encoding="utf-8")
    import joblib

    def no_unpickling(*_a, **_k):
        raise AssertionError("a model from other versions must not be unpickled")

    monkeypatch.setattr(joblib, "load", no_unpickling)
    with pytest.raises(statmodel.ModelIncompatible, match=r"scikit-learn 0\.0\.1"):
        statmodel.load(tmp_path, expected_fingerprint=None, tokenize=chars)


def test_load_refuses_a_model_file_that_does_not_match_its_metadata(tmp_path: Path, intent_model):
    statmodel.save(intent_model, tmp_path)
    (tmp_path / "model.joblib").write_bytes(b"not a model")
    with pytest.raises(statmodel.ModelIncompatible, match="checksum"):
        statmodel.load(tmp_path, expected_fingerprint=None, tokenize=chars)


def test_load_without_metadata_is_refused(tmp_path: Path):
    with pytest.raises(statmodel.ModelIncompatible, match="missing"):
        statmodel.load(tmp_path, expected_fingerprint=None, tokenize=chars)


def test_model_errors_share_a_base_class():
    assert issubclass(statmodel.ModelMismatch, statmodel.ModelError)
    assert issubclass(statmodel.ModelIncompatible, statmodel.ModelError)


# ---------------------------------------------------------------- data loading and cross-validation


def test_load_labelled_jsonl_joins_fields_and_skips_unlabelled(tmp_path: Path):
    path = tmp_path / "d.jsonl"
    rows = [
        {"title": "路灯坏了", "text": "三天了", "label": "light"},
        {"title": "停水", "text": None, "label": "water"},
        {"title": "没有标签", "text": "x", "label": None},
        {"title": "", "text": "", "label": "water"},
    ]
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n\n", encoding="utf-8")
    texts, labels = statmodel.load_labelled_jsonl(path, text_fields=("title", "text"), label_field="label")
    assert texts == ["路灯坏了。三天了", "停水"]
    assert labels == ["light", "water"]


def test_cross_validate_reports_the_agreed_keys():
    texts, labels = synthetic(15)
    result = statmodel.cross_validate(texts, labels, k=3, tokenize=chars, n_jobs=1)
    for key in ("macro_f1", "accuracy", "per_label", "confusion", "seconds", "n", "k"):
        assert key in result
    assert result["n"] == 45 and result["k"] == 3
    assert set(result["per_label"]) == set(TOPICS)
    assert sum(map(sum, result["confusion"]["matrix"])) == 45
    assert result["macro_f1"] > 0.8
    json.dumps(result)  # the CLI prints it as JSON
    report = statmodel.format_cv_report(result)
    assert "macro-F1" in report and "confusion" in report and "water" in report


def test_cross_validate_refuses_too_few_examples_for_k():
    with pytest.raises(ValueError, match="too few"):
        statmodel.cross_validate(["a", "b", "c", "d"], ["x", "x", "y", "y"], k=3, tokenize=chars)


# ---------------------------------------------------------------- in the cascade


class UnsureRules:
    """A rules stage that always answers chat with low confidence, keeping a building it 'found'."""

    def classify(self, text: str):
        from nlp.types import Classification, Location

        return Classification(intent="chat", confidence=0.1, location=Location(building="4"))


def test_cascade_takes_the_model_when_the_rules_are_unsure(intent_model):
    from nlp.cascade import Cascade, CascadeThresholds

    intent_model.tokenize = chars
    cascade = Cascade(UnsureRules(), model=intent_model, thresholds=CascadeThresholds())
    c = cascade.classify_sync("下水道污水漏水停水")
    assert (c.intent, c.category, c.stage) == ("report", "water", "model")
    assert c.building == "4"  # extraction stays with the rules
    many = cascade.classify_many_sync(["下水道污水漏水停水", "路灯不亮黑漆漆"])
    assert [x.category for x in many] == ["water", "light"]
