"""Configuration: the default file loads, env overrides it, unknown keys and secrets in files are refused."""

from __future__ import annotations

import pytest

from bot.config import ConfigError, load_settings
from tests.support import DEFAULT_CONFIG


def test_default_config_uses_console_and_sqlite_in_data_dir(monkeypatch):
    for k in ("LINJU_CHANNEL", "LINJU_DATA_DIR", "LINJU_DATABASE__URL"):
        monkeypatch.delenv(k, raising=False)
    s = load_settings(DEFAULT_CONFIG)
    assert s.channel == "console"
    assert s.database_url.startswith("sqlite+aiosqlite:///") and s.database_url.endswith("data/linju.db")
    assert {c.code for c in s.taxonomy.categories} >= {"repair", "drainage", "safety", "other"}
    assert not s.llm.enabled


def test_environment_overrides_nested_keys(monkeypatch):
    monkeypatch.setenv("LINJU_CHANNEL", "wechaty")
    monkeypatch.setenv("LINJU_DATABASE__URL", "postgresql+asyncpg://u@h/db")
    monkeypatch.setenv("LINJU_LLM__BASE_URL", "http://127.0.0.1:9/v1")
    monkeypatch.setenv("LINJU_LLM__MODEL", "m")
    monkeypatch.setenv("LINJU_LLM__API_KEY", "sk-secret")
    s = load_settings(DEFAULT_CONFIG)
    assert s.channel == "wechaty"
    assert s.database_url == "postgresql+asyncpg://u@h/db"
    assert s.llm.enabled and s.llm.api_key.get_secret_value() == "sk-secret"
    assert "sk-secret" not in repr(s)


def test_unknown_key_is_named_with_the_file(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(DEFAULT_CONFIG.read_text(encoding="utf-8") + "\nbot_nmae: x\n", encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_settings(cfg)
    assert "bot_nmae" in str(err.value) and str(cfg) in str(err.value)


def test_nested_unknown_key_is_named(tmp_path):
    cfg = tmp_path / "c.yaml"
    text = DEFAULT_CONFIG.read_text(encoding="utf-8").replace("  undo_minutes: 30", "  undo_minutse: 30")
    cfg.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=r"bot\.undo_minutse"):
        load_settings(cfg)


def test_a_secret_in_the_file_is_refused(tmp_path):
    cfg = tmp_path / "c.yaml"
    text = DEFAULT_CONFIG.read_text(encoding="utf-8").replace("  daily_budget: 2000", "  daily_budget: 2000\n  api_key: sk-x")
    cfg.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match="llm.api_key"):
        load_settings(cfg)


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigError, match="no configuration file"):
        load_settings(tmp_path / "nope.yaml")
