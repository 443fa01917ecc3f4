"""Shared fixtures for the nlp tests: one processor and one rules classifier built from config.yaml."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from nlp.rules import RuleClassifier, taxonomy_from_dicts
from nlp.segment import TextProcessor

ROOT = Path(__file__).resolve().parents[2]
ESTATES = ["金穗小区", "湘钢一村", "松涛里"]


@pytest.fixture(scope="session")
def taxonomy():
    cfg = yaml.safe_load((ROOT / "config.yaml").read_text(encoding="utf-8"))
    return taxonomy_from_dicts(cfg["taxonomy"]["categories"])


@pytest.fixture(scope="session")
def processor(tmp_path_factory):
    p = TextProcessor(ESTATES, cache_dir=str(tmp_path_factory.mktemp("jieba")))
    p.initialize()
    return p


@pytest.fixture(scope="session")
def classifier(taxonomy, processor):
    return RuleClassifier(taxonomy, processor, ESTATES)
