"""SQLModel tables: the organisation, every incoming message, tickets and their history, digests."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, ClassVar, overload

from sqlalchemy import Column, DateTime, Index, Integer, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

if TYPE_CHECKING:
    from sqlalchemy import Table


def utcnow() -> datetime:
    return datetime.now(UTC)


@overload
def as_utc(dt: datetime) -> datetime: ...
@overload
def as_utc(dt: None) -> None: ...
def as_utc(dt: datetime | None) -> datetime | None:
    """A timestamp as an aware UTC datetime: SQLite gives stored timestamps back naive, and they are all UTC."""
    if dt is None:
        return None
    return dt.astimezone(UTC) if dt.tzinfo else dt.replace(tzinfo=UTC)


def _ts(**kw) -> Column:
    return Column(DateTime(timezone=True), **kw)


class TicketStatus:
    """Ticket statuses (DESIGN.md "Data"), plus `withdrawn` for a reporter's own undo."""

    NEW = "new"
    ASSIGNED = "assigned"
    IN_PROGRESS = "in_progress"
    RESOLVED = "resolved"
    CLOSED = "closed"
    REJECTED = "rejected"
    DUPLICATE = "duplicate"
    REOPENED = "reopened"
    WITHDRAWN = "withdrawn"

    OPEN = frozenset({NEW, ASSIGNED, IN_PROGRESS, REOPENED})
    ALL = frozenset({NEW, ASSIGNED, IN_PROGRESS, RESOLVED, CLOSED, REJECTED, DUPLICATE, REOPENED, WITHDRAWN})


class CandidateStatus:
    """A message held for staff review (待确认): waiting, filed as a ticket, dropped, or too old."""

    PENDING = "pending"
    CONFIRMED = "confirmed"
    IGNORED = "ignored"
    EXPIRED = "expired"


class InboxStatus:
    PENDING = "pending"
    DONE = "done"
    IGNORED = "ignored"
    FAILED = "failed"


