"""Fixtures for the WeCom tests: the protocol test server (tests/wecom/server.py), and Node with the official SDK."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.support import unavailable
from tests.wecom.server import WecomServer

HARNESS = Path(__file__).resolve().parent / "harness"
NO_NODE = "node is not on PATH: the WeCom conformance test with the official Node SDK did NOT run"
NO_SDK = "tests/wecom/harness/node_modules is missing (run `make node-harness`): the WeCom conformance test did NOT run"


@pytest.fixture
async def wecom_server():
    async with WecomServer(bot_id="aibot-test-0001", secret="s3cr3t-Wecom-Test-9f2c") as server:
        yield server


@pytest.fixture
def node_sdk() -> str:
    """The node executable, with the harness's pinned @wecom/aibot-node-sdk installed; skipped (or, with
    LINJU_REQUIRE_NODE=1, failed) where either is missing."""
    node = shutil.which("node")
    if node is None:
        unavailable(NO_NODE, "LINJU_REQUIRE_NODE")
    if not (HARNESS / "node_modules" / "@wecom" / "aibot-node-sdk" / "package.json").is_file():
        unavailable(NO_SDK, "LINJU_REQUIRE_NODE")
    return node
