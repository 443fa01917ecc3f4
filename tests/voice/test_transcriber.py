"""bot/voice.py: a SILK recording (made here by the encoder) decoded to WAV, and transcribed by a local fake
speech-to-text server through the real openai client; timeouts and nonsense answers give no transcript."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bot.voice import Transcriber, VoiceError, build_transcriber, plausible_transcript, to_wav
from tests.support import make_settings
from tests.voice.fake_stt import wav_info

API_KEY = "sk-test-stt-0000"


def test_a_wechat_silk_recording_decodes_to_16khz_mono_wav(silk_bytes):
    assert silk_bytes[:10] == b"\x02#!SILK_V3"  # WeChat's own header (Tencent's 0x02, then SILK's magic)
    wav, seconds = to_wav(silk_bytes)
    assert wav_info(wav)[:3] == (1, 2, 16_000)
    assert seconds == pytest.approx(2.0, abs=0.05)
    assert to_wav(wav) == (wav, pytest.approx(seconds))  # a WAV a gateway already converted is passed on


@pytest.mark.parametrize("data", [b"", b"#!AMR\n" + b"\x00" * 200, b"garbage" * 50, b"\x02#!SILK_V3" + b"\xff" * 40])
def test_what_is_not_silk_does_not_decode(data):
    with pytest.raises(VoiceError):
        to_wav(data)


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ("4栋楼道灯坏了好几天了。", "4栋楼道灯坏了好几天了。"),
        ("<|zh|><|NEUTRAL|><|Speech|><|woitn|>5栋电梯坏了", "5栋电梯坏了"),  # SenseVoice's raw tags
        ("  3栋  门口\n有积水 ", "3栋 门口 有积水"),
        ("", None),
        ("。。。！", None),
        (42, None),
        (None, None),
        ("<html><body>502 Bad Gateway</body></html>", None),
        ('{"error": "bad"}', None),
        ("好的" * 30, None),
        ("谢谢观看！", None),
        ("字幕由Amara.org社区提供", None),
        ("楼道灯坏了" * 40, None),  # 200 characters in 2 seconds
        ("bad\ufffdbytes", None),
    ],
)
def test_only_a_plausible_transcript_is_taken(answer, expected):
    assert plausible_transcript(answer, seconds=2.0) == expected


@pytest.fixture
def transcriber(tmp_path, fake_stt, monkeypatch):
    monkeypatch.setenv("LINJU_STT__API_KEY", API_KEY)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-must-never-be-sent")
    made: list[Transcriber] = []

    def make(**stt) -> Transcriber:
        cfg = {"base_url": fake_stt.url, "model": "fake-sensevoice", "timeout_seconds": 1.0, **stt}
        t = build_transcriber(make_settings(tmp_path, stt=cfg))
        made.append(t)
        return t

    yield make


async def test_the_recording_goes_as_wav_through_the_openai_client_and_its_transcript_comes_back(
    transcriber, fake_stt, silk_file, tmp_path
):
    heard = await transcriber()(str(silk_file))
    assert heard.text == "4栋楼道灯坏了好几天了" and heard.by == "stt:fake-sensevoice"
    [req] = fake_stt.requests
    assert req["model"] == "fake-sensevoice" and req["language"] == "zh" and req["response_format"] == "json"
    assert req["authorization"] == f"Bearer {API_KEY}"  # from LINJU_STT__API_KEY, never OPENAI_API_KEY
    assert req["filename"] == "voice.wav" and wav_info(req["file"])[:3] == (1, 2, 16_000)
    # The decoded recording is kept for staff, under data_dir/media by its hash, and it is what was sent.
    assert heard.audio is not None and heard.audio.endswith(".wav")
    assert await asyncio.to_thread(Path(heard.audio).read_bytes) == req["file"]
    assert Path(heard.audio).parent == tmp_path / "media"


@pytest.mark.parametrize(
    "mode", ["500", "empty", "wrong_type", "no_text", "html", "not_json", "loop", "hallucination", "too_long"]
)
async def test_an_endpoint_that_fails_or_answers_nonsense_gives_no_transcript(transcriber, fake_stt, silk_file, mode):
    fake_stt.mode = mode
    heard = await transcriber()(str(silk_file))
    assert heard.text is None and heard.by is None and heard.reason
    assert heard.audio is not None and heard.audio.endswith(".wav")  # staff can still listen
    assert len(fake_stt.requests) == 1  # asked once: no retries behind the timeout


async def test_a_slow_endpoint_is_given_up_on_after_the_timeout(transcriber, fake_stt, silk_file):
    import time

    fake_stt.mode, fake_stt.delay = "slow", 5.0
    started = time.monotonic()
    heard = await transcriber(timeout_seconds=0.5)(str(silk_file))
    assert heard.text is None and "did not answer" in heard.reason
    assert time.monotonic() - started < 3


async def test_an_unreachable_endpoint_gives_no_transcript(tmp_path, silk_file):
    settings = make_settings(tmp_path, stt={"base_url": "http://127.0.0.1:9/v1", "model": "m", "timeout_seconds": 1})
    heard = await build_transcriber(settings)(str(silk_file))
    assert heard.text is None and "failed" in heard.reason


async def test_without_an_endpoint_the_recording_is_only_decoded_for_staff(tmp_path, silk_file):
    t = build_transcriber(make_settings(tmp_path))
    assert t.client is None
    heard = await t(str(silk_file))
    assert heard.text is None and "stt.base_url" in heard.reason
    assert heard.audio is not None and wav_info(await asyncio.to_thread(Path(heard.audio).read_bytes))[2] == 16_000


async def test_a_file_that_is_no_recording_is_kept_as_it_came(tmp_path, transcriber, fake_stt):
    path = tmp_path / "voice.silk"
    path.write_bytes(b"#!AMR\n" + b"\x00" * 100)
    heard = await transcriber()(str(path))
    assert heard.text is None and heard.audio == str(path) and fake_stt.requests == []
    missing = await transcriber()(str(tmp_path / "gone.silk"))
    assert missing.text is None and missing.audio is None


def test_the_stt_key_is_a_secret_and_may_not_be_in_the_file(tmp_path):
    from bot.config import ConfigError, load_settings
    from tests.support import DEFAULT_CONFIG

    text = DEFAULT_CONFIG.read_text(encoding="utf-8")
    assert "\nstt:\n" in text  # documented in the default config
    cfg = tmp_path / "config.yaml"
    cfg.write_text(text.replace("\nstt:\n", "\nstt:\n  api_key: sk-in-the-file\n", 1), encoding="utf-8")
    with pytest.raises(ConfigError, match="stt.api_key"):
        load_settings(cfg)