class Community(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(index=True, unique=True, max_length=100)


class Room(SQLModel, table=True):
    """A WeChat group (or console room) the bot is in, and where it sits in the hierarchy.

    The platform id is the room's identity; its topic is only its current name. Kind and community count
    only when the room is bound (`bound_by`: "config" for a configured id, "cli" for `linju rooms bind`);
    an unbound room is an ordinary one, whatever it is called.
    """

    id: int | None = Field(default=None, primary_key=True)
    platform_id: str = Field(index=True, unique=True, max_length=200)
    topic: str = Field(default="", max_length=200)
    community: str = Field(default="", max_length=100)
    kind: str = Field(default="leaders", max_length=20)  # leaders | committee | residents
    area: str | None = Field(default=None, max_length=100)
    grp: str | None = Field(default=None, max_length=100)
    bound_by: str | None = Field(default=None, max_length=20)
    last_seen_at: datetime | None = Field(default=None, sa_column=_ts())
    created_at: datetime = Field(default_factory=utcnow, sa_column=_ts(nullable=False))


class Member(SQLModel, table=True):
    """A person in the roster: staff, area/group/neighbour leaders and residents."""

    id: int | None = Field(default=None, primary_key=True)
    wechat_id: str | None = Field(default=None, index=True, max_length=200)
    display_name: str = Field(index=True, max_length=100)
    full_name: str | None = Field(default=None, max_length=100)
    phone: str | None = Field(default=None, max_length=40)
    role: str = Field(default="resident", max_length=20)  # staff | area_leader | group_leader | neighbour_leader | resident
    community: str | None = Field(default=None, max_length=100)
    area: str | None = Field(default=None, max_length=100)
    grp: str | None = Field(default=None, max_length=100)
    estate: str | None = Field(default=None, max_length=100)
    building: str | None = Field(default=None, max_length=20)
    rooms: str | None = Field(default=None, max_length=500)
    households: int | None = None
    subdistrict_wide: bool = False  # staff who handle every community's tickets
    updated_at: datetime = Field(default_factory=utcnow, sa_column=_ts(nullable=False))

    __table_args__ = (UniqueConstraint("display_name", "community", name="uq_member_name_community"),)


class Inbox(SQLModel, table=True):
    """Every incoming message, stored before it is handled (idempotent on the platform message id)."""

    if TYPE_CHECKING:  # set on table=True models at class creation; sqlmodel does not declare it
        __table__: ClassVar[Table]

    id: int | None = Field(default=None, primary_key=True)
    message_id: str = Field(unique=True, max_length=200)
    room_id: str | None = Field(default=None, max_length=200)
    room_topic: str | None = Field(default=None, max_length=200)
    sender_id: str = Field(max_length=200)
    sender_name: str = Field(default="", max_length=200)
    kind: str = Field(default="text", max_length=20)
    mentioned: bool = False
    text: str = Field(default="", sa_column=Column(Text, nullable=False))
    received_at: datetime = Field(default_factory=utcnow, sa_column=_ts(nullable=False))
    status: str = Field(default=InboxStatus.PENDING, index=True, max_length=10)
    attempts: int = 0
    error: str | None = Field(default=None, sa_column=Column(Text))
    processed_at: datetime | None = Field(default=None, sa_column=_ts())
    intent: str | None = Field(default=None, max_length=10)
    ticket_number: str | None = Field(default=None, max_length=12)
    media: str | None = Field(default=None, max_length=500)  # an image or recording the channel saved (under data_dir)
    # Set when `text` is a voice message's transcript: who made it ("channel", "stt:<model>"); None for typed text.
    transcribed_by: str | None = Field(default=None, max_length=100)


class Outbox(SQLModel, table=True):
    """Replies committed with the handling of their message, sent afterwards: a crash loses none."""

    if TYPE_CHECKING:  # set on table=True models at class creation; sqlmodel does not declare it
        __table__: ClassVar[Table]

    id: int | None = Field(default=None, primary_key=True)
    inbox_id: int | None = Field(default=None, index=True)
    room_id: str | None = Field(default=None, max_length=200)
    contact_id: str | None = Field(default=None, max_length=200)
    payload: str = Field(sa_column=Column(Text, nullable=False))  # JSON: text, mentions, file, urgent
    created_at: datetime = Field(default_factory=utcnow, sa_column=_ts(nullable=False))
    not_before: datetime | None = Field(default=None, sa_column=_ts())  # quiet hours
    sent_at: datetime | None = Field(default=None, sa_column=_ts())
    attempts: int = 0  # sends the platform refused (each waits longer before the next: claimed_until)
    # The instance sending it, until when: two instances never send one reply; a dead one's claim lapses.
    claimed_by: str | None = Field(default=None, max_length=200)
    claimed_until: datetime | None = Field(default=None, sa_column=_ts())

    __table_args__ = (Index("ix_outbox_unsent", "sent_at", "id"),)


class Ticket(SQLModel, table=True):
    """A resident's problem being handled. `number` is what people see and type."""

    if TYPE_CHECKING:  # set on table=True models at class creation; sqlmodel does not declare it
        __table__: ClassVar[Table]

    id: int | None = Field(default=None, primary_key=True)
    number: str = Field(unique=True, max_length=12)
    category: str = Field(max_length=40)  # indexed with created_at, below
    summary: str = Field(default="", max_length=100)
    text: str = Field(default="", sa_column=Column(Text, nullable=False))
    estate: str | None = Field(default=None, max_length=100)
    building: str | None = Field(default=None, max_length=20)
    unit: str | None = Field(default=None, max_length=20)
    room_no: str | None = Field(default=None, max_length=20)
    community: str | None = Field(default=None, index=True, max_length=100)
    area: str | None = Field(default=None, max_length=100)
    grp: str | None = Field(default=None, max_length=100)
    reporter_id: str = Field(max_length=200)  # indexed with created_at, below
    reporter_name: str = Field(default="", max_length=200)
    relay_id: str | None = Field(default=None, max_length=200)  # indexed with created_at, below
    relay_name: str | None = Field(default=None, max_length=200)
    room_id: str | None = Field(default=None, max_length=200)
    source: str = Field(default="wechat", max_length=20)  # wechat | box | notebook | meeting | shell
    status: str = Field(default=TicketStatus.NEW, index=True, max_length=20)
    assignee: str | None = Field(default=None, max_length=100)
    urgent: bool = False
    due_at: datetime | None = Field(default=None, sa_column=_ts())
    supporters: int = 1
    stage: str = Field(default="rules", max_length=10)
    confidence: float = 0.0
    duplicate_of: str | None = Field(default=None, max_length=12)
    satisfaction: str | None = Field(default=None, max_length=20)  # satisfied | unsatisfied
    inbox_message_id: str | None = Field(default=None, max_length=200)
    created_at: datetime = Field(default_factory=utcnow, sa_column=_ts(nullable=False, index=True))
    updated_at: datetime = Field(default_factory=utcnow, sa_column=_ts(nullable=False))
    resolved_at: datetime | None = Field(default=None, sa_column=_ts())
    closed_at: datetime | None = Field(default=None, sa_column=_ts())

    # The duplicate check reads recent tickets of a category in a building (or estate); "我的工单" a person's
    # newest tickets as reporter and as relaying leader. Each reads only the rows it returns. The digest's
    # headline numbers read ix_ticket_settled alone (migration 0003).
    __table_args__ = (
        Index("ix_ticket_duplicate", "category", "building", "created_at"),
        Index("ix_ticket_category_estate", "category", "estate", "created_at"),
        Index("ix_ticket_category_created", "category", "created_at"),
        Index("ix_ticket_reporter", "reporter_id", "created_at"),
        Index("ix_ticket_relay", "relay_id", "created_at"),
        Index("ix_ticket_room", "room_id", "created_at"),
        Index(
            "ix_ticket_settled", "resolved_at", "closed_at", "created_at", "status", "due_at", "satisfaction", "community"
        ),
    )


class TicketEvent(SQLModel, table=True):
    """One change to a ticket: who, when, what, and the note."""

    if TYPE_CHECKING:  # set on table=True models at class creation; sqlmodel does not declare it
        __table__: ClassVar[Table]

    id: int | None = Field(default=None, primary_key=True)
    ticket_id: int = Field(index=True, foreign_key="ticket.id")
    at: datetime = Field(default_factory=utcnow, sa_column=_ts(nullable=False))
    actor_id: str | None = Field(default=None, max_length=200)
    actor_name: str | None = Field(default=None, max_length=200)
    action: str = Field(max_length=30)
    from_status: str | None = Field(default=None, max_length=20)
    to_status: str | None = Field(default=None, max_length=20)
    note: str | None = Field(default=None, sa_column=Column(Text))
    # The fields the action changed, as they were (JSON), so its actor can take it back (撤回) for a while.
    before: str | None = Field(default=None, sa_column=Column(Text))


class Candidate(SQLModel, table=True):
    """A message that may be a report, held silently for staff: 确认 K files it, 忽略 K drops it.

    `number` is the short K staff type: the smallest free one, freed again once the candidate is settled and
    a day old (or has expired), so the numbers stay short and never name two live candidates.
    """

    id: int | None = Field(default=None, primary_key=True)
    number: int | None = Field(default=None, unique=True)
    inbox_message_id: str = Field(unique=True, max_length=200)
    room_id: str | None = Field(default=None, max_length=200)
    room_topic: str | None = Field(default=None, max_length=200)
    community: str | None = Field(default=None, index=True, max_length=100)
    area: str | None = Field(default=None, max_length=100)
    grp: str | None = Field(default=None, max_length=100)
    sender_id: str = Field(max_length=200)
    sender_name: str = Field(default="", max_length=200)
    sender_role: str = Field(default="unknown", max_length=20)
    text: str = Field(default="", sa_column=Column(Text, nullable=False))
    category: str | None = Field(default=None, max_length=40)
    estate: str | None = Field(default=None, max_length=100)
    building: str | None = Field(default=None, max_length=20)
    urgent: bool = False
    stage: str = Field(default="rules", max_length=10)
    confidence: float = 0.0
    strength: float = 0.0
    status: str = Field(default=CandidateStatus.PENDING, index=True, max_length=10)
    created_at: datetime = Field(default_factory=utcnow, sa_column=_ts(nullable=False, index=True))
    decided_at: datetime | None = Field(default=None, sa_column=_ts())
    decided_by: str | None = Field(default=None, max_length=200)
    decided_by_name: str | None = Field(default=None, max_length=200)
    ticket_number: str | None = Field(default=None, max_length=12)
    media: str | None = Field(default=None, max_length=500)  # a voice message's recording, for staff to play


class Conversation(SQLModel, table=True):
    """What the bot remembers of one person in one room (room "" = a private chat), for a while.

    The last report they made (for follow-ups that only add a place or a photo), a question the bot asked them
    (是哪一栋？) and an image they sent just before a report. Read before routing; written in the same
    transaction as the handling; dead after `expires_at`.
    """

    id: int | None = Field(default=None, primary_key=True)
    room: str = Field(default="", max_length=200)
    sender_id: str = Field(max_length=200)
    ticket_number: str | None = Field(default=None, max_length=12)
    ticket_at: datetime | None = Field(default=None, sa_column=_ts())
    question: str | None = Field(default=None, max_length=20)  # "place": asked where, once
    asked_at: datetime | None = Field(default=None, sa_column=_ts())
    image: str | None = Field(default=None, max_length=500)  # an image waiting for the report it shows
    image_message_id: str | None = Field(default=None, max_length=200)
    image_at: datetime | None = Field(default=None, sa_column=_ts())
    expires_at: datetime = Field(sa_column=_ts(nullable=False, index=True))

    __table_args__ = (UniqueConstraint("room", "sender_id", name="uq_conversation_room_sender"),)


class Attachment(SQLModel, table=True):
    """A photo (or another file) that belongs to a ticket: stored under data_dir by its content hash."""

    if TYPE_CHECKING:  # set on table=True models at class creation; sqlmodel does not declare it
        __table__: ClassVar[Table]

    id: int | None = Field(default=None, primary_key=True)
    ticket_id: int = Field(index=True, foreign_key="ticket.id")
    message_id: str = Field(max_length=200)
    kind: str = Field(default="image", max_length=20)
    path: str | None = Field(default=None, max_length=500)  # None: the channel could not download it
    added_at: datetime = Field(default_factory=utcnow, sa_column=_ts(nullable=False))

    __table_args__ = (UniqueConstraint("ticket_id", "message_id", name="uq_attachment_ticket_message"),)


class Digest(SQLModel, table=True):
    """A digest claimed or sent for a period and target: the row that makes sending exactly-once."""

    if TYPE_CHECKING:  # set on table=True models at class creation; sqlmodel does not declare it
        __table__: ClassVar[Table]

    id: int | None = Field(default=None, primary_key=True)
    period: str = Field(max_length=20)
    target: str = Field(max_length=200)
    community: str = Field(default="", max_length=100)
    claimed_at: datetime = Field(default_factory=utcnow, sa_column=_ts(nullable=False))
    sent_at: datetime | None = Field(default=None, sa_column=_ts())
    content_hash: str | None = Field(default=None, max_length=64)
    attempts: int = 0
    error: str | None = Field(default=None, sa_column=Column(Text))
    parts_sent: int = Field(default=0, sa_column=Column(Integer, nullable=False, server_default="0"))  # text, chart, sheet

    __table_args__ = (UniqueConstraint("period", "target", "community", name="uq_digest_period_target"),)


class JobRun(SQLModel, table=True):
    """A scheduled job's run for one key (the overdue reminder of 2026-12-02): whoever inserts it runs it, in the
    same transaction as what the run queues, so two instances never both do it and a failed run leaves no row."""

    if TYPE_CHECKING:  # set on table=True models at class creation; sqlmodel does not declare it
        __table__: ClassVar[Table]

    __tablename__ = "job_run"
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=60)
    key: str = Field(max_length=60)
    claimed_by: str = Field(max_length=200)
    claimed_at: datetime = Field(sa_column=_ts(nullable=False))

    __table_args__ = (UniqueConstraint("name", "key", name="uq_job_run_name_key"),)


