"""Normalisation and segmentation."""

from __future__ import annotations

from nlp.normalize import normalize


def test_folds_full_width_and_traditional():
    assert normalize("４號樓　電梯壞了！") == "4号楼 电梯坏了!"


def test_strips_invisible_and_collapses_whitespace():
    assert normalize("\u200b 楼道灯\t\n  不亮\ufeff ") == "楼道灯 不亮"


def test_keeps_emoji_and_wechat_tokens():
    assert normalize("恭喜 [红包] 🧧 [图片]") == "恭喜 [红包] 🧧 [图片]"


def test_lone_surrogate_does_not_crash():
    assert "楼" in normalize("楼\ud83d道")


def test_empty_text():
    assert normalize("") == ""


def test_tokens_use_community_words(processor):
    words = processor.tokens("金穗小区的僵尸车占了车位，化粪池又满了")
    assert "金穗小区" in words
    assert "僵尸车" in words
    assert "化粪池" in words


def test_processor_has_its_own_tokenizer(tmp_path):
    import jieba

    from nlp.segment import TextProcessor

    p = TextProcessor(["枫林雅苑"], cache_dir=str(tmp_path))
    assert "枫林雅苑" in p.tokens("枫林雅苑停水了")
    assert p._tokenizer is not jieba.dt


def test_prefix_cache_is_written_once_then_read_and_a_broken_one_is_rebuilt(tmp_path):
    from nlp.segment import TextProcessor

    text = "枫林雅苑3栋楼道灯坏了，麻烦物业看看"
    first = TextProcessor(["枫林雅苑"], cache_dir=str(tmp_path))
    expected = first.tokens(text)
    cache = tmp_path / "jieba.cache"
    assert cache.stat().st_size > 1_000_000, "jieba did not write its prefix cache"

    again = TextProcessor(["枫林雅苑"], cache_dir=str(tmp_path))
    assert again.tokens(text) == expected
    assert again._tokenizer.FREQ == first._tokenizer.FREQ and again._tokenizer.total == first._tokenizer.total

    cache.write_bytes(b"not a cache")
    rebuilt = TextProcessor(["枫林雅苑"], cache_dir=str(tmp_path))
    assert rebuilt.tokens(text) == expected
    assert cache.stat().st_size > 1_000_000, "a broken cache was not replaced"
