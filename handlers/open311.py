"""Open311 GeoReport v2, read-only, for a district platform holding an API key: the service list (the
taxonomy's categories) and service requests (tickets) as the spec shapes them. What leaves here is what a
resident may read: descriptions through the privacy module, addresses as estate and building only, no
reporter, room number or phone, and only the communities the key is for."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from handlers.accounts import ApiClient
from handlers.digest import place_label, problem_of
from handlers.digest_render import STATUS_NAMES
from storage import ticket_search
from storage.models import Ticket, TicketStatus, as_utc

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import async_sessionmaker
    from sqlmodel.ext.asyncio.session import AsyncSession

    from nlp.privacy import Privacy
    from nlp.types import Taxonomy

MAX_REQUESTS = 1000  # the spec's ceiling on one response
DEFAULT_DAYS = 90  # without start_date: the last 90 days, as the spec suggests
MAX_IDS = 200
GROUP = "社区诉求"


class Open311Error(Exception):
    """A request the feed answers with an error (`code` is its HTTP status; the text is for the caller)."""

    def __init__(self, code: int, description: str) -> None:
        self.code, self.description = code, description
        super().__init__(description)


@dataclass(frozen=True, slots=True)
class Query:
    ids: tuple[str, ...] | None = None
    service_code: str | None = None
    start: datetime | None = None
    end: datetime | None = None
    status: str | None = None  # open | closed


def parse_when(text: str | None, name: str) -> datetime | None:
    """An ISO 8601 date or date-time (a bare one is UTC); Open311Error(400) otherwise."""
    if not text:
        return None
    try:
        dt = datetime.fromisoformat(text.strip().replace(" ", "+"))  # a '+' in a query string arrives as a space
    except ValueError:
        raise Open311Error(400, f"{name} must be ISO 8601, e.g. 2026-12-01T00:00:00+08:00") from None
    return as_utc(dt)


def parse_query(
    *, service_request_id: str | None, service_code: str | None, start_date: str | None, end_date: str | None,
    status: str | None,
) -> Query:
    ids = None
    if service_request_id:
        ids = tuple(dict.fromkeys(i.strip().lstrip("#＃") for i in service_request_id.split(",") if i.strip()))[:MAX_IDS]
    status = (status or "").strip().lower() or None
    if status not in (None, "open", "closed"):
        raise Open311Error(400, "status must be open or closed")
    start, end = parse_when(start_date, "start_date"), parse_when(end_date, "end_date")
    if start and end and start > end:
        raise Open311Error(400, "start_date is after end_date")
    return Query(ids=ids, service_code=(service_code or "").strip() or None, start=start, end=end, status=status)


def iso(dt: datetime | None, zone: ZoneInfo) -> str | None:
    return as_utc(dt).astimezone(zone).isoformat(timespec="seconds") if dt is not None else None


def _feed(query: Query, since: datetime | None, until: datetime | None, scope: list[str] | None) -> ticket_search.Search:
    """What a requests.json query asks of the tickets: by number alone, or by service, window and status; never
    a withdrawn report (the reporter's own undo: it never was)."""
    shown = TicketStatus.ALL - {TicketStatus.WITHDRAWN}
    if query.ids is not None:
        return ticket_search.Search(communities=scope, numbers=query.ids, statuses=shown)
    if query.status is not None:
        shown = shown & TicketStatus.OPEN if query.status == "open" else shown - TicketStatus.OPEN
    return ticket_search.Search(
        communities=scope, statuses=shown, category=query.service_code or None,
        created_from=as_utc(since) if since is not None else None,
        created_before=as_utc(until) + timedelta(microseconds=1) if until is not None else None,  # end inclusive
    )


class Open311Mixin:
    """Desk's Open311 reads (Desk provides these attributes)."""

    report_sessions: async_sessionmaker[AsyncSession]
    taxonomy: Taxonomy
    privacy: Privacy
    tz: ZoneInfo

    def open311_services(self) -> list[dict[str, Any]]:
        return [
            {
                "service_code": c.code, "service_name": c.name, "description": c.description or c.name,
                "metadata": False, "type": "realtime", "keywords": ",".join(c.keywords), "group": GROUP,
            }
            for c in self.taxonomy.categories
        ]

    def _public(self, text: str | None) -> str | None:
        """Text as a resident may read it, or None when the privacy module would change it (a person's name)."""
        if not text:
            return None
        return text if self.privacy.for_people(text) == text else None

    def open311_request_of(self, t: Ticket) -> dict[str, Any]:
        closed = t.status not in TicketStatus.OPEN
        note = STATUS_NAMES.get(t.status, t.status)
        if t.status == TicketStatus.DUPLICATE and t.duplicate_of:
            note += f"（并入 {t.duplicate_of}）"
        return {
            "service_request_id": t.number,
            "status": "closed" if closed else "open",
            "status_notes": note,
            "service_name": self.taxonomy.name_of(t.category),
            "service_code": t.category,
            # The problem without the place (a title reads "3栋2单元 下水道堵塞"; the address says 3栋).
            "description": self.privacy.for_people(problem_of(t.summary)) or self.taxonomy.name_of(t.category),
            "agency_responsible": self._public(t.assignee),
            "service_notice": None,
            "requested_datetime": iso(t.created_at, self.tz),
            "updated_datetime": iso(t.updated_at, self.tz),
            "expected_datetime": iso(t.due_at, self.tz),
            "address": self.privacy.for_people(place_label(t.estate, t.building)) or None,
            "address_id": None,
            "zipcode": None,
            "lat": None,
            "long": None,
            "media_url": None,
        }

    async def open311_requests(self, client: ApiClient, query: Query, *, now: datetime) -> list[dict[str, Any]]:
        """The requests a query names, newest first, at most MAX_REQUESTS, within the key's communities."""
        scope = list(client.communities) or None
        since, until = query.start, query.end
        if query.ids is None and since is None:
            since = (until or now) - timedelta(days=DEFAULT_DAYS)
        async with self.report_sessions() as session:
            rows = await ticket_search.rows(session, _feed(query, since, until, scope), limit=MAX_REQUESTS)
        return [self.open311_request_of(t) for t in rows if client.sees(t.community)]

    async def open311_request(self, client: ApiClient, number: str, *, now: datetime | None = None) -> list[dict[str, Any]]:
        """One request, as a list of one (the spec's shape); Open311Error(404) when absent or not the key's."""
        number = number.strip().lstrip("#＃")
        found = await self.open311_requests(client, Query(ids=(number,)), now=now or datetime.now(UTC))
        if not found:
            raise Open311Error(404, f"no service request {number}")
        return found
