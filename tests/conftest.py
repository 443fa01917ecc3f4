"""Shared fixtures: settings in a temp dir, the app on a fake channel, database URLs (SQLite and PostgreSQL), and
the real Wechaty puppet software (Node, tests/harness) for the end-to-end tests in tests/e2e and tests/reliability."""

from __future__ import annotations

import shutil

import pytest

from tests.e2e.wechat_harness import Harness, HarnessError, start_harness, stop_harness
from tests.llm.fake_server import FakeLLM
from tests.support import (
    NO_PG,
    FakeChannel,
    make_settings,
    pg_available,
    pg_database,
    running_app,
    unavailable,
)
from tests.voice.fake_stt import FakeSTT
from tests.voice.silk import tone_silk

_PG: bool | None = None


async def _pg_up() -> bool:
    global _PG
    if _PG is None:
        _PG = await pg_available()
    return _PG


@pytest.fixture(params=["sqlite", "postgresql"])
async def db_url(request, tmp_path):
    """Every storage test runs on a SQLite file, and on PostgreSQL where one answers."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'linju.db'}"
        return
    if not await _pg_up():
        unavailable(NO_PG, "LINJU_REQUIRE_PG")
    async with pg_database() as url:
        yield url


@pytest.fixture
async def pg_url():
    """A throwaway PostgreSQL database, for the tests that are about PostgreSQL only."""
    if not await _pg_up():
        unavailable(NO_PG, "LINJU_REQUIRE_PG")
    async with pg_database() as url:
        yield url


@pytest.fixture
async def sessions(db_url):
    """A session factory on a migrated database of each kind (see db_url)."""
    from storage import engine as db

    engine = db.create_engine(db_url)
    await db.upgrade(engine)
    try:
        yield db.session_factory(engine)
    finally:
        await engine.dispose()


@pytest.fixture
def settings(tmp_path):
    return make_settings(tmp_path)


@pytest.fixture
async def app(settings):
    """The real app (config → router → storage) on a fake channel and a SQLite file."""
    async with running_app(settings) as application:
        yield application


@pytest.fixture
def chat(app) -> FakeChannel:
    return app.fake


@pytest.fixture
def fake_llm():
    """A chat-completions server on loopback (tests/llm/fake_server.py) for the real openai client."""
    server = FakeLLM().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def fake_stt():
    """A speech-to-text server on loopback (tests/voice/fake_stt.py) that "hears" one sentence in any recording."""
    server = FakeSTT("4栋楼道灯坏了好几天了").start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def silk_bytes() -> bytes:
    """A two-second SILK recording (a generated tone) as WeChat sends voice, made by the encoder here."""
    return tone_silk(2.0)


# ---------------------------------------------------------------- the Wechaty puppet harness

NO_NODE = "node is not on PATH: the WeChat end-to-end tests against the Wechaty puppet server did NOT run"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "wechat_server: end-to-end against the Node Wechaty puppet server (tests/harness)"
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark every test that runs against the Node puppet server (`-m wechat_server` or `-m "not wechat_server"` select them)."""
    for item in items:
        if "harness_process" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.wechat_server)


@pytest.fixture(scope="session")
def harness_process(tmp_path_factory: pytest.TempPathFactory):
    node = shutil.which("node")
    if node is None:
        unavailable(NO_NODE, "LINJU_REQUIRE_NODE")
    log_path = tmp_path_factory.mktemp("harness") / "harness.log"
    try:
        h = start_harness(node, log_path)
    except HarnessError as exc:
        pytest.fail(str(exc), pytrace=False)
    try:
        yield h
    finally:
        stop_harness(h.proc, h.pump)


@pytest.fixture
async def harness(harness_process: Harness, request: pytest.FixtureRequest):
    """The running harness, with the bot's sent-list cleared and the gRPC server up."""
    assert harness_process.proc.poll() is None, f"the harness died:\n{harness_process.log_tail()}"
    await harness_process.reset()
    yield harness_process
    rep = getattr(request.node, "rep_call", None)
    if rep is not None and rep.failed:
        print(f"--- harness log (tail) ---\n{harness_process.log_tail()}")


@pytest.fixture
def wechat_settings(harness, tmp_path, monkeypatch):
    """Settings for `linju run` on the wechaty channel against the harness, its rooms and staff bound by id."""
    monkeypatch.setenv("WECHATY_PUPPET_SERVICE_ENDPOINT", harness.grpc_endpoint)
    monkeypatch.setenv("WECHATY_PUPPET_SERVICE_TOKEN", harness.token)
    monkeypatch.setenv("LINJU_CHANNEL", "wechaty")
    settings = harness.bind(make_settings(tmp_path, ids=False))
    assert settings.channel == "wechaty"
    return settings


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):
    rep = yield
    if rep.when == "call":
        item.rep_call = rep  # type: ignore[attr-defined]
    return rep


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    """One line saying whether the WeChat end-to-end tests ran against the Node puppet server."""
    counts: dict[str, int] = {}
    for outcome in ("passed", "failed", "error", "skipped"):
        reports = [
            r
            for r in terminalreporter.stats.get(outcome, [])
            if "wechat_server" in getattr(r, "keywords", {})
        ]
        if outcome == "error" or outcome == "failed":
            reports = [r for r in reports if r.when in ("setup", "call", "teardown")]
        counts[outcome] = len({r.nodeid for r in reports})
    if not any(counts.values()):
        return
    ran = counts["passed"] + counts["failed"] + counts["error"]
    if ran:
        line = (
            f"WeChat end-to-end (Node Wechaty puppet server): {counts['passed']} passed, "
            f"{counts['failed']} failed, {counts['error']} errors, {counts['skipped']} skipped"
        )
        terminalreporter.write_line(line, green=not (counts["failed"] or counts["error"]), bold=True)
    else:
        terminalreporter.write_line(
            f"WeChat end-to-end: all {counts['skipped']} SKIPPED ({NO_NODE})", yellow=True, bold=True
        )
