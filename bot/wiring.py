"""Building the handlers from settings: the router in its order, ticket operations, notices, limits, privacy."""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlmodel.ext.asyncio.session import AsyncSession

from bot.config import LimitRates, Settings
from bot.rooms import build_units
from bot.understanding import Understanding
from handlers import texts
from handlers.candidates import Candidates
from handlers.conversation import ConversationHandler, Memory, Windows
from handlers.feedback import FeedbackHandler
from handlers.help import HelpHandler
from handlers.limits import Limits, Rates
from handlers.notify import Notifier
from handlers.query import QueryHandler
from handlers.report import Intake, ReportHandler
from handlers.router import Router
from handlers.staff import StaffHandler
from handlers.talk import Faq, TalkHandler
from handlers.ticket_ops import TicketOps
from handlers.undo import UndoHandler
from handlers.voice import VoiceHandler
from nlp.privacy import LogFilter, Privacy
from storage import roster

log = logging.getLogger(__name__)


def build_notifier(settings: Settings, privacy: Privacy | None = None) -> Notifier:
    return Notifier(
        timezone=settings.schedule.timezone,
        quiet_hours=settings.schedule.quiet_hours,
        room_quiet_hours={r.name: r.quiet_hours for c in settings.communities for r in c.rooms},
        privacy=privacy,
    )


def build_ticket_ops(settings: Settings, understanding: Understanding, privacy: Privacy | None = None) -> TicketOps:
    return TicketOps(
        taxonomy=understanding.taxonomy, notifier=build_notifier(settings, privacy), units=build_units(settings)
    )


def build_intake(settings: Settings, understanding: Understanding) -> Intake:
    return Intake(
        taxonomy=understanding.taxonomy,
        duplicate_window_days=settings.classifier.duplicate_window_days,
        duplicate_similarity=settings.classifier.duplicate_similarity,
        timezone=settings.schedule.timezone,
    )


def build_candidates(settings: Settings, intake: Intake, privacy: Privacy | None = None) -> Candidates:
    return Candidates(
        intake=intake,
        notifier=build_notifier(settings, privacy),
        default_community=settings.default_community,
        max_age_days=settings.classifier.candidate_days,
        ack=settings.bot.ack,
    )


def _rates(r: LimitRates) -> Rates:
    return Rates(**r.model_dump())


def build_limits(settings: Settings) -> Limits | None:
    """Per-sender and per-room limits, or None when `limits.enabled` is off."""
    cfg = settings.limits
    return Limits(sender=_rates(cfg.sender), room=_rates(cfg.room)) if cfg.enabled else None


def build_memory(settings: Settings) -> Memory:
    c = settings.conversation
    return Memory(
        windows=Windows(
            follow_up=timedelta(minutes=c.follow_up_minutes),
            question=timedelta(minutes=c.question_minutes),
            photo=timedelta(minutes=c.photo_minutes),
        ),
        estates={community.name: community.estates for community in settings.communities},
        ask_place=c.ask_place,
    )


def build_router(
    settings: Settings, understanding: Understanding, *, privacy: Privacy | None = None, limits: Limits | None = None
) -> Router:
    """Handlers in the order they are tried (DESIGN.md: staff → undo/replies → queries → reports; a voice
    message without its words is held for staff just before reports)."""
    taxonomy = understanding.taxonomy
    ops = build_ticket_ops(settings, understanding, privacy)
    intake = build_intake(settings, understanding)
    candidates = build_candidates(settings, intake, privacy)
    memory = build_memory(settings)
    return Router(
        [
            StaffHandler(ops=ops, intake=intake, candidates=candidates, estates=frozenset(settings.all_estates())),
            HelpHandler(bot_name=settings.bot.name, undo_minutes=settings.bot.undo_minutes),
            ConversationHandler(memory=memory, taxonomy=taxonomy),
            FeedbackHandler(ops=ops),
            UndoHandler(window_minutes=settings.bot.undo_minutes, ops=ops),
            QueryHandler(taxonomy=taxonomy, privacy=privacy, timezone=settings.schedule.timezone),
            VoiceHandler(candidates=candidates),
            ReportHandler(intake=intake, candidates=candidates, ack=settings.bot.ack, limits=limits, memory=memory),
            TalkHandler(
                help_text=texts.help_text(settings.bot.name, settings.bot.undo_minutes),
                help_mention_only=texts.help_text(settings.bot.name, settings.bot.undo_minutes, mention_only=True),
                faq=[Faq(ask=tuple(f.ask), answer=f.answer) for f in settings.conversation.faq],
                contact=settings.conversation.contact,
            ),
        ]
    )


def staff_names(settings: Settings) -> list[str]:
    return [s.name for s in settings.staff if s.name]


class Names:
    """Keeps the privacy module's names (staff from config, everyone in the roster) current: read at start-up
    and again whenever the roster changed (a `linju roster import` from the shell, seen within a minute)."""

    def __init__(self, settings: Settings, privacy: Privacy, understanding: Understanding | None) -> None:
        self.settings = settings
        self.privacy = privacy
        self.understanding = understanding
        self._version: tuple[int, str] | None = None

    async def refresh(self, session: AsyncSession, *, force: bool = False) -> bool:
        version = await roster.roster_version(session)
        if version == self._version and not force:
            return False
        names = [*staff_names(self.settings), *await roster.people_names(session)]
        self.privacy.set_names(names)
        llm = self.understanding.llm if self.understanding is not None else None
        if llm is not None and hasattr(llm, "set_names"):
            llm.set_names(names)  # the same module; said explicitly for a stage built with its own
        self._version = version
        log.info("privacy: %d people's names are taken out of what leaves the bot", len(self.privacy.names))
        return True


def attach_log_filter(privacy: Privacy) -> list[logging.Handler]:
    """Put the privacy module in front of every log handler the root logger has; returns those it was added to."""
    added = []
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, LogFilter) for f in handler.filters):
            handler.addFilter(LogFilter(privacy))
            added.append(handler)
    return added


def detach_log_filter(handlers: list[logging.Handler]) -> None:
    for handler in handlers:
        for f in [f for f in handler.filters if isinstance(f, LogFilter)]:
            handler.removeFilter(f)
