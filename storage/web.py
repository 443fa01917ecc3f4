"""Web console rows: staff accounts, signed-in browsers, Open311 keys. Tokens and keys are kept as SHA-256
hashes only; passwords as the argon2 hashes handlers/accounts.py makes. Nothing here commits."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlmodel import col, delete, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import ApiKey, WebSession, WebUser, as_utc


async def user_by_name(session: AsyncSession, name: str) -> WebUser | None:
    return (await session.exec(select(WebUser).where(WebUser.name == name))).first()


async def user_by_id(session: AsyncSession, user_id: int) -> WebUser | None:
    return await session.get(WebUser, user_id)


async def users(session: AsyncSession) -> Sequence[WebUser]:
    return (await session.exec(select(WebUser).order_by(col(WebUser.name)))).all()


async def save_user(session: AsyncSession, user: WebUser) -> WebUser:
    session.add(user)
    await session.flush()
    return user


async def add_session(session: AsyncSession, *, token_hash: str, user_id: int, csrf: str, now: datetime, expires: datetime) -> None:
    session.add(WebSession(token_hash=token_hash, user_id=user_id, csrf=csrf, created_at=now, expires_at=expires))
    await session.flush()


async def live_session(session: AsyncSession, token_hash: str, now: datetime) -> tuple[WebSession, WebUser] | None:
    """The session and its user, if the session has not lapsed and the account is not disabled."""
    row = await session.get(WebSession, token_hash)
    if row is None or as_utc(row.expires_at) <= now:
        return None
    user = await session.get(WebUser, row.user_id)
    if user is None or user.disabled:
        return None
    return row, user


async def end_session(session: AsyncSession, token_hash: str) -> None:
    await session.exec(delete(WebSession).where(col(WebSession.token_hash) == token_hash))


async def end_sessions_of(session: AsyncSession, user_id: int) -> None:
    """Every browser of this account signed out (a new password, a disabled account)."""
    await session.exec(delete(WebSession).where(col(WebSession.user_id) == user_id))


async def drop_lapsed_sessions(session: AsyncSession, now: datetime) -> None:
    await session.exec(delete(WebSession).where(col(WebSession.expires_at) <= now))


async def add_key(session: AsyncSession, *, name: str, key_hash: str, communities: str, now: datetime) -> ApiKey:
    row = ApiKey(name=name, key_hash=key_hash, communities=communities, created_at=now)
    session.add(row)
    await session.flush()
    return row


async def key_by_hash(session: AsyncSession, key_hash: str) -> ApiKey | None:
    row = (await session.exec(select(ApiKey).where(ApiKey.key_hash == key_hash))).first()
    return row if row is not None and row.revoked_at is None else None


async def keys(session: AsyncSession) -> Sequence[ApiKey]:
    return (await session.exec(select(ApiKey).order_by(col(ApiKey.name)))).all()


async def revoke_key(session: AsyncSession, name: str, now: datetime) -> bool:
    row = (await session.exec(select(ApiKey).where(ApiKey.name == name))).first()
    if row is None or row.revoked_at is not None:
        return False
    row.revoked_at = now
    session.add(row)
    return True
