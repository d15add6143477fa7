"""Signing in and out, API keys, and users and the audit log for admins."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Annotated

import anyio.to_thread
from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from storyteller.accounts import users as accounts
from storyteller.accounts.signin import SignInFailed, TooManySignIns, Viewer, sign_in, sign_out
from storyteller.api.deps import (
    SESSION_COOKIE,
    AccessDep,
    AdminDep,
    CurrentUserDep,
    DatabaseDep,
    SettingsDep,
    signed_in,
)
from storyteller.api.errors import ApiError
from storyteller.config import Settings
from storyteller.db.models import ApiKey, AuditEntry, Priority, Role, User

router = APIRouter(tags=["accounts"])
# Everything here but signing in needs someone signed in.
gated = APIRouter(tags=["accounts"], dependencies=[Depends(signed_in)])


class UserPublic(BaseModel):
    name: str | None = Field(description="None in the open mode (no users, loopback).")
    role: Role
    priority: Priority
    videosPerDay: int | None = None
    bytesStored: int | None = None
    aiUsdPerDay: float | None = None
    disabled: bool = False
    open: bool = Field(default=False, description="The service is in its open mode.")


def _viewer_public(viewer: Viewer) -> UserPublic:
    return UserPublic(
        name=viewer.name,
        role=viewer.role,
        priority=viewer.priority,
        videosPerDay=viewer.videos_per_day,
        bytesStored=viewer.bytes_stored,
        aiUsdPerDay=viewer.ai_usd_per_day,
        open=viewer.id is None,
    )


def _user_public(user: User) -> UserPublic:
    return UserPublic(
        name=user.name,
        role=user.role,
        priority=user.priority,
        videosPerDay=user.videos_per_day,
        bytesStored=user.bytes_stored,
        aiUsdPerDay=user.ai_usd_per_day,
        disabled=user.disabled,
    )


class Credentials(BaseModel):
    name: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=1024)


def _client(request: Request) -> str | None:
    return request.client.host if request.client else None


@router.post(
    "/api/auth/login",
    response_model=UserPublic,
    summary="Sign in (sets the session cookie)",
    responses={
        401: {"description": "Wrong name or password"},
        429: {"description": "Too many failures"},
    },
)
async def login(
    credentials: Credentials,
    request: Request,
    response: Response,
    database: DatabaseDep,
    settings: SettingsDep,
    access: AccessDep,
) -> UserPublic:
    """A wrong name or password answers 401, a little later after each failure; past
    `SIGN_IN_FAILURES_PER_NAME` (or `_PER_CLIENT`) failures in the window, 429 with
    `Retry-After`."""
    client = _client(request)
    try:
        access.limiter.check(credentials.name, client)
    except TooManySignIns as exc:
        raise ApiError(429, exc.reason, {"Retry-After": str(exc.retry_after)}) from None

    def check() -> tuple[Viewer, str] | None:
        with database.write() as session:
            return sign_in(
                session,
                name=credentials.name,
                password=credentials.password,
                hours=settings.session_hours,
                client=client,
            )

    signed = await anyio.to_thread.run_sync(check)
    if signed is None:
        await asyncio.sleep(access.limiter.failed(credentials.name, client))
        raise ApiError(401, SignInFailed().reason)
    access.limiter.succeeded(credentials.name)
    viewer, token = signed
    set_session_cookie(response, token, request=request, settings=settings)
    return _viewer_public(viewer)


def set_session_cookie(
    response: Response, token: str, *, request: Request, settings: Settings
) -> None:
    """The sign-in cookie, however the user signed in (password or OpenID Connect)."""
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=int(settings.session_hours * 3600),
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
        path="/",
    )


@router.post("/api/auth/logout", status_code=204, summary="Sign out")
def logout(request: Request, database: DatabaseDep) -> Response:
    """Ends this browser's session (the cookie is worthless from now on)."""
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        with database.write() as session:
            sign_out(session, token)
    response = Response(status_code=204)
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="lax")
    return response


@gated.get("/api/auth/me", response_model=UserPublic, summary="Who is signed in")
def me(user: CurrentUserDep) -> UserPublic:
    return _viewer_public(user)


# --- API keys ---------------------------------------------------------------------


class KeyPublic(BaseModel):
    id: str
    prefix: str
    createdAt: dt.datetime
    lastUsedAt: dt.datetime | None
    revokedAt: dt.datetime | None


class NewKey(KeyPublic):
    key: str = Field(description="The key itself: shown this once, never again.")


