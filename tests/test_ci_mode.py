"""CI mode (.ci/run sets LINJU_REQUIRE_PG=1 and LINJU_REQUIRE_NODE=1): a missing service fails the run instead of
skipping its tests, so a green CI run has proved the PostgreSQL and real-puppet rows of the README."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.support import REPO

PG_TEST = "tests/reliability/test_two_instances.py::test_concurrent_ticket_creation_numbers_without_collisions"
NODE_TEST = "tests/e2e/test_wechaty_channel.py::test_echo_round_trip"


def _pytest(test: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", test],
        cwd=REPO, env={**os.environ, **env}, capture_output=True, text=True, timeout=300,
    )


@pytest.mark.parametrize("required", ["1", "0"])
def test_a_missing_postgresql_fails_in_ci_mode_and_skips_otherwise(required):
    nowhere = "postgresql+asyncpg://postgres@127.0.0.1:1/test"  # nothing listens on port 1
    run = _pytest(PG_TEST, {"LINJU_TEST_PG_URL": nowhere, "LINJU_REQUIRE_PG": required})
    if required == "1":
        assert run.returncode == 1 and "LINJU_REQUIRE_PG=1 requires it" in run.stdout, run.stdout[-2000:]
    else:
        assert run.returncode == 0 and "1 skipped" in run.stdout, run.stdout[-2000:]


def test_a_missing_node_fails_in_ci_mode(tmp_path):
    run = _pytest(NODE_TEST, {"PATH": str(tmp_path), "LINJU_REQUIRE_NODE": "1"})  # no node on this PATH
    assert run.returncode == 1 and "LINJU_REQUIRE_NODE=1 requires it" in run.stdout, run.stdout[-2000:]
