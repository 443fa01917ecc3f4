"""The console's pages, each module a router: tickets, a ticket, 待确认, overview, rooms and roster, Open311."""

from __future__ import annotations

from fastapi import APIRouter


def routers() -> list[APIRouter]:
    from bot.web import open311, overview, review, rooms, tickets

    return [review.router, tickets.router, overview.router, rooms.router, open311.router]
