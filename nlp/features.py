"""The statistical text classifier: jieba words, character n-grams and the opening sentence into a linear model."""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

Tokenize = Callable[[str], list[str]]
Progress = Callable[[str], None]

# The first sentence (for a joined "title。text" it is the title) gets its own feature block: a message's
# opening names its subject, and on the external set this block gained about 0.005 macro-F1 over repeating it.
_HEAD_END = re.compile(r"[。！？!?\n；;]")
_HEAD_MAX = 60


def head_of(text: str) -> str:
    """The opening sentence of a message (at most 60 characters)."""
    m = _HEAD_END.search(text)
    return (text[: m.start()] if m else text)[:_HEAD_MAX]


@dataclass(frozen=True, slots=True)
class TextModelConfig:
    """Feature and learner settings; the defaults were chosen by 5-fold CV (see bench/model_external.py)."""

    word_ngrams: tuple[int, int] = (1, 1)
    word_min_df: int = 1
    char_ngrams: tuple[int, int] = (1, 2)
    char_min_df: int = 2
    head_ngrams: tuple[int, int] = (1, 3)
    head_min_df: int = 2
    head_weight: float = 1.0
    C: float = 1.0
    balanced: bool = True
    calibration_folds: int = 3


@dataclass(frozen=True, slots=True)
class Prepared:
    """Texts after tokenisation: the part that needs jieba, done once and reusable across folds."""

    words: list[str]
    raw: list[str]

    def subset(self, idx: Sequence[int]) -> Prepared:
        return Prepared([self.words[i] for i in idx], [self.raw[i] for i in idx])

    def __len__(self) -> int:
        return len(self.raw)


def prepare(
    texts: Sequence[str], tokenize: Tokenize, *, progress: Progress | None = None, every: int = 2000
) -> Prepared:
    """Tokenise texts once; words are joined by spaces so the stored vectoriser needs no callable."""
    words: list[str] = []
    n = len(texts)
    for i, t in enumerate(texts, 1):
        words.append(" ".join(w for w in tokenize(t) if w.strip()))
        if progress and n > every and (i % every == 0 or i == n):
            progress(f"tokenised {i}/{n}")
    return Prepared(words, [str(t) for t in texts])


def _softmax(scores: np.ndarray, temperature: float) -> np.ndarray:
    z = scores / temperature
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def fit_temperature(scores: np.ndarray, y: np.ndarray) -> float:
    """The softmax temperature that minimises the log-loss of held-out decision scores."""
    from scipy.optimize import minimize_scalar

    rows = np.arange(len(y))

    def nll(log_t: float) -> float:
        p = _softmax(scores, math.exp(log_t))
        return float(-np.log(np.clip(p[rows, y], 1e-12, None)).mean())

    res = minimize_scalar(nll, bounds=(math.log(0.01), math.log(10.0)), method="bounded")
    return float(math.exp(res.x))


