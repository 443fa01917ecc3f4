"""SILK recordings made in the test, as WeChat makes them: a generated tone encoded by silk-python (pysilk)."""

from __future__ import annotations

import io
import math
import struct


def tone_pcm(seconds: float = 2.0, rate: int = 24_000, freq: float = 440.0) -> bytes:
    """16-bit mono PCM of a sine tone (with a second, quieter one, so it is not one pure frequency)."""
    n = int(seconds * rate)
    return b"".join(
        struct.pack("<h", int(7000 * math.sin(2 * math.pi * freq * i / rate) + 2000 * math.sin(2 * math.pi * 3 * freq * i / rate)))
        for i in range(n)
    )


def tone_silk(seconds: float = 2.0, rate: int = 24_000) -> bytes:
    """The tone as a SILK v3 file with Tencent's leading 0x02 byte, as WeChat sends voice messages."""
    import pysilk

    out = io.BytesIO()
    pysilk.encode(io.BytesIO(tone_pcm(seconds, rate)), out, rate, 24_000, tencent=True)
    return out.getvalue()
