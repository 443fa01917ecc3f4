"""WeChat text conventions: message length, @-mentions."""

from __future__ import annotations

import re

# WeChat refuses very long text messages (the exact limit differs between clients); 2000 characters is
# safely below all of them and still fits a long ticket list.
MAX_TEXT_LENGTH = 2000
# WeChat ends every @-mention with U+2005 (four-per-em space); clients use it to render the mention.
AT_SEPARATOR = "\u2005"


def split_text(text: str, limit: int = MAX_TEXT_LENGTH) -> list[str]:
    """Split `text` into pieces of at most `limit` characters, on line boundaries where possible, in order."""
    if len(text) <= limit:
        return [text]
    chunks: list[str] = []
    current = ""
    for line in text.splitlines(keepends=True):
        while len(line) > limit:
            if current:
                chunks.append(current)
                current = ""
            chunks.append(line[:limit])
            line = line[limit:]
        if len(current) + len(line) > limit:
            chunks.append(current)
            current = ""
        current += line
    if current:
        chunks.append(current)
    return [c.rstrip("\n") for c in chunks if c.strip()]


_MENTION_END = r"(?=[\s\u2005,，:：]|$)"


def mentions_name(text: str, name: str) -> bool:
    """Whether `text` contains "@<name>" as a whole mention."""
    return bool(name) and re.search("@" + re.escape(name) + _MENTION_END, text) is not None


def strip_mentions(text: str, names: list[str]) -> str:
    """Remove "@<name>" for each known name, and any other WeChat-style "@xxx\u2005" mention."""
    for name in sorted({n for n in names if n}, key=len, reverse=True):
        text = re.sub("@" + re.escape(name) + r"(?:[\s\u2005]+|[,，:：]\s*|$)", " ", text)
    text = re.sub(r"@[^\s\u2005@]{1,32}\u2005", " ", text)
    return re.sub(r"[ \u2005]{2,}", " ", text).strip()
