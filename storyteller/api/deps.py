"""What endpoints reach, as typed FastAPI dependencies: `SettingsDep`, `DatabaseDep`,
`VideoStoreDep` (where finished videos live, for every process), `UploadStoreDep` (where
this process stages uploads), `TusStoreDep`, `LiveChangesDep`, `ActionsDep` (what users
do to videos), `IntakeDep`, `AdminDep` (the one guard of the admin's routes) and the rest.

Each is built once at the start of the app (`app.py`) and kept in `app.state`; the
providers are async so that FastAPI does not hop to a worker thread just to read it.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from storyteller.api.live import EventHub
from storyteller.batches.changes import LiveChanges
from storyteller.batches.intake import Intake
from storyteller.config import Settings
from storyteller.db.database import Database

# What users do to videos (cancel_video, cancel_batch, retry_video, retry_failed,
# regenerate).
from storyteller.jobs.actions import UserActions
from storyteller.jobs.engine import EmbeddedEngine
from storyteller.storage.objects import VideoStore
from storyteller.storage.tus import TusStore
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


async def require_admin(request: Request) -> None:
    """The one guard of every admin route (`api/admin.py`, `/metrics`). Until accounts
    exist, the local user is the admin: every request is admitted. With accounts, this
    checks the caller's role and refuses everyone else (403)."""
    return None


SettingsDep = Annotated[Settings, Depends(get_settings)]
AdminDep = Annotated[None, Depends(require_admin)]
DatabaseDep = Annotated[Database, Depends(get_database)]
VideoStoreDep = Annotated[VideoStore, Depends(get_video_store)]
UploadStoreDep = Annotated[UploadStore, Depends(get_upload_store)]
TusStoreDep = Annotated[TusStore, Depends(get_tus_store)]
LiveChangesDep = Annotated[LiveChanges, Depends(get_changes)]
EventHubDep = Annotated[EventHub, Depends(get_event_hub)]
EngineDep = Annotated[EmbeddedEngine | None, Depends(get_engine)]
ActionsDep = Annotated[UserActions, Depends(get_actions)]


async def get_intake(
    settings: SettingsDep,
    uploads: UploadStoreDep,
    videos: VideoStoreDep,
    database: DatabaseDep,
    changes: LiveChangesDep,
) -> Intake:
    return Intake(
        uploads=uploads,
        videos=videos,
        database=database,
        changes=changes,
        max_attempts=settings.max_attempts,
    )


IntakeDep = Annotated[Intake, Depends(get_intake)]