class TextModel:
    """A single-label classifier whose probability is meant to be used as a confidence."""

    def __init__(self, config: TextModelConfig | None = None) -> None:
        self.config = config or TextModelConfig()
        self.labels: tuple[str, ...] = ()
        self.temperature = 1.0
        self.n_train = 0
        self._vectorizers: list[Any] = []
        self._clf: Any = None
        self.tokenize: Tokenize | None = None  # not pickled; given again at load time

    # ---------------------------------------------------------------- fitting

    @classmethod
    def fit(
        cls,
        texts: Sequence[str],
        labels: Sequence[str],
        *,
        tokenize: Tokenize,
        progress: Progress | None = None,
        config: TextModelConfig | None = None,
    ) -> TextModel:
        if len(texts) != len(labels):
            raise ValueError(f"{len(texts)} texts for {len(labels)} labels")
        say = progress or (lambda _m: None)
        say(f"tokenising {len(texts)} messages")
        prepared = prepare(texts, tokenize, progress=progress)
        model = cls(config).fit_prepared(prepared, labels, progress=progress)
        model.tokenize = tokenize
        return model

    def fit_prepared(
        self,
        prepared: Prepared,
        labels: Sequence[str],
        *,
        progress: Progress | None = None,
        calibrate: bool = True,
    ) -> TextModel:
        say = progress or (lambda _m: None)
        classes = sorted(set(labels))
        if len(classes) < 2:
            raise ValueError(f"need at least two labels to learn from, got {classes}")
        self.labels = tuple(classes)
        index = {c: i for i, c in enumerate(classes)}
        y = np.array([index[c] for c in labels])
        self.n_train = len(y)
        say(f"vectorising {len(y)} messages")
        x = self._fit_features(prepared)
        say(f"fitting a linear model on {x.shape[0]} x {x.shape[1]} features")
        # liblinear releases the GIL: the final fit and the calibration folds share two threads.
        with ThreadPoolExecutor(max_workers=2) as pool:
            final = pool.submit(self._new_clf().fit, x, y)
            if calibrate:
                scores = self._out_of_fold_scores(x, y, pool)
            self._clf = final.result()
        if calibrate:
            say("calibrating probabilities")
            self.temperature = fit_temperature(scores, y) if scores is not None else 1.0
        return self

    def _new_clf(self):
        from sklearn.svm import LinearSVC

        c = self.config
        return LinearSVC(C=c.C, class_weight="balanced" if c.balanced else None, random_state=0)

    def _fit_features(self, p: Prepared):
        from scipy import sparse
        from sklearn.feature_extraction.text import TfidfVectorizer

        c = self.config
        n = len(p)
        word = TfidfVectorizer(
            token_pattern=r"\S+",
            lowercase=False,
            ngram_range=c.word_ngrams,
            min_df=min(c.word_min_df, n),
            sublinear_tf=True,
            dtype=np.float32,
        )
        char = TfidfVectorizer(
            analyzer="char",
            ngram_range=c.char_ngrams,
            min_df=min(c.char_min_df, n),
            sublinear_tf=True,
            dtype=np.float32,
        )
        head = TfidfVectorizer(
            analyzer="char",
            ngram_range=c.head_ngrams,
            min_df=min(c.head_min_df, n),
            sublinear_tf=True,
            dtype=np.float32,
        )
        blocks = [word.fit_transform(p.words), char.fit_transform(p.raw)]
        if c.head_weight:
            blocks.append(c.head_weight * head.fit_transform([head_of(t) for t in p.raw]))
        self._vectorizers = [word, char, head] if c.head_weight else [word, char]
        return sparse.hstack(blocks, format="csr")

    def _features(self, p: Prepared):
        from scipy import sparse

        blocks = [self._vectorizers[0].transform(p.words), self._vectorizers[1].transform(p.raw)]
        if len(self._vectorizers) > 2:
            blocks.append(
                self.config.head_weight * self._vectorizers[2].transform([head_of(t) for t in p.raw])
            )
        return sparse.hstack(blocks, format="csr")

    def _out_of_fold_scores(self, x, y: np.ndarray, pool: ThreadPoolExecutor) -> np.ndarray | None:
        """Held-out decision scores for fitting the temperature (the vocabulary is shared; the weights are not)."""
        from sklearn.model_selection import StratifiedKFold

        folds = min(self.config.calibration_folds, int(np.bincount(y).min()))
        if folds < 2:
            return None
        runs = [
            (te, pool.submit(self._new_clf().fit, x[tr], y[tr]))
            for tr, te in StratifiedKFold(folds, shuffle=True, random_state=0).split(x, y)
        ]
        scores = np.zeros((len(y), len(self.labels)), dtype=np.float64)
        for te, run in runs:
            scores[te] = _scores(run.result(), x[te], len(self.labels))
        return scores

    # ---------------------------------------------------------------- predicting

    def decision(self, prepared: Prepared) -> np.ndarray:
        if len(prepared) <= FAST_MAX:  # a message or a few, as the bot asks: without sklearn's per-call cost
            fast = self.__dict__.get("_fast") or self._build_fast()
            return np.vstack([fast.scores(w, r) for w, r in zip(prepared.words, prepared.raw, strict=True)])
        return _scores(self._clf, self._features(prepared), len(self.labels))

    def _build_fast(self) -> _FastLinear:
        weights = [1.0, 1.0, self.config.head_weight][: len(self._vectorizers)]
        self._fast = _FastLinear(self._vectorizers, weights, self._clf, len(self.labels))
        return self._fast

    def proba_prepared(self, prepared: Prepared) -> np.ndarray:
        """Class probabilities, columns in the order of `labels`."""
        return _softmax(self.decision(prepared), self.temperature)

    def predict_proba(
        self, texts: Sequence[str], *, tokenize: Tokenize | None = None
    ) -> list[tuple[str, float]]:
        """The best label of each text with its probability."""
        tok = tokenize or self.tokenize
        if tok is None:
            raise RuntimeError("TextModel has no tokenizer: pass tokenize= or load it with one")
        if not texts:
            return []
        p = self.proba_prepared(prepare(texts, tok))
        best = p.argmax(axis=1)
        return [(self.labels[b], float(p[i, b])) for i, b in enumerate(best)]

    def predict_labels(self, prepared: Prepared) -> list[str]:
        best = self.decision(prepared).argmax(axis=1)
        return [self.labels[b] for b in best]

    def describe(self) -> dict[str, Any]:
        return {
            "config": asdict(self.config),
            "temperature": round(self.temperature, 4),
            "n_train": self.n_train,
        }

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["tokenize"] = None
        state.pop("_fast", None)  # rebuilt from the vectorisers on first use
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)


