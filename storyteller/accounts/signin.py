"""Who a request comes from: an API key, a sign-in cookie or a trusted proxy's header,
each checked with one indexed read; signing in with a password, limited and slowed
after failures."""

from __future__ import annotations

import datetime as dt
import ipaddress
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, delete, select, update
from sqlalchemy.orm import Session

from storyteller.accounts.secrets import digest, new_session_token, password_matches
from storyteller.accounts.users import audit
from storyteller.db.models import ApiKey, Priority, Role, SignIn, User
from storyteller.db.types import utcnow
from storyteller.errors import StorytellerError

# A key's `last_used_at` is written at most this often, not on every request.
LAST_USED_EVERY = dt.timedelta(minutes=1)


@dataclass(frozen=True)
class Viewer:
    """Whoever makes a request. `id` None is nobody in particular: the open mode of a
    loopback service with no users, where everything is everyone's."""

    id: str | None
    name: str | None
    role: Role
    priority: Priority
    videos_per_day: int | None = None
    bytes_stored: int | None = None
    ai_usd_per_day: float | None = None

    @property
    def is_admin(self) -> bool:
        return self.role == Role.ADMIN

    @property
    def owner_filter(self) -> str | None:
        """The owner whose batches alone this viewer sees; None: every batch."""
        return None if self.is_admin else self.id

    @property
    def priority_cap(self) -> Priority | None:
        """The highest priority (and the default) of this viewer's batches; None: any."""
        return self.priority if self.id is not None else None

    def sees(self, owner_id: str | None) -> bool:
        return self.is_admin or (owner_id is not None and owner_id == self.id)


OPEN = Viewer(id=None, name=None, role=Role.ADMIN, priority=Priority.HIGH)


def viewer_of(user: User) -> Viewer:
    return Viewer(
        id=user.id,
        name=user.name,
        role=user.role,
        priority=user.priority,
        videos_per_day=user.videos_per_day,
        bytes_stored=user.bytes_stored,
        ai_usd_per_day=user.ai_usd_per_day,
    )


# The lookups every request makes, built once (building a statement costs more than
# running it on SQLite): the user's columns, not ORM objects.
_USER_COLUMNS = (
    User.id,
    User.name,
    User.role,
    User.priority,
    User.videos_per_day,
    User.bytes_stored,
    User.ai_usd_per_day,
)
_KEY_LOOKUP = (
    select(*_USER_COLUMNS, ApiKey.id, ApiKey.last_used_at)
    .join(ApiKey, ApiKey.user_id == User.id)
    .where(
        ApiKey.key_hash == bindparam("key_hash"),
        ApiKey.revoked_at.is_(None),
        User.disabled.is_(False),
    )
)
_TOKEN_LOOKUP = (
    select(*_USER_COLUMNS)
    .join(SignIn, SignIn.user_id == User.id)
    .where(
        SignIn.token_hash == bindparam("token_hash"),
        SignIn.expires_at > bindparam("now"),
        User.disabled.is_(False),
    )
)


def _viewer_of_row(row: Any) -> Viewer:
    return Viewer(
        id=row[0],
        name=row[1],
        role=Role(row[2]),
        priority=Priority(row[3]),
        videos_per_day=row[4],
        bytes_stored=row[5],
        ai_usd_per_day=row[6],
    )


def key_viewer(session: Session, key: str) -> Viewer | None:
    """The user of a key that is not revoked (and not disabled), or None. Notes its use."""
    row = session.execute(_KEY_LOOKUP, {"key_hash": digest(key)}).first()
    if row is None:
        return None
    key_id, last_used = row[7], row[8]
    now = utcnow()
    if last_used is None or now - last_used > LAST_USED_EVERY:
        session.execute(update(ApiKey).where(ApiKey.id == key_id).values(last_used_at=now))
        session.commit()
    return _viewer_of_row(row)


def token_viewer(session: Session, token: str) -> Viewer | None:
    """The user of a sign-in cookie that has not expired, or None."""
    row = session.execute(_TOKEN_LOOKUP, {"token_hash": digest(token), "now": utcnow()}).first()
    return _viewer_of_row(row) if row is not None else None


def name_viewer(session: Session, name: str) -> Viewer | None:
    """A user named by a trusted proxy (and not disabled), or None."""
    user = session.scalars(
        select(User).where(User.name == name, User.disabled.is_(False))
    ).one_or_none()
    return viewer_of(user) if user is not None else None


def from_trusted_proxy(client: str | None, proxies: list[str]) -> bool:
    """Whether the address a request came from is one of the proxies (addresses or
    networks) allowed to name the user."""
    if not client or not proxies:
        return False
    try:
        address = ipaddress.ip_address(client)
    except ValueError:
        return False
    return any(address in ipaddress.ip_network(proxy, strict=False) for proxy in proxies)


