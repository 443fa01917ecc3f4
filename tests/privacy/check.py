"""How a redacted text is held to a corpus case: no secret left (also with separators squeezed out), every kept phrase there."""

from __future__ import annotations

import re

from nlp.normalize import normalize

_SEPARATORS = re.compile(r"[\s\-.—–_·()+]")


def squeeze(text: str) -> str:
    return _SEPARATORS.sub("", normalize(text))


def leaked(output: str, secrets: tuple[str, ...]) -> list[str]:
    """The secrets still readable in `output`, as written or with the separators between digits left out."""
    out, squeezed = normalize(output), squeeze(output)
    return [s for s in secrets if normalize(s) in out or squeeze(s) in squeezed]


def lost(output: str, kept: tuple[str, ...]) -> list[str]:
    out = normalize(output)
    return [k for k in kept if normalize(k) not in out]