def _key_public(key: ApiKey) -> KeyPublic:
    return KeyPublic(
        id=key.id,
        prefix=key.prefix,
        createdAt=key.created_at,
        lastUsedAt=key.last_used_at,
        revokedAt=key.revoked_at,
    )


def _signed_user(session: Session, viewer: Viewer) -> User:
    if viewer.name is None:
        raise ApiError(409, "API keys belong to users: create one with `storyteller users add`")
    return accounts.find_user(session, viewer.name)


@gated.get("/api/keys", response_model=list[KeyPublic], summary="Your API keys")
def list_keys(user: CurrentUserDep, database: DatabaseDep) -> list[KeyPublic]:
    with database.read() as session:
        return [
            _key_public(key)
            for key in accounts.list_keys(session, user=_signed_user(session, user))
        ]


@gated.post("/api/keys", response_model=NewKey, status_code=201, summary="Create an API key")
def create_key(user: CurrentUserDep, database: DatabaseDep) -> NewKey:
    with database.write() as session:
        row, key = accounts.create_key(session, user=_signed_user(session, user), actor=user.name)
        return NewKey(**_key_public(row).model_dump(), key=key)


@gated.delete("/api/keys/{keyId}", response_model=KeyPublic, summary="Revoke an API key")
def revoke_key(keyId: str, user: CurrentUserDep, database: DatabaseDep) -> KeyPublic:
    """Refused from the next request on. A member revokes their own keys; an admin any."""
    with database.write() as session:
        owner = None if user.is_admin else _signed_user(session, user)
        return _key_public(accounts.revoke_key(session, key_id=keyId, owner=owner, actor=user.name))


# --- users and the audit log (admins) -------------------------------------------------


class UserCreate(BaseModel):
    name: str = Field(min_length=1, max_length=64)
    role: Role = Role.MEMBER
    password: str = Field(min_length=accounts.MIN_PASSWORD, max_length=1024)
    priority: Priority = Priority.NORMAL


class UserUpdate(BaseModel):
    role: Role | None = None
    priority: Priority | None = None
    videosPerDay: int | None = Field(default=None, ge=0, description="0: no limit.")
    bytesStored: int | None = Field(default=None, ge=0, description="0: no limit.")
    aiUsdPerDay: float | None = Field(default=None, ge=0, description="0: no limit.")
    disabled: bool | None = None
    password: str | None = Field(default=None, min_length=accounts.MIN_PASSWORD, max_length=1024)


@gated.get("/api/users", response_model=list[UserPublic], summary="Every user (admins)")
def list_users(admin: AdminDep, database: DatabaseDep) -> list[UserPublic]:
    with database.read() as session:
        return [_user_public(user) for user in accounts.list_users(session)]


@gated.post("/api/users", response_model=UserPublic, status_code=201, summary="Add a user (admins)")
def add_user(body: UserCreate, admin: AdminDep, database: DatabaseDep) -> UserPublic:
    with database.write() as session:
        user = accounts.add_user(
            session,
            name=body.name,
            role=body.role,
            password=body.password,
            priority=body.priority,
            actor=admin.name,
        )
        return _user_public(user)


@gated.patch("/api/users/{name}", response_model=UserPublic, summary="Change a user (admins)")
def change_user(name: str, body: UserUpdate, admin: AdminDep, database: DatabaseDep) -> UserPublic:
    with database.write() as session:
        limits = accounts.Limits(
            role=body.role,
            priority=body.priority,
            videos_per_day=body.videosPerDay,
            bytes_stored=body.bytesStored,
            ai_usd_per_day=body.aiUsdPerDay,
        )
        user = accounts.set_limits(session, name=name, limits=limits, actor=admin.name)
        if body.disabled is not None:
            accounts.set_disabled(session, name=name, disabled=body.disabled, actor=admin.name)
        if body.password is not None:
            accounts.set_password(session, name=name, password=body.password, actor=admin.name)
        return _user_public(user)


class AuditPublic(BaseModel):
    at: dt.datetime
    actor: str | None
    action: str
    target: str | None
    detail: str | None
    client: str | None


def _audit_public(entry: AuditEntry) -> AuditPublic:
    return AuditPublic(
        at=entry.at,
        actor=entry.actor,
        action=entry.action,
        target=entry.target,
        detail=entry.detail,
        client=entry.client,
    )


@gated.get("/api/audit", response_model=list[AuditPublic], summary="The audit log (admins)")
def audit_log(
    admin: AdminDep,
    database: DatabaseDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[AuditPublic]:
    """Newest first: sign-ins (failed ones too), keys created and revoked, users changed."""
    with database.read() as session:
        return [_audit_public(entry) for entry in accounts.audit_log(session, limit=limit)]
