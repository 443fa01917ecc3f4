"""The one-text scorer (nlp/features.py _FastLinear) gives sklearn's numbers: the same decision scores as the
vectorisers' transform and the model's decision_function, for texts seen and unseen, empty or with unknown
characters only, whitespace runs, upper case, a head block and none, two labels and many."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nlp.features import FAST_MAX, TextModel, TextModelConfig, _scores, prepare
from tests.nlp.test_model import TOPICS, chars, synthetic


def _sklearn(model: TextModel, texts: list[str]) -> np.ndarray:
    p = prepare(texts, chars)
    return _scores(model._clf, model._features(p), len(model.labels))


@pytest.fixture(scope="module", params=["three labels", "two labels", "no head block", "word bigrams"])
def model(request):
    texts, labels = synthetic(30, seed=3)
    config = TextModelConfig()
    if request.param == "two labels":
        keep = [i for i, label in enumerate(labels) if label != "noise"]
        texts, labels = [texts[i] for i in keep], [labels[i] for i in keep]
    if request.param == "no head block":
        config = TextModelConfig(head_weight=0.0)
    if request.param == "word bigrams":
        config = TextModelConfig(word_ngrams=(1, 2), head_weight=0.5)
    return TextModel.fit(texts, labels, tokenize=chars, config=config)


WORDS = [w for ws in TOPICS.values() for w in ws] + ["大家好", "  ", "\n\n", "ABC", "ok", "🙏", "。", "？"]


@settings(max_examples=150, deadline=None)
@given(parts=st.lists(st.sampled_from(WORDS) | st.text(max_size=6), max_size=8))
def test_one_text_at_a_time_scores_as_sklearn_does(model, parts):
    text = "".join(parts)
    fast = model.decision(prepare([text], chars))
    np.testing.assert_allclose(fast, _sklearn(model, [text]), rtol=1e-5, atol=1e-6)


def test_a_batch_of_up_to_fast_max_and_past_it_agree(model):
    texts, _ = synthetic(10, seed=9)
    small, large = texts[:FAST_MAX], texts[: FAST_MAX + 5]
    np.testing.assert_allclose(model.decision(prepare(small, chars)), _sklearn(model, small), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(model.decision(prepare(large, chars)), _sklearn(model, large), rtol=1e-5, atol=1e-6)


def test_the_scorer_is_not_pickled_and_comes_back_after_loading(model):
    import pickle

    model.decision(prepare(["楼道灯不亮"], chars))
    again = pickle.loads(pickle.dumps(model))
    assert "_fast" not in again.__dict__
    np.testing.assert_allclose(again.decision(prepare(["楼道灯不亮"], chars)), _sklearn(model, ["楼道灯不亮"]), rtol=1e-5)
