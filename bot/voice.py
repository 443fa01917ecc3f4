"""Voice messages to text: a WeChat recording (SILK) decoded to WAV, then sent to an OpenAI-compatible
speech-to-text endpoint (`client.audio.transcriptions.create`: FunASR's funasr-server, speaches, vLLM) when
one is configured (`stt:` in config.yaml; docs/voice.md).

The dispatcher calls a Transcriber (handlers.types.Transcribe) for each voice message that came as audio,
after the message is in the inbox and before it is understood, outside any database transaction, as it
does the LLM stage. It never raises: a recording it cannot decode, an endpoint that is missing, slow or
answers nonsense give a Heard without text, and the message is then held for staff (待确认) with the recording.
Only this module (and the channels) handle audio; nothing below bot/ imports an audio library or the client.
"""

from __future__ import annotations

import asyncio
import io
import logging
import re
import time
import unicodedata
import wave
from pathlib import Path
from typing import Any

from bot.channels.media import save_media
from bot.config import Settings
from handlers.types import Heard

log = logging.getLogger(__name__)

RATE = 16_000  # decoded to 16 kHz mono, 16-bit: what speech models (SenseVoice, Paraformer, Whisper) take
SILK_MAGIC = b"#!SILK_V3"  # WeChat writes it after one byte (0x02, Tencent's tag); plain SILK starts with it
# Faster than anyone speaks: Mandarin is about 4-5 characters a second, a hurried leader perhaps 8.
MAX_CHARS_PER_SECOND = 12
MIN_CHARS_ALLOWED = 40  # a very short recording may still carry a short sentence whatever its length says
# What Whisper-family models are known to "hear" in silence or noise (subtitle credits of their training data).
_HALLUCINATIONS = {
    "谢谢观看",
    "谢谢大家",
    "谢谢收看",
    "感谢观看",
    "字幕由amaraorg社区提供",
    "请不吝点赞订阅转发打赏支持明镜与点点栏目",
    "thankyou",
    "thanksforwatching",
    "you",
}
_TAGS = re.compile(r"<\|[^|<>]{0,40}\|>")  # SenseVoice's raw output: <|zh|><|NEUTRAL|><|Speech|><|woitn|>
_LOOP = re.compile(r"^(.{1,6}?)\1{4,}$", re.S)  # one short piece said again and again: a decoder stuck in a loop


class VoiceError(ValueError):
    """The bytes are not a recording this module can decode."""


def to_wav(data: bytes) -> tuple[bytes, float]:
    """A received recording as (WAV bytes, seconds): SILK (WeChat's, with or without Tencent's tag) is decoded;
    a WAV a gateway already converted is passed on. VoiceError for anything else (AMR, garbage, empty)."""
    if data[:4] == b"RIFF" and data[8:12] == b"WAVE":
        try:
            with wave.open(io.BytesIO(data)) as w:
                return data, w.getnframes() / float(w.getframerate() or RATE)
        except (wave.Error, EOFError) as exc:
            raise VoiceError(f"a broken WAV file ({exc})") from exc
    pcm = silk_to_pcm(data)
    return pcm_to_wav(pcm), len(pcm) / (2 * RATE)


def silk_to_pcm(data: bytes, rate: int = RATE) -> bytes:
    """Decode SILK to 16-bit mono PCM at `rate` (silk-python, imported as pysilk)."""
    if not data.lstrip(b"\x02").startswith(SILK_MAGIC):
        raise VoiceError("not a SILK recording (no #!SILK_V3 header)")
    import pysilk  # silk-python: SILK's reference codec, compiled

    out = io.BytesIO()
    try:
        pysilk.decode(io.BytesIO(data), out, rate)
    except Exception as exc:  # pysilk.SilkError: a corrupt stream
        raise VoiceError(f"the SILK stream does not decode ({exc})") from exc
    pcm = out.getvalue()
    if len(pcm) < rate // 10:  # under 0.1 s: nothing to hear
        raise VoiceError("the recording is empty")
    return pcm


def pcm_to_wav(pcm: bytes, rate: int = RATE) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm)
    return out.getvalue()


def plausible_transcript(answer: Any, seconds: float) -> str | None:
    """The transcript in an endpoint's answer, cleaned; None when it is no transcript of `seconds` of speech:
    not a string, empty, only punctuation, markup (an error page), longer than anyone says in that time,
    one piece said over and over, or a line models are known to invent for silence."""
    if not isinstance(answer, str):
        return None
    text = unicodedata.normalize("NFC", _TAGS.sub("", answer))
    text = " ".join(text.split())
    if not text or "\ufffd" in text or any(unicodedata.category(ch) == "Cc" for ch in text):
        return None
    letters = "".join(ch for ch in text if ch.isalnum())
    if not letters:
        return None
    lowered = text.lower()
    if "<html" in lowered or "<!doctype" in lowered or lowered.startswith(("{", "[")):
        return None
    if len(text) > max(MIN_CHARS_ALLOWED, seconds * MAX_CHARS_PER_SECOND):
        return None
    if _LOOP.match(letters) or letters.lower() in _HALLUCINATIONS:
        return None
    return text