class WebUser(SQLModel, table=True):
    """A staff member's web console account: the same person as their chat identity (`actor_id`, their platform
    id), with the same scope (`communities`, comma-separated; empty with `admin`: every community)."""

    if TYPE_CHECKING:  # set on table=True models at class creation; sqlmodel does not declare it
        __table__: ClassVar[Table]

    __tablename__ = "web_user"
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(unique=True, max_length=100)
    actor_id: str = Field(max_length=200)
    communities: str = Field(default="", max_length=1000)
    admin: bool = False
    password_hash: str = Field(max_length=200)
    disabled: bool = False
    created_at: datetime = Field(default_factory=utcnow, sa_column=_ts(nullable=False))


class WebSession(SQLModel, table=True):
    """A signed-in browser: the cookie holds a random token, the table only its SHA-256 (a leaked database
    lets nobody in), with the form token (CSRF) and when it lapses."""

    if TYPE_CHECKING:  # set on table=True models at class creation; sqlmodel does not declare it
        __table__: ClassVar[Table]

    __tablename__ = "web_session"
    token_hash: str = Field(primary_key=True, max_length=64)
    user_id: int = Field(index=True, foreign_key="web_user.id")
    csrf: str = Field(max_length=64)
    created_at: datetime = Field(default_factory=utcnow, sa_column=_ts(nullable=False))
    expires_at: datetime = Field(sa_column=_ts(nullable=False))


class ApiKey(SQLModel, table=True):
    """A key a district platform reads the Open311 endpoint with; kept as its SHA-256 only."""

    if TYPE_CHECKING:  # set on table=True models at class creation; sqlmodel does not declare it
        __table__: ClassVar[Table]

    __tablename__ = "api_key"
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(unique=True, max_length=100)
    key_hash: str = Field(unique=True, max_length=64)
    communities: str = Field(default="", max_length=1000)  # empty: every community
    created_at: datetime = Field(default_factory=utcnow, sa_column=_ts(nullable=False))
    revoked_at: datetime | None = Field(default=None, sa_column=_ts())
