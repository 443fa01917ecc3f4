"""Text normalisation: width, traditional→simplified, invisible characters and whitespace."""

from __future__ import annotations

import functools
import re
import unicodedata

from nlp.memo import short_texts

# Zero-width, bidi marks, BOM and C0/C1 controls (tab/newline are turned into spaces first).
_INVISIBLE = re.compile(
    r"[\u200b-\u200f\u202a-\u202e\u2060-\u2064\ufeff\u00ad\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]"
)
_SPACES = re.compile(r"\s+")
# Only non-ASCII text can need width folding or t2s conversion; pure ASCII skips both.
_NEEDS_NFKC = re.compile(r"[\u3000\uff01-\uff5e\u2460-\u24ff\u3200-\u33ff\ufe30-\ufe6f]")


@functools.lru_cache(maxsize=1)
def _t2s():
    """The OpenCC converter, created on first use: building it reads dictionaries from disk."""
    import opencc

    return opencc.OpenCC("t2s")


@short_texts(maxsize=4096)
def _convert(text: str) -> str:
    # Group chats repeat the same short messages (收到, 好的, [红包]) a lot, so memoise.
    return _t2s().convert(text)


def _safe(text: str) -> str:
    """Replace lone surrogates (from broken emoji on some clients) so nothing downstream crashes."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return text.encode("utf-8", "replace").decode("utf-8")


# The cascade normalises one message several times (handler, classifier, entity extraction), and chats
# repeat short messages, so memoise: the result depends on the text alone.
@short_texts(maxsize=8192)
def normalize(text: str) -> str:
    """Return the canonical form of a message: half-width, simplified, no invisibles, single spaces."""
    if not text:
        return ""
    text = _safe(text)
    if _NEEDS_NFKC.search(text):
        # NFKC folds full-width letters/digits/punctuation; emoji and [红包] survive unchanged.
        text = unicodedata.normalize("NFKC", text)
    text = _SPACES.sub(" ", text)
    text = _INVISIBLE.sub("", text).strip()
    if not text.isascii():
        text = _convert(text)
    return text
