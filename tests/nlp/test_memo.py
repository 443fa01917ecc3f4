"""Text memos are bounded in bytes: long texts are computed every time and never kept, short ones are kept."""

from __future__ import annotations

from nlp.memo import MAX_CHARS, short_texts
from nlp.normalize import normalize


def test_only_short_texts_are_remembered():
    calls: list[str] = []

    @short_texts(maxsize=4)
    def upper(text: str) -> str:
        calls.append(text)
        return text.upper()

    long = "x" * (MAX_CHARS + 1)
    assert [upper("ab"), upper("ab"), upper(long), upper(long)] == ["AB", "AB", long.upper(), long.upper()]
    assert calls == ["ab", long, long]
    info = upper.cached.cache_info()  # type: ignore[attr-defined]
    assert (info.hits, info.currsize) == (1, 1)


def test_normalize_keeps_no_long_paste_and_gives_the_same_answer():
    before = normalize.cached.cache_info().currsize  # type: ignore[attr-defined]
    paste = "楼道灯坏了，" * 4000  # 24,000 characters
    assert normalize(paste) == normalize(paste) and normalize(paste).startswith("楼道灯坏了,")
    assert normalize.cached.cache_info().currsize == before  # type: ignore[attr-defined]
    normalize("收到，谢谢")
    assert normalize.cached.cache_info().currsize <= before + 1  # type: ignore[attr-defined]
