"""Fixtures for voice messages: a SILK recording made here, and a fake speech-to-text server on loopback."""

from __future__ import annotations

import pytest

from tests.voice.fake_stt import FakeSTT
from tests.voice.silk import tone_silk


@pytest.fixture(scope="session")
def silk_bytes() -> bytes:
    return tone_silk(2.0)


@pytest.fixture
def silk_file(tmp_path, silk_bytes):
    path = tmp_path / "recv" / "voice.silk"
    path.parent.mkdir()
    path.write_bytes(silk_bytes)
    return path


@pytest.fixture
def fake_stt():
    server = FakeSTT("4栋楼道灯坏了好几天了").start()
    try:
        yield server
    finally:
        server.stop()
