"""What endpoints reach, as typed FastAPI dependencies: `SettingsDep`, `DatabaseDep`,
`VideoStoreDep` (where finished videos live, for every process), `UploadStoreDep` (where
this process stages uploads), `TusStoreDep`, `LiveChangesDep`, `ActionsDep` (what users
do to videos), `IntakeDep` and the rest; and who asks: `CurrentUserDep` (a key, a sign-in
cookie or a trusted proxy's header; 401 without) and `AdminDep` (403 for a member).
`signed_in` is the gate every /api router is included behind (`app.py`): it finds the
user and refuses an id in the path (job, video, upload) that is someone else's, with 404.

Each is built once at the start of the app (`app.py`) and kept in `app.state`; the
providers are async so that FastAPI does not hop to a worker thread just to read it.
"""

from __future__ import annotations

from typing import Annotated

import anyio.to_thread
from fastapi import Depends, Request

from storyteller.accounts.signin import (
    OPEN,
    Access,
    Viewer,
    from_trusted_proxy,
    key_viewer,
    name_viewer,
    token_viewer,
)
from storyteller.api.errors import ApiError
from storyteller.api.live import EventHub
from storyteller.batches.changes import LiveChanges
from storyteller.batches.intake import Intake
from storyteller.batches.ownership import may_see_batch, may_see_video
from storyteller.config import Settings
from storyteller.db.database import Database
from storyteller.jobs.actions import UserActions
from storyteller.jobs.engine import EmbeddedEngine
from storyteller.storage.objects import VideoStore
from storyteller.storage.tus import NoSuchUpload, TusStore, TusUploadError
from storyteller.storage.uploads import UploadStore


async def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_database(request: Request) -> Database:
    database: Database = request.app.state.database
    return database


async def get_video_store(request: Request) -> VideoStore:
    videos: VideoStore = request.app.state.videos
    return videos


async def get_upload_store(request: Request) -> UploadStore:
    uploads: UploadStore = request.app.state.uploads
    return uploads


async def get_tus_store(request: Request) -> TusStore:
    tus: TusStore = request.app.state.tus
    return tus


async def get_changes(request: Request) -> LiveChanges:
    changes: LiveChanges = request.app.state.changes
    return changes


async def get_event_hub(request: Request) -> EventHub:
    hub: EventHub = request.app.state.events
    return hub


async def get_engine(request: Request) -> EmbeddedEngine | None:
    """The embedded job engine, or None when this process runs none."""
    engine: EmbeddedEngine | None = request.app.state.engine
    return engine


async def get_actions(request: Request) -> UserActions:
    actions: UserActions = request.app.state.actions
    return actions


SettingsDep = Annotated[Settings, Depends(get_settings)]
DatabaseDep = Annotated[Database, Depends(get_database)]
VideoStoreDep = Annotated[VideoStore, Depends(get_video_store)]
UploadStoreDep = Annotated[UploadStore, Depends(get_upload_store)]
TusStoreDep = Annotated[TusStore, Depends(get_tus_store)]
LiveChangesDep = Annotated[LiveChanges, Depends(get_changes)]
EventHubDep = Annotated[EventHub, Depends(get_event_hub)]
EngineDep = Annotated[EmbeddedEngine | None, Depends(get_engine)]
ActionsDep = Annotated[UserActions, Depends(get_actions)]


# --- who asks ------------------------------------------------------------------

SESSION_COOKIE = "storyteller_session"
CHALLENGE = {"WWW-Authenticate": 'Bearer realm="storyteller"'}


async def get_access(request: Request) -> Access:
    access: Access = request.app.state.access
    return access


AccessDep = Annotated[Access, Depends(get_access)]


async def get_current_user(
    request: Request, settings: SettingsDep, database: DatabaseDep, access: AccessDep
) -> Viewer:
    """Who sends the request: `Authorization: Bearer KEY`, the sign-in cookie, or the
    header of a trusted proxy; in the open mode, anyone. 401 otherwise."""
    authorization = request.headers.get("authorization")
    if authorization:
        scheme, _, key = authorization.partition(" ")
        if scheme.lower() != "bearer" or not key.strip():
            raise ApiError(401, "Authorization: send `Bearer KEY` with an API key", CHALLENGE)
        viewer = await database.quick_read(key_viewer, key.strip())
        if viewer is None:
            raise ApiError(
                401, "the API key is not valid: revoked, mistyped or its user disabled", CHALLENGE
            )
        return viewer
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        viewer = await database.quick_read(token_viewer, token)
        if viewer is not None:
            return viewer
    if settings.trusted_proxies:
        client = request.client.host if request.client else None
        name = request.headers.get(settings.trusted_proxy_header)
        if name and from_trusted_proxy(client, settings.trusted_proxies):
            viewer = await database.quick_read(name_viewer, name.strip())
            if viewer is None:
                raise ApiError(
                    401, f"the proxy named {name!r}, who is not a user here (or is disabled)"
                )
            return viewer
    if await database.quick_read(access.is_open):
        return OPEN
    raise ApiError(
        401, "sign in first, or send an API key as `Authorization: Bearer KEY`", CHALLENGE
    )


CurrentUserDep = Annotated[Viewer, Depends(get_current_user)]


async def get_admin(user: CurrentUserDep) -> Viewer:
    """The one guard of the admin's routes (users, the audit log, `api/admin.py`,
    `/metrics`): 403 for a member; in the open loopback mode the local user is the admin."""
    if not user.is_admin:
        raise ApiError(403, "only an admin may do this")
    return user


AdminDep = Annotated[Viewer, Depends(get_admin)]

NO_JOB = "no job with that id"
NO_VIDEO = "no video with that id"


async def signed_in(
    request: Request, user: CurrentUserDep, database: DatabaseDep, tus: TusStoreDep
) -> Viewer:
    """The gate of every /api route but signing in: who asks (`get_current_user`), and
    404 for a job, video or upload of the path that is not theirs."""
    if user.is_admin:
        return user
    params = request.path_params
    if "jobId" in params and not await database.quick_read(may_see_batch, user, params["jobId"]):
        raise ApiError(404, NO_JOB)
    if "videoId" in params and not await database.quick_read(
        may_see_video, user, params["videoId"]
    ):
        raise ApiError(404, NO_VIDEO)
    if "upload_id" in params:
        upload_id = params["upload_id"]
        try:
            upload = await anyio.to_thread.run_sync(tus.load, upload_id)
        except TusUploadError:
            return user  # the route answers 404 or 410 itself
        if upload.owner != user.id:
            raise NoSuchUpload(upload_id)
    return user


SignedInDep = Annotated[Viewer, Depends(signed_in)]


async def get_intake(
    settings: SettingsDep,
    uploads: UploadStoreDep,
    videos: VideoStoreDep,
    database: DatabaseDep,
    changes: LiveChangesDep,
    owner: SignedInDep,
) -> Intake:
    return Intake(
        uploads=uploads,
        videos=videos,
        database=database,
        changes=changes,
        max_attempts=settings.max_attempts,
        owner=owner,
    )


IntakeDep = Annotated[Intake, Depends(get_intake)]