# --- signing in --------------------------------------------------------------


class SignInFailed(StorytellerError):
    """A wrong name or password (HTTP 401); which of the two is not said."""

    def __init__(self) -> None:
        super().__init__("wrong name or password")


class TooManySignIns(StorytellerError):
    """Too many failed sign-ins (HTTP 429); `retry_after` in seconds."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(
            f"too many failed sign-ins; try again in {retry_after} seconds", "too_many_sign_ins"
        )
        self.retry_after = retry_after


class SignInLimiter:
    """Failed sign-ins in the last `window_s`, per name and per client address: past
    `per_name` (or `per_client`) the next is refused until the oldest leaves the window,
    and each failure is answered a little later than the one before (`delay`).
    In memory: a restart forgets, which only ever lets someone try again sooner."""

    def __init__(self, *, per_name: int, per_client: int, window_s: float) -> None:
        self.per_name, self.per_client, self.window_s = per_name, per_client, window_s
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, key: str, now: float) -> deque[float]:
        times = self._failures.setdefault(key, deque())
        while times and now - times[0] > self.window_s:
            times.popleft()
        return times

    def check(self, name: str, client: str | None) -> None:
        now = time.monotonic()
        with self._lock:
            for key, limit in (
                (f"n:{name.lower()}", self.per_name),
                (f"c:{client}", self.per_client),
            ):
                times = self._recent(key, now)
                if len(times) >= limit:
                    raise TooManySignIns(max(1, int(times[0] + self.window_s - now) + 1))

    def failed(self, name: str, client: str | None) -> float:
        """Note a failure; the seconds to wait before answering it."""
        now = time.monotonic()
        with self._lock:
            times = self._recent(f"n:{name.lower()}", now)
            times.append(now)
            self._recent(f"c:{client}", now).append(now)
            return min(0.25 * len(times), 2.0)

    def succeeded(self, name: str) -> None:
        with self._lock:
            self._failures.pop(f"n:{name.lower()}", None)


def sign_in(
    session: Session, *, name: str, password: str, hours: float, client: str | None
) -> tuple[Viewer, str] | None:
    """Check a password; the user and a new cookie token, or None (audited either way).
    The caller commits."""
    user = session.scalars(select(User).where(User.name == name)).one_or_none()
    matches = password_matches(user.password_hash if user else None, password)
    if user is None or not matches or user.disabled:
        audit(session, actor=name[:64], action="sign_in_failed", client=client)
        return None
    return start_session(session, user, hours=hours, client=client)


def sign_in_named(
    session: Session, *, name: str, hours: float, client: str | None, how: str
) -> tuple[Viewer, str] | None:
    """Sign in a user someone we trust has vouched for (`how`: "oidc"): the user and a
    new cookie token, or None when no such user exists or they are disabled (audited
    either way, with `how` as the detail). Nobody is created. The caller commits."""
    user = session.scalars(select(User).where(User.name == name)).one_or_none()
    if user is None or user.disabled:
        audit(session, actor=name[:64], action="sign_in_failed", detail=how, client=client)
        return None
    return start_session(session, user, hours=hours, client=client, detail=how)


def start_session(
    session: Session, user: User, *, hours: float, client: str | None, detail: str | None = None
) -> tuple[Viewer, str]:
    """A new sign-in row for `user` and its cookie token, audited as `sign_in`."""
    token = new_session_token()
    now = utcnow()
    # The user's expired sessions go as a new one comes: the table never grows for long.
    session.execute(delete(SignIn).where(SignIn.user_id == user.id, SignIn.expires_at <= now))
    session.add(
        SignIn(
            user_id=user.id,
            token_hash=digest(token),
            created_at=now,
            expires_at=now + dt.timedelta(hours=hours),
        )
    )
    audit(session, actor=user.name, action="sign_in", detail=detail, client=client)
    return viewer_of(user), token


def sign_out(session: Session, token: str) -> None:
    sign_in_row = session.scalars(
        select(SignIn).where(SignIn.token_hash == digest(token))
    ).one_or_none()
    if sign_in_row is not None:
        user = session.get(User, sign_in_row.user_id)
        session.delete(sign_in_row)
        audit(session, actor=user.name if user else None, action="sign_out")


class Access:
    """The service's mode. Open (everything everyone's, as before accounts) only while it
    listens on loopback, `sign_in_required` is off and no user exists; once a user is
    seen it is closed for good (users are disabled, never deleted)."""

    def __init__(self, *, open_without_users: bool, limiter: SignInLimiter) -> None:
        self.open_without_users = open_without_users
        self.limiter = limiter
        self._users_seen = not open_without_users

    def is_open(self, session: Session) -> bool:
        if self._users_seen:
            return False
        from storyteller.accounts.users import any_user

        if any_user(session):
            self._users_seen = True
            return False
        return True
