"""Builds the classifier cascade from settings: rules always, a trained model if present, an LLM if configured."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from bot.config import Settings
from nlp.cascade import Cascade, CascadeThresholds
from nlp.privacy import Privacy
from nlp.rules import RuleClassifier, taxonomy_from_dicts
from nlp.segment import TextProcessor
from nlp.types import Classification, Taxonomy

log = logging.getLogger(__name__)

MODEL_DIRNAME = "model"


def taxonomy_from_settings(settings: Settings) -> Taxonomy:
    return taxonomy_from_dicts([c.model_dump() for c in settings.taxonomy.categories])


def model_dir(settings: Settings) -> Path:
    return settings.data_dir / MODEL_DIRNAME


class Understanding:
    """What the handlers see of nlp: normalise and classify, with stage statistics for the CLI."""

    def __init__(self, *, taxonomy: Taxonomy, processor: TextProcessor, cascade: Cascade, llm: Any = None) -> None:
        self.taxonomy = taxonomy
        self.processor = processor
        self.cascade = cascade
        self.llm = llm

    def normalize(self, text: str) -> str:
        return self.processor.normalize(text)

    async def classify(self, text: str) -> Classification:
        return await self.cascade.classify(text)

    # The stages apart, for the dispatcher (handlers/service.Stages): early answers for a whole batch, then the
    # LLM only for those that want it, outside the write transaction.
    def early(self, text: str) -> Classification:
        """Rules and the trained model only: also what a message gets when the LLM has not answered in time."""
        return self.cascade.early(text)

    def wants_late(self, current: Classification) -> bool:
        return self.cascade.wants_late(current)

    async def late(self, text: str, current: Classification) -> Classification:
        return await self.cascade.refine(text, current)

    def classify_sync(self, text: str) -> Classification:
        return self.cascade.classify_sync(text)

    async def classify_many(self, texts: Sequence[str]) -> list[Classification]:
        return [await self.cascade.classify(t) for t in texts]

    def stats(self) -> dict[str, Any]:
        return self.llm.stats() if self.llm is not None and hasattr(self.llm, "stats") else {}

    async def close(self) -> None:
        if self.llm is not None and hasattr(self.llm, "close"):
            await self.llm.close()


def load_model(settings: Settings, taxonomy: Taxonomy, processor: TextProcessor):
    """The trained statistical stage from data_dir, or None (with the reason logged) when unusable."""
    path = model_dir(settings)
    if not path.exists():
        return None
    from nlp import model as statmodel

    try:
        # Its labels must be categories of the configured taxonomy (a subset is fine: a community's history
        # need not cover every category); other library versions are refused before anything is unpickled.
        m = statmodel.load(path, expected_fingerprint=None, expected_labels=taxonomy.codes(), tokenize=processor.tokens)
    except statmodel.ModelError as exc:
        log.warning("trained model in %s not used: %s", path, exc)
        return None
    if not isinstance(m, statmodel.IntentCategoryModel):
        log.warning("trained model in %s not used: it is not an intent/category model; retrain with `linju train`", path)
        return None
    log.info("using the trained model in %s", path)
    return m


def model_learnt_from_staff(settings: Settings) -> bool:
    """Whether the trained model was fitted on staff's decisions (`linju train --from-tickets`): then it knows
    what staff marked 误报 here and has a say on every ticket, not only on those the rules are unsure of."""
    from nlp import model as statmodel

    try:
        return statmodel.read_metadata(model_dir(settings)).get("source") == "tickets"
    except statmodel.ModelError:
        return False


def build_llm(
    settings: Settings,
    taxonomy: Taxonomy,
    names: Sequence[str] = (),
    *,
    privacy: Privacy | None = None,
    admit: Callable[[], bool] | None = None,
):
    """The LLM stage when llm.base_url and llm.model are set, else None (and nothing else changes).

    The client is made here (only bot/ creates API clients) and handed to the stage, which owns it from then
    on. Its own retries are off: the stage retries within its timeout, budget and breaker. It redacts with
    `privacy` (the app's, which holds the roster's and staff's names and is refreshed after roster imports);
    without one, with `names` and the staff's names from config. `admit` is asked before each request (the
    per-sender and per-room limits).
    """
    cfg = settings.llm
    if not cfg.enabled:
        return None
    import openai

    from nlp.llm import LLMStage

    # Always pass a key: with None the client would fall back to OPENAI_API_KEY and could send an OpenAI
    # key to another provider. Local servers (vLLM, Ollama) accept any placeholder.
    key = cfg.api_key.get_secret_value() if cfg.api_key else "unused"
    client = openai.AsyncOpenAI(base_url=cfg.base_url, api_key=key, timeout=cfg.timeout_seconds, max_retries=0)
    staff = [s.name for s in settings.staff if s.name]
    log.info("LLM stage on: model %s at %s", cfg.model, cfg.base_url)
    return LLMStage(
        client=client,
        model=str(cfg.model),
        taxonomy=taxonomy,
        privacy=privacy or Privacy([*staff, *names]),
        admit=admit,
        message_chars=cfg.max_chars,
        timeout=cfg.timeout_seconds,
        max_retries=cfg.max_retries,
        daily_budget=cfg.daily_budget,
        breaker_failures=cfg.breaker_failures,
        breaker_cooldown=cfg.breaker_cooldown_seconds,
    )


async def build_understanding(
    settings: Settings,
    *,
    use_model: bool = True,
    use_llm: bool = True,
    privacy: Privacy | None = None,
    admit: Callable[[], bool] | None = None,
) -> Understanding:
    taxonomy = taxonomy_from_settings(settings)
    estates = settings.all_estates()
    processor = TextProcessor(user_words=estates, cache_dir=str(settings.data_dir / "cache"))
    await asyncio.to_thread(processor.initialize)  # ~1 s of dictionary loading, kept off the event loop
    rules = RuleClassifier(taxonomy, processor, estates)
    model = await asyncio.to_thread(load_model, settings, taxonomy, processor) if use_model else None
    llm = build_llm(settings, taxonomy, privacy=privacy, admit=admit) if use_llm else None
    c = settings.classifier
    cascade = Cascade(
        rules,
        model=model,
        model_reviews_tickets=model is not None and model_learnt_from_staff(settings),
        late=llm,
        thresholds=CascadeThresholds(
            rules_confident=c.rules_confident, model_confident=c.model_confident, late_below=c.llm_below
        ),
    )
    return Understanding(taxonomy=taxonomy, processor=processor, cascade=cascade, llm=llm)
