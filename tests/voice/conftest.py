"""Fixtures for voice messages (fake_stt and silk_bytes are shared from tests/conftest.py)."""

from __future__ import annotations

import pytest


@pytest.fixture
def silk_file(tmp_path, silk_bytes):
    """The SILK recording as a channel saved it."""
    path = tmp_path / "recv" / "voice.silk"
    path.parent.mkdir()
    path.write_bytes(silk_bytes)
    return path
