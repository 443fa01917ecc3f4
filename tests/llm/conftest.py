"""Fixtures for the LLM stage: a fake chat-completions server on loopback and stages wired the way bot/ wires them."""

from __future__ import annotations

import logging

import pytest

from bot.config import Settings
from bot.understanding import build_llm, taxonomy_from_settings
from nlp.llm import LLMStage
from nlp.rules import RuleClassifier
from nlp.segment import TextProcessor
from tests.support import make_settings

API_KEY = "sk-test-linju-0000"


@pytest.fixture
def llm_settings(tmp_path, fake_llm, monkeypatch):
    """Build settings that point the LLM stage at the fake server, with the key from the environment."""
    monkeypatch.setenv("LINJU_LLM__API_KEY", API_KEY)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-must-never-be-sent")

    def make(**llm: object) -> Settings:
        cfg = {
            "base_url": fake_llm.url,
            "model": "fake-model",
            "timeout_seconds": 0.3,
            "max_retries": 1,
            "breaker_failures": 3,
            "breaker_cooldown_seconds": 60,
            **llm,
        }
        classifier = cfg.pop("classifier", None)
        extra = {"classifier": classifier} if classifier else {}
        return make_settings(tmp_path, llm=cfg, **extra)

    return make


@pytest.fixture
def make_stage(llm_settings):
    stages: list[LLMStage] = []

    def make(**llm: object) -> LLMStage:
        settings = llm_settings(**llm)
        stage = build_llm(settings, taxonomy_from_settings(settings), names=["王贵宝"])
        assert isinstance(stage, LLMStage)
        stages.append(stage)
        return stage

    yield make


@pytest.fixture(scope="session")
def rules(tmp_path_factory):
    from bot.config import load_settings
    from tests.support import DEFAULT_CONFIG

    settings = load_settings(DEFAULT_CONFIG, data_dir=tmp_path_factory.mktemp("data"))
    processor = TextProcessor(settings.all_estates(), cache_dir=str(tmp_path_factory.mktemp("jieba")))
    processor.initialize()
    return RuleClassifier(taxonomy_from_settings(settings), processor, settings.all_estates())


@pytest.fixture(autouse=True)
def _quiet_http_logs():
    for name in ("httpx", "httpx2", "openai"):
        logging.getLogger(name).setLevel(logging.WARNING)
