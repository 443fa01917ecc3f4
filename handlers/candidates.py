"""Messages held for staff review (待确认): kept silently, listed for staff, filed by 确认 K or dropped by 忽略 K."""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import datetime, timedelta

from sqlmodel.ext.asyncio.session import AsyncSession

from handlers import texts
from handlers.context import Actor, Context, Outcome, RoomInfo
from handlers.notify import Notifier
from handlers.report import Intake
from handlers.ticket_ops import OpError, resolve_category
from handlers.types import Mention, Reply
from nlp.normalize import normalize
from nlp.types import Classification
from storage import candidates as store
from storage import conversations, repo
from storage.models import Candidate, CandidateStatus

log = logging.getLogger(__name__)

VOICE_STAGE = "voice"  # the stage of a candidate held as a recording: no classifier read it (not a training label)

LIST_LIMIT = 20
PREVIEW = 60  # characters of a held message shown in the staff list


class Candidates:
    """Holds doubtful reports for staff and carries out their decisions; each decision is a training label."""

    def __init__(
        self,
        *,
        intake: Intake,
        notifier: Notifier,
        default_community: str,
        max_age_days: int = 7,
        ack: bool = True,
    ) -> None:
        self.intake = intake
        self.notifier = notifier
        self.default_community = default_community
        self.max_age = timedelta(days=max_age_days)
        self.ack = ack

    async def hold(self, ctx: Context, c: Classification, *, text: str | None = None, media: str | None = None) -> Outcome:
        """Keep the message for review; nothing is said in the group. `text` stands for the message's own where
        it has none to show (a recording), `media` is a file staff need to judge it."""
        cand = await store.add_candidate(
            ctx.session,
            inbox_message_id=ctx.msg.message_id[:200],
            room_id=ctx.msg.room_id,
            room_topic=ctx.msg.room_topic,
            community=ctx.room.community,
            area=ctx.room.area,
            grp=ctx.room.grp,
            sender_id=ctx.actor.id,
            sender_name=ctx.actor.name,
            sender_role=ctx.actor.role,
            text=(text if text is not None else ctx.msg.text)[:20000],
            media=media[:500] if media else None,
            category=c.category,
            estate=c.location.estate,
            building=c.location.building,
            urgent=c.urgent,
            stage=c.stage,
            confidence=round(c.confidence, 3),
            strength=c.strength,
            created_at=ctx.now,
        )
        log.info("held message %s for review as candidate %s (%s %.2f)", ctx.msg.message_id, cand.number, c.stage, c.confidence)
        return Outcome(intent="review")

    async def hold_voice(self, ctx: Context) -> Outcome:
        """A voice message nobody could transcribe (no speech-to-text endpoint, or it failed): held for staff as
        "[语音] 待转写" with the recording to play, never dropped and never answered in the group."""
        c = Classification(intent="report", decision="review", stage=VOICE_STAGE)
        return await self.hold(ctx, c, text=texts.VOICE_PENDING, media=ctx.msg.media)

    # ------------------------------------------------------------ staff

    async def listing(self, session: AsyncSession, *, now: datetime, communities: list[str] | None = None) -> str:
        rows, total = await store.pending(session, communities=communities, limit=LIST_LIMIT)
        if not rows:
            return texts.CANDIDATES_EMPTY
        lines = [texts.CANDIDATES_HEADER.format(n=total)]
        lines += [self._line(cand) for cand in rows]
        if total > len(rows):
            lines.append(texts.CANDIDATES_MORE.format(n=total - len(rows)))
        return "\n".join(lines)

    def _line(self, cand: Candidate) -> str:
        place = " ".join(p for p in (cand.estate, f"{cand.building}栋" if cand.building else None) if p)
        who = f"{texts.ROLE_NAMES.get(cand.sender_role, texts.ROLE_NAMES['unknown'])}{cand.sender_name}"
        text = " ".join(cand.text.split())
        preview = text if len(text) <= PREVIEW else text[:PREVIEW] + "…"
        if cand.media:
            preview += texts.VOICE_RECORDING.format(path=cand.media)
        parts = [f"[{cand.number}]", place or "地点未说", who, cand.room_topic or "私聊", texts.stamp(cand.created_at, self.notifier.tz)]
        return "｜".join(parts) + f"\n    {preview}"

    async def _pending(self, session: AsyncSession, number: int, actor: Actor) -> Candidate:
        cand = await store.by_number(session, number, for_update=True)
        if cand is None or not actor.may_handle(cand.community):  # another community's: as if there were none
            raise OpError(texts.CANDIDATE_NOT_FOUND.format(number=number))
        if cand.status != CandidateStatus.PENDING:
            raise OpError(
                texts.CANDIDATE_SETTLED.format(
                    number=number,
                    what=texts.CANDIDATE_STATUS_WORDS.get(cand.status, cand.status),
                    by=cand.decided_by_name or "工作人员",
                    ticket=f"（工单 #{cand.ticket_number}）" if cand.ticket_number else "",
                )
            )
        return cand

    async def confirm(
        self, ctx: Context, number: int, *, category_word: str | None = None
    ) -> list[Reply]:
        """File candidate `number` as a ticket (in the category staff name, if any) and tell its sender."""
        cand = await self._pending(ctx.session, number, ctx.actor)
        category = resolve_category(self.intake.taxonomy, category_word) if category_word else None
        text = normalize(cand.text)
        c = await ctx.classify_fn(text)
        code = category.code if category else (cand.category or c.category)
        c = replace(c, intent="report", decision="ticket", category=self.intake.category(code).code)
        sender = Actor(id=cand.sender_id, name=cand.sender_name, role=cand.sender_role)
        room = RoomInfo(community=cand.community or self.default_community, area=cand.area, grp=cand.grp)
        filed = await self.intake.intake(
            ctx.session,
            c=c,
            text=text,
            raw_text=cand.text,
            actor=sender,
            room=room,
            room_id=cand.room_id,
            source=ctx.channel.source,  # held from a message of this bot's channel
            now=ctx.now,
            inbox_message_id=cand.inbox_message_id,
        )
        t = filed.ticket
        if cand.media:  # a voice message's recording goes with the ticket
            await conversations.attach(
                ctx.session, ticket_id=t.id, message_id=cand.inbox_message_id, kind="voice", path=cand.media, now=ctx.now
            )
        await repo.insert_event(
            ctx.session, ticket_id=t.id, action="confirm", actor_id=ctx.actor.id, actor_name=ctx.actor.name,
            at=ctx.now, note=f"待确认 {number}",
        )
        store.settle(
            ctx.session, cand, CandidateStatus.CONFIRMED, actor_id=ctx.actor.id, actor_name=ctx.actor.name,
            now=ctx.now, ticket_number=t.number,
        )
        name = self.intake.taxonomy.name_of(t.category)
        replies = [Reply.to(ctx.msg, texts.CANDIDATE_CONFIRMED.format(number=number, ticket=t.number, category=name))]
        if filed.duplicate:
            status = texts.status_words(t.status, assignee=t.assignee, duplicate_of=t.duplicate_of)
            told = texts.duplicate_report(t.number, status, t.supporters, counted=filed.counted)
        else:
            told = texts.ack(t.number, name, c.location.describe(), t.due_at, self.intake.tz)
        if self.ack or filed.duplicate:
            to_sender = self._to_sender(cand, told, now=ctx.now)
            replies.append(to_sender)
            # Say what is true now: told, or told in the morning (quiet hours).
            said = texts.STAFF_DONE_HELD if to_sender.not_before else texts.STAFF_DONE_NOTIFIED
            replies[0] = replace(replies[0], text=replies[0].text + said)
        return replies

    def _to_sender(self, cand: Candidate, text: str, *, now: datetime) -> Reply:
        """The sender told where they wrote (held during that room's quiet hours)."""
        hold = self.notifier.hold_until(now, topic=cand.room_topic if cand.room_id else None)
        if cand.room_id is None:
            return Reply(text=text, contact_id=cand.sender_id, not_before=hold)
        return Reply(
            text=text, room_id=cand.room_id, mentions=(Mention(cand.sender_id, cand.sender_name),), not_before=hold
        )

    async def ignore(self, ctx: Context, number: int) -> list[Reply]:
        cand = await self._pending(ctx.session, number, ctx.actor)
        store.settle(
            ctx.session, cand, CandidateStatus.IGNORED, actor_id=ctx.actor.id, actor_name=ctx.actor.name, now=ctx.now
        )
        return [Reply.to(ctx.msg, texts.CANDIDATE_IGNORED.format(number=number))]

    async def daily(self, session: AsyncSession, now: datetime) -> dict[str, int]:
        """Drop candidates past their age; returns how many still wait, by community (for the reminder)."""
        expired = await store.expire(session, now=now, max_age=self.max_age)
        if expired:
            log.info("%d candidate(s) waited longer than %s and were dropped", expired, self.max_age)
        return await store.pending_by_community(session)