FAST_MAX = 16  # up to this many texts are scored by _FastLinear; more go through sklearn's sparse matrices
# What makes two vectorisers' analyzers give the same terms: the intent and the category model share them, so a
# message's terms are found once for both (_analysed keeps the last few).
_ANALYZER_PARAMS = ("analyzer", "ngram_range", "lowercase", "token_pattern", "strip_accents", "stop_words", "preprocessor")
_ANALYSED: dict[tuple[str, str], list[tuple[str, int]]] = {}


def _analysed(key: str, analyze: Callable[[str], list[str]], text: str) -> list[tuple[str, int]]:
    """The text's distinct terms with their counts, by this analyzer."""
    found = _ANALYSED.get((key, text))
    if found is None:
        if len(_ANALYSED) >= 8:
            _ANALYSED.clear()
        found = _ANALYSED[(key, text)] = list(Counter(analyze(text)).items())
    return found


class _FastLinear:
    """The fitted vectorisers and linear model, applied to one text without building sparse matrices.

    sklearn's transform and decision_function cost about 4 ms a call whatever the batch size (validation,
    scipy.sparse construction, hstack); the bot asks about one message at a time. This computes the same
    numbers: each block's terms by the vectoriser's own analyzer, sublinear tf × idf, l2-normalised per block
    and weighted, then the dot product with the model's coefficients (tests/nlp/test_fast_model.py holds it to
    sklearn's scores)."""

    def __init__(self, vectorizers: Sequence[Any], weights: Sequence[float], clf: Any, n_labels: int) -> None:
        # Per block: its analyzer, what makes it the same as another's, term → (column, idf), the block's weight.
        self.blocks: list[tuple[Callable[[str], list[str]], str, dict[str, tuple[int, float]], float]] = []
        offset = 0
        for v, w in zip(vectorizers, weights, strict=True):
            idf = np.asarray(v.idf_, dtype=np.float64).tolist()  # plain floats: per-term arithmetic in Python is cheaper
            table = {term: (offset + j, idf[j]) for term, j in v.vocabulary_.items()}
            key = repr([v.get_params()[k] for k in _ANALYZER_PARAMS])
            self.blocks.append((v.build_analyzer(), key, table, w))
            offset += len(v.vocabulary_)
        coef = np.asarray(clf.coef_, dtype=np.float64)
        self.weights = np.ascontiguousarray(coef.T)  # (features, classes): one row per term
        self.intercept = np.asarray(clf.intercept_, dtype=np.float64)
        self.binary = n_labels == 2 and coef.shape[0] == 1

    def scores(self, words: str, raw: str) -> np.ndarray:
        columns: list[int] = []
        values: list[float] = []
        log, sqrt = math.log, math.sqrt
        for n, (analyze, key, table, weight) in enumerate(self.blocks):
            get = table.get
            start = len(values)
            for term, c in _analysed(key, analyze, words if n == 0 else raw if n == 1 else head_of(raw)):
                e = get(term)
                if e is not None:
                    columns.append(e[0])
                    values.append(e[1] if c == 1 else (1.0 + log(c)) * e[1])  # sublinear tf × idf
            if len(values) > start:
                block = values[start:]
                norm = sqrt(sum(x * x for x in block))
                scale = weight / norm if norm else 0.0
                values[start:] = [x * scale for x in block]
        s = self.intercept.copy()
        if columns:
            s += np.asarray(values) @ self.weights[columns]
        if self.binary:
            return np.array([-s[0] / 2, s[0] / 2])
        return s


def _scores(clf, x, n_labels: int) -> np.ndarray:
    """Decision scores as an (n, n_labels) array, also for two labels where sklearn gives one column."""
    s = np.asarray(clf.decision_function(x), dtype=np.float64)
    if n_labels == 2 and s.ndim == 1:
        s = np.column_stack([-s / 2, s / 2])
    return s
