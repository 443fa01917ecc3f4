"""Web console accounts: staff sign in with a password (argon2), stay signed in with a session (a random token
in an HttpOnly cookie, its hash in the database, a form token against CSRF), and are throttled after repeated
wrong passwords. A district platform reads Open311 with an API key. The web layer (bot/web) calls this."""

from __future__ import annotations

import hashlib
import secrets
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from handlers.context import Actor
from handlers.outbox import in_unit
from storage import web
from storage.models import WebUser

MIN_PASSWORD = 10
SESSION_HOURS = 12
_hasher = PasswordHasher()  # argon2id with the library's current parameters
# A hash to verify against when the name is unknown: the same work either way, so timing tells nothing.
_DUMMY = _hasher.hash(secrets.token_hex(16))


class AccountError(Exception):
    """Why an account could not be made or used (Chinese, for the person at the shell or the sign-in form)."""


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _scope(communities: str) -> list[str]:
    return [c for c in communities.split(",") if c]


@dataclass(frozen=True, slots=True)
class WebStaff:
    """A signed-in staff member: who (their chat identity), their communities, and the session's form token."""

    user_id: int
    name: str
    actor_id: str
    communities: tuple[str, ...]  # empty with admin: every community
    admin: bool
    csrf: str

    @property
    def actor(self) -> Actor:
        scope = None if self.admin and not self.communities else frozenset(self.communities)
        return Actor(id=self.actor_id, name=self.name, role="staff", communities=scope)


@dataclass(frozen=True, slots=True)
class ApiClient:
    name: str
    communities: tuple[str, ...]  # empty: every community

    def sees(self, community: str | None) -> bool:
        return not self.communities or (community or "") in self.communities


class Throttle:
    """Wrong passwords counted per account name (past `limit`) and per address (past `per_address`, default five
    times as many: a committee office shares one address) over a window; past either, every attempt, right
    password or not, is refused until the window has moved on."""

    def __init__(
        self, *, limit: int = 10, window: float = 900.0, per_address: int | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limit = limit
        self.per_address = per_address or 5 * limit
        self.window = window
        self.clock = clock
        self._fails: dict[str, deque[float]] = {}

    def _recent(self, key: str) -> deque[float]:
        q = self._fails.setdefault(key, deque())
        cutoff = self.clock() - self.window
        while q and q[0] < cutoff:
            q.popleft()
        return q

    def blocked(self, name_key: str, address_key: str) -> bool:
        return len(self._recent(name_key)) >= self.limit or len(self._recent(address_key)) >= self.per_address

    def failed(self, *keys: str) -> None:
        if len(self._fails) > 100_000:  # an attack with many names: start over rather than grow without end
            self._fails.clear()
        for k in keys:
            self._recent(k).append(self.clock())

    def succeeded(self, name_key: str) -> None:
        self._fails.pop(name_key, None)


class Accounts:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        session_hours: int = SESSION_HOURS,
        throttle: Throttle | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.sessions = sessions
        self.session_length = timedelta(hours=session_hours)
        self.throttle = throttle or Throttle()
        self.clock = clock

    async def _unit(self, fn):
        return await in_unit(self.sessions, fn, retries=2)

    # ------------------------------------------------------------ accounts (the shell)

    async def add_user(
        self, name: str, *, actor_id: str, communities: list[str], admin: bool, password: str
    ) -> None:
        """A new account, or a new password and scope for an existing one (its browsers are signed out)."""
        name = name.strip()
        if not name or len(name) > 100:
            raise AccountError("账号名不能为空，最长 100 个字。")
        if len(password) < MIN_PASSWORD:
            raise AccountError(f"密码至少 {MIN_PASSWORD} 位。")
        if not communities and not admin:
            raise AccountError("请用 --community 指定负责的社区（管理员可不指定，即全部社区）。")
        if any("," in c for c in communities):
            raise AccountError("社区名里不能有逗号。")
        hashed = _hasher.hash(password)

        async def unit(session: AsyncSession) -> None:
            user = await web.user_by_name(session, name)
            if user is None:
                user = WebUser(name=name, actor_id=actor_id, password_hash=hashed, created_at=self.clock())
            else:
                await web.end_sessions_of(session, user.id or 0)
            user.actor_id, user.password_hash = actor_id, hashed
            user.communities, user.admin, user.disabled = ",".join(communities), admin, False
            await web.save_user(session, user)

        await self._unit(unit)

    async def disable_user(self, name: str) -> bool:
        async def unit(session: AsyncSession) -> bool:
            user = await web.user_by_name(session, name)
            if user is None:
                return False
            user.disabled = True
            await web.save_user(session, user)
            await web.end_sessions_of(session, user.id or 0)
            return True

        return await self._unit(unit)

    async def list_users(self) -> list[tuple[str, str, list[str], bool, bool]]:
        async with self.sessions() as session:
            return [(u.name, u.actor_id, _scope(u.communities), u.admin, u.disabled) for u in await web.users(session)]

    # ------------------------------------------------------------ signing in (the web)

    async def sign_in(self, name: str, password: str, *, address: str) -> str:
        """A new session token for the right name and password; AccountError otherwise (throttled alike)."""
        keys = (f"name:{name}", f"addr:{address}")
        if self.throttle.blocked(*keys):
            raise AccountError("尝试次数太多，请 15 分钟后再试。")
        now = self.clock()

        async def unit(session: AsyncSession) -> str | None:
            user = await web.user_by_name(session, name)
            stored = user.password_hash if user is not None and not user.disabled else _DUMMY
            try:
                _hasher.verify(stored, password)
            except (VerificationError, InvalidHashError):
                return None
            if user is None or user.disabled:
                return None
            if _hasher.check_needs_rehash(stored):
                user.password_hash = _hasher.hash(password)
                await web.save_user(session, user)
            token = secrets.token_urlsafe(32)
            await web.drop_lapsed_sessions(session, now)
            await web.add_session(
                session, token_hash=token_hash(token), user_id=user.id or 0, csrf=secrets.token_urlsafe(24), now=now,
                expires=now + self.session_length,
            )
            return token

        token = await self._unit(unit)
        if token is None:
            self.throttle.failed(*keys)
            raise AccountError("账号或密码不对。")
        self.throttle.succeeded(keys[0])
        return token

    async def staff_for(self, token: str | None) -> WebStaff | None:
        if not token:
            return None
        async with self.sessions() as session:
            found = await web.live_session(session, token_hash(token), self.clock())
        if found is None:
            return None
        row, user = found
        return WebStaff(
            user_id=user.id or 0, name=user.name, actor_id=user.actor_id, communities=tuple(_scope(user.communities)),
            admin=user.admin, csrf=row.csrf,
        )

    async def sign_out(self, token: str) -> None:
        await self._unit(lambda session: web.end_session(session, token_hash(token)))

    # ------------------------------------------------------------ Open311 keys

    async def add_key(self, name: str, *, communities: list[str]) -> str:
        """A new key, returned once (only its hash is kept)."""
        key = "lj_" + secrets.token_urlsafe(30)
        await self._unit(
            lambda session: web.add_key(
                session, name=name, key_hash=token_hash(key), communities=",".join(communities), now=self.clock()
            )
        )
        return key

    async def revoke_key(self, name: str) -> bool:
        return await self._unit(lambda session: web.revoke_key(session, name, self.clock()))

    async def api_client(self, key: str | None) -> ApiClient | None:
        if not key or len(key) > 200:
            return None
        async with self.sessions() as session:
            row = await web.key_by_hash(session, token_hash(key))
        if row is None:
            return None
        return ApiClient(name=row.name, communities=tuple(_scope(row.communities)))