class Transcriber:
    """Listens to a recording saved under data_dir: decodes it and asks the endpoint (when there is one) for
    its words. `client` is an openai.AsyncOpenAI made by build_transcriber (None: decoding only)."""

    def __init__(
        self,
        *,
        data_dir: Path,
        client: Any = None,
        model: str | None = None,
        timeout: float = 15.0,
        language: str | None = "zh",
        max_seconds: float = 120.0,
    ) -> None:
        self.data_dir = Path(data_dir)
        self.client = client
        self.model = model
        self.timeout = timeout
        self.language = language
        self.max_seconds = max_seconds
        self.counts = {"transcribed": 0, "failed": 0, "undecodable": 0, "no_endpoint": 0}

    @property
    def label(self) -> str:
        """How an inbox row names this transcriber as the author of a transcript."""
        return f"stt:{self.model}"[:100]

    async def __call__(self, path: str) -> Heard:
        try:
            data = await asyncio.to_thread(Path(path).read_bytes)
        except OSError as exc:
            self.counts["undecodable"] += 1
            return Heard(text=None, audio=None, reason=f"the recording cannot be read ({type(exc).__name__})")
        try:
            wav, seconds = await asyncio.to_thread(to_wav, data)
        except VoiceError as exc:
            self.counts["undecodable"] += 1
            return Heard(text=None, audio=path, reason=str(exc))
        audio = str(await asyncio.to_thread(save_media, self.data_dir, wav, "voice.wav"))
        if self.client is None:
            self.counts["no_endpoint"] += 1
            return Heard(text=None, audio=audio, reason="no speech-to-text endpoint is configured (stt.base_url, stt.model)")
        if seconds > self.max_seconds:
            self.counts["failed"] += 1
            return Heard(text=None, audio=audio, reason=f"the recording is {seconds:.0f} s long, over stt.max_seconds")
        started = time.monotonic()
        try:
            async with asyncio.timeout(self.timeout):
                answer = await self.client.audio.transcriptions.create(
                    model=str(self.model),
                    file=("voice.wav", wav, "audio/wav"),
                    response_format="json",
                    **({"language": self.language} if self.language else {}),
                )
        except TimeoutError:
            self.counts["failed"] += 1
            return Heard(text=None, audio=audio, reason=f"the speech-to-text endpoint did not answer within {self.timeout:.0f} s")
        except Exception as exc:  # openai.APIError and friends, a refused connection, a body that is not JSON
            self.counts["failed"] += 1
            return Heard(text=None, audio=audio, reason=f"the speech-to-text endpoint failed ({type(exc).__name__})")
        text = plausible_transcript(getattr(answer, "text", answer), seconds)
        if text is None:
            self.counts["failed"] += 1
            return Heard(text=None, audio=audio, reason="the speech-to-text answer is not a plausible transcript")
        self.counts["transcribed"] += 1
        log.info(
            "transcribed %.1f s of voice into %d characters in %.1f s (%s)",
            seconds, len(text), time.monotonic() - started, self.model,
        )
        return Heard(text=text, audio=audio, by=self.label)

    async def close(self) -> None:
        if self.client is not None:
            await self.client.close()


def build_transcriber(settings: Settings) -> Transcriber:
    """A Transcriber for the configured endpoint; without `stt.base_url` and `stt.model` one that only decodes
    (the recording is kept as a WAV for staff). The client is made here: only bot/ creates API clients."""
    cfg = settings.stt
    if not cfg.enabled:
        return Transcriber(data_dir=settings.data_dir)
    import openai

    # Always pass a key: with None the client would fall back to OPENAI_API_KEY and could send an OpenAI key
    # to another provider. Local servers (funasr-server, speaches, vLLM) accept any placeholder.
    key = cfg.api_key.get_secret_value() if cfg.api_key else "unused"
    client = openai.AsyncOpenAI(base_url=cfg.base_url, api_key=key, timeout=cfg.timeout_seconds, max_retries=0)
    log.info("speech to text on: model %s at %s", cfg.model, cfg.base_url)
    return Transcriber(
        data_dir=settings.data_dir,
        client=client,
        model=cfg.model,
        timeout=cfg.timeout_seconds,
        language=cfg.language,
        max_seconds=cfg.max_seconds,
    )
