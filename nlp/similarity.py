"""Text similarity for matching a question to an earlier ticket and a report to an open duplicate."""

from __future__ import annotations

import re

from nlp.memo import short_texts

# Words that say nothing about which problem is meant: query scaffolding, particles, dialect fillers.
_FILLER = re.compile(
    r"[我你他她们的了吗呢吧啊呀哦哈嘛么冇冒咯哒个那这上次回之前反映报说提问请查下一些怎样么样什时候进度情况事"
    r"，。！？、；：,.!?;:\s~～…·\"'“”‘’（）()【】\[\]#]"
)


@short_texts(maxsize=512, max_chars=500)
def _bigrams(text: str) -> frozenset[str]:
    # Cached: a report is compared with the same few open tickets of its building again and again (a fifth
    # of the report path went to rebuilding their bigrams; `make bench` profile, issue 9).
    core = _FILLER.sub("", text)
    if len(core) < 2:
        return frozenset((core,)) if core else frozenset()
    return frozenset(core[i : i + 2] for i in range(len(core) - 1))


def similarity(a: str, b: str) -> float:
    """Dice coefficient over character bigrams of the content words (0 = unrelated, 1 = same)."""
    x, y = _bigrams(a), _bigrams(b)
    if not x or not y:
        return 0.0
    return 2 * len(x & y) / (len(x) + len(y))


def best_match(query: str, candidates: list[tuple[str, str]], *, threshold: float = 0.15) -> str | None:
    """The key of the candidate (key, text) most similar to `query`, or None below `threshold`."""
    best_key, best = None, threshold
    for key, text in candidates:
        s = similarity(query, text)
        if s > best:
            best_key, best = key, s
    return best_key
