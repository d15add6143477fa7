"""The web service: the FastAPI app, its start (migrate, start the job engine) and stop."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import TypeVar

import anyio.to_thread
from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from sqlalchemy.orm import Session

from storyteller import __version__
from storyteller.api import errors, estimate, events, exports, jobs, page, system, tus, uploads
from storyteller.api.events import EventHub
from storyteller.api.services import Services
from storyteller.config import Settings
from storyteller.db.migrate import migrate
from storyteller.db.notify import (
    DELETED_CHANNEL,
    VIDEOS_CHANNEL,
    Listener,
    Notifier,
    video_ids,
)
from storyteller.db.session import default_database_url, make_engine, make_session_factory
from storyteller.jobs.actions import UserActions
from storyteller.jobs.batch_mode.coordinator import later_hook
from storyteller.jobs.engine import EmbeddedEngine
from storyteller.jobs.queue import JobQueue
from storyteller.jobs.work import DEFAULT_JOB
from storyteller.storage.objects import video_store
from storyteller.storage.uploads import UploadStore

log = logging.getLogger(__name__)

T = TypeVar("T")

# Partial files untouched this long belong to uploads that died (a killed server).
STALE_PARTIAL_S = 3600.0


def create_app(
    settings: Settings | None = None, *, start_engine: bool = True, job: str | None = None
) -> FastAPI:
    """The service. `start_engine=False` serves the API without processing anything
    (another process runs the queue), as does `job_engine="workers"` (the settings),
    which also tells and hears changes through PostgreSQL; `job` names another job
    function (tests)."""
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        hub = EventHub(read=lambda work: _read_with(app.state.services, work))
        hub.bind(asyncio.get_running_loop())
        app.state.events = hub
        found = await anyio.to_thread.run_sync(
            _open, settings, start_engine, job or DEFAULT_JOB, hub
        )
        app.state.services = found
        if found.engine is not None:
            await anyio.to_thread.run_sync(found.engine.start)
        if found.listener is not None:
            await anyio.to_thread.run_sync(found.listener.start)
        try:
            yield
        finally:
            hub.close()
            await anyio.to_thread.run_sync(_close, found)

    app = FastAPI(
        title="Video Storyteller",
        version=__version__,
        summary="Turns batches of videos into short, grounded, news-style stories.",
        lifespan=lifespan,
    )
    app.add_middleware(
        CORSMiddleware,
        allow_origins=settings.cors_origins,
        allow_methods=["*"],
        allow_headers=["*"],
        allow_credentials="*" not in settings.cors_origins,
    )
    errors.install(app)
    for module in (uploads, tus, jobs, exports, estimate, events, system):
        app.include_router(module.router)
    page.install(app)
    return app


def _read_with(found: Services, work: Callable[[Session], T]) -> T:
    with found.read() as session:
        return work(session)


def _open(settings: Settings, start_engine: bool, job: str, events: EventHub) -> Services:
    url = default_database_url(settings)
    migrate(url)
    db = make_engine(url, pool_size=10, max_overflow=30)
    videos = video_store(settings)
    videos.check()  # a StorageError says what to fix (`storyteller serve` says it first)
    store = UploadStore.from_settings(settings)
    removed = store.cleanup_partials(STALE_PARTIAL_S)
    if removed:
        log.info("deleted %d partial uploads left by a stopped server", removed)
    tus.cleanup_expired(store, settings)
    queue = JobQueue(db)
    found = Services(
        settings=settings,
        db=db,
        sessions=make_session_factory(db),
        store=store,
        queue=queue,
        actions=UserActions(db),
        videos=videos,
        events=events,
    )
    if settings.job_engine == "workers":
        # `storyteller worker`s do the work; changes reach this process's browsers
        # through PostgreSQL, whichever process made them.
        found.notifier = Notifier(db)
        found.listener = Listener(
            url,
            {
                VIDEOS_CHANNEL: lambda payload: events.changed(video_ids(payload)),
                DELETED_CHANNEL: events.deleted,
            },
            on_reconnect=lambda: events.publish("reset", None, {}),
        )
    elif start_engine:
        found.engine = EmbeddedEngine(
            settings,
            db,
            job=job,
            queue=queue,
            on_change=events.changed,
            later=later_hook(settings, db, queue, on_change=events.changed),
        )
    return found


def _close(found: Services) -> None:
    if found.engine is not None:
        found.engine.stop(found.settings.shutdown_grace_s)
    if found.listener is not None:
        found.listener.stop()
    if found.notifier is not None:
        found.notifier.close()
    found.db.dispose()
