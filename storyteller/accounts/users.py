"""Users, their API keys and the audit log: what the command line and an admin on the
page do. Each function takes a session first and owns no transaction (the caller's)."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from storyteller.accounts.secrets import digest, hash_password, new_api_key
from storyteller.db.models import ApiKey, AuditEntry, Priority, Role, SignIn, User
from storyteller.db.types import utcnow
from storyteller.errors import StorytellerError

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")
MIN_PASSWORD = 8


class AccountError(StorytellerError):
    """An account operation that cannot be done (HTTP 422 unless a subclass says)."""


class NoSuchUser(AccountError):
    """HTTP 404."""

    def __init__(self, name: str) -> None:
        super().__init__(f"no user named {name!r}")


class NoSuchKey(AccountError):
    """HTTP 404."""

    def __init__(self) -> None:
        super().__init__("no API key with that id")


class NameTaken(AccountError):
    """HTTP 409."""

    def __init__(self, name: str) -> None:
        super().__init__(f"a user named {name!r} exists already")


def any_user(session: Session) -> bool:
    return bool(session.scalar(select(exists().where(User.id.is_not(None)))))


def find_user(session: Session, name: str) -> User:
    user = session.scalars(select(User).where(User.name == name)).one_or_none()
    if user is None:
        raise NoSuchUser(name)
    return user


def check_password(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise AccountError(f"the password needs at least {MIN_PASSWORD} characters")
    return password


def add_user(
    session: Session,
    *,
    name: str,
    role: Role | str,
    password: str | None,
    priority: Priority | str = Priority.NORMAL,
    actor: str | None = None,
) -> User:
    if not NAME.match(name):
        raise AccountError(
            f"{name!r} cannot be a user name: letters, digits and . _ @ - only, 64 at most"
        )
    if session.scalars(select(User.id).where(User.name == name)).first() is not None:
        raise NameTaken(name)
    try:
        role, priority = Role(role), Priority(priority)
    except ValueError as exc:
        raise AccountError(str(exc)) from None
    user = User(
        name=name,
        role=role,
        password_hash=hash_password(check_password(password)) if password else None,
        disabled=False,
        priority=priority,
        created_at=utcnow(),
    )
    session.add(user)
    session.flush()
    audit(session, actor=actor, action="user_added", target=name, detail=f"role {role}")
    return user


def list_users(session: Session) -> list[User]:
    return list(session.scalars(select(User).order_by(User.name)))


def set_disabled(session: Session, *, name: str, disabled: bool, actor: str | None = None) -> User:
    """Disabling signs the user out everywhere (their sign-ins are deleted; keys stop
    working while disabled)."""
    user = find_user(session, name)
    user.disabled = disabled
    if disabled:
        for sign_in in session.scalars(select(SignIn).where(SignIn.user_id == user.id)):
            session.delete(sign_in)
    audit(session, actor=actor, action="user_disabled" if disabled else "user_enabled", target=name)
    return user


@dataclass(frozen=True)
class Limits:
    """What `users set` changes; a field left None stays as it is. A quota of 0 (or
    less) removes it."""

    role: Role | None = None
    priority: Priority | None = None
    videos_per_day: int | None = None
    bytes_stored: int | None = None
    ai_usd_per_day: float | None = None


def set_limits(session: Session, *, name: str, limits: Limits, actor: str | None = None) -> User:
    user = find_user(session, name)
    said = []
    if limits.role is not None:
        user.role = limits.role
        said.append(f"role {limits.role}")
    if limits.priority is not None:
        user.priority = limits.priority
        said.append(f"priority {limits.priority}")
    if limits.videos_per_day is not None:
        user.videos_per_day = limits.videos_per_day if limits.videos_per_day > 0 else None
        said.append(f"videos a day {user.videos_per_day or 'unlimited'}")
    if limits.bytes_stored is not None:
        user.bytes_stored = limits.bytes_stored if limits.bytes_stored > 0 else None
        said.append(f"bytes stored {user.bytes_stored or 'unlimited'}")
    if limits.ai_usd_per_day is not None:
        user.ai_usd_per_day = limits.ai_usd_per_day if limits.ai_usd_per_day > 0 else None
        said.append(f"AI dollars a day {user.ai_usd_per_day or 'unlimited'}")
    audit(session, actor=actor, action="user_changed", target=name, detail=", ".join(said))
    return user


def set_password(session: Session, *, name: str, password: str, actor: str | None = None) -> User:
    """A new password signs the user out everywhere."""
    user = find_user(session, name)
    user.password_hash = hash_password(check_password(password))
    for sign_in in session.scalars(select(SignIn).where(SignIn.user_id == user.id)):
        session.delete(sign_in)
    audit(session, actor=actor, action="password_reset", target=name)
    return user


# --- API keys ----------------------------------------------------------------


def create_key(session: Session, *, user: User, actor: str | None = None) -> tuple[ApiKey, str]:
    """A new key of the user: its row and the key itself (shown once, never stored)."""
    key, prefix = new_api_key()
    row = ApiKey(user_id=user.id, prefix=prefix, key_hash=digest(key), created_at=utcnow())
    session.add(row)
    session.flush()
    audit(session, actor=actor, action="key_created", target=user.name, detail=row.id)
    return row, key


def list_keys(session: Session, *, user: User) -> list[ApiKey]:
    return list(
        session.scalars(select(ApiKey).where(ApiKey.user_id == user.id).order_by(ApiKey.created_at))
    )


def revoke_key(
    session: Session, *, key_id: str, owner: User | None = None, actor: str | None = None
) -> ApiKey:
    """Revoke a key (of `owner` only, when given): refused from the next request on."""
    key = session.get(ApiKey, key_id)
    if key is None or (owner is not None and key.user_id != owner.id):
        raise NoSuchKey()
    if key.revoked_at is None:
        key.revoked_at = utcnow()
    user = session.get(User, key.user_id)
    audit(
        session,
        actor=actor,
        action="key_revoked",
        target=user.name if user else None,
        detail=key.id,
    )
    return key


# --- the audit log --------------------------------------------------------------


def audit(
    session: Session,
    *,
    actor: str | None,
    action: str,
    target: str | None = None,
    detail: str | None = None,
    client: str | None = None,
) -> None:
    session.add(
        AuditEntry(
            at=utcnow(),
            actor=actor,
            action=action,
            target=target[:255] if target else None,
            detail=detail,
            client=client[:64] if client else None,
        )
    )


def audit_log(
    session: Session, *, limit: int = 100, before: dt.datetime | None = None
) -> list[AuditEntry]:
    stmt = select(AuditEntry).order_by(AuditEntry.at.desc(), AuditEntry.id.desc()).limit(limit)
    if before is not None:
        stmt = stmt.where(AuditEntry.at < before)
    return list(session.scalars(stmt))
