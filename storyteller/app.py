"""The web service: the FastAPI app, its start (migrate, start the job engine) and stop."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import anyio.to_thread
from fastapi import Depends, FastAPI
from starlette.datastructures import State

from storyteller import __version__
from storyteller.accounts.signin import Access, SignInLimiter
from storyteller.api import (
    accounts,
    admin,
    errors,
    estimate,
    events,
    exports,
    guard,
    jobs,
    media,
    metrics,
    oidc,
    page,
    system,
    tus,
    uploads,
)
from storyteller.api.deps import signed_in
from storyteller.api.live import Announcer, EventHub
from storyteller.config import Settings
from storyteller.db.database import Database
from storyteller.db.migrate import migrate
from storyteller.db.notify import (
    DELETED_CHANNEL,
    VIDEOS_CHANNEL,
    Listener,
    Notifier,
    video_ids,
)
from storyteller.db.session import default_database_url, make_engine
from storyteller.jobs.actions import UserActions
from storyteller.jobs.batch_mode.coordinator import later_hook
from storyteller.jobs.engine import EmbeddedEngine
from storyteller.jobs.queue import JobQueue
from storyteller.jobs.work import DEFAULT_JOB
from storyteller.storage.objects import video_store
from storyteller.storage.tus import TusStore
from storyteller.storage.uploads import UploadStore

log = logging.getLogger(__name__)

# Partial files untouched this long belong to uploads that died on another host (those
# of this host's dead processes are deleted at once: see `UploadStore.cleanup_partials`).
STALE_PARTIAL_S = 3600.0


def create_app(
    settings: Settings | None = None,
    *,
    start_engine: bool = True,
    job: str | None = None,
    loopback: bool = True,
) -> FastAPI:
    """The service. `start_engine=False` serves the API without processing anything
    (another process runs the queue), as does `job_engine="workers"` (the settings),
    which also tells and hears changes through PostgreSQL; `job` names another job
    function (tests). `loopback=False` (it listens beyond this machine) asks for a
    sign-in or a key even before any user exists."""
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        hub = EventHub(read=lambda work: app.state.database.run(work))
        hub.bind(asyncio.get_running_loop())
        app.state.events = hub
        running = await anyio.to_thread.run_sync(
            _open, app.state, settings, start_engine, job or DEFAULT_JOB, hub
        )
        if running.engine is not None:
            await anyio.to_thread.run_sync(running.engine.start)
        if running.listener is not None:
            await anyio.to_thread.run_sync(running.listener.start)
        try:
            yield
        finally:
            hub.close()
            await anyio.to_thread.run_sync(_close, running, settings)

    app = FastAPI(
        title="Video Storyteller",
        version=__version__,
        summary="Turns batches of videos into short, grounded, news-style stories.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.access = Access(
        open_without_users=loopback and not settings.sign_in_required,
        limiter=SignInLimiter(
            per_name=settings.sign_in_failures_per_name,
            per_client=settings.sign_in_failures_per_client,
            window_s=settings.sign_in_window_minutes * 60,
        ),
    )
    guard.install(app, settings)
    errors.install(app)
    # Every /api route needs someone signed in (or the open mode), and never reaches
    # another member's job, video or upload; /health and signing in do not. Every route
    # declares the error statuses of the one table (api/errors.py).
    declared = errors.openapi_responses()
    for module in (uploads, tus, jobs, media, exports, estimate, events):
        app.include_router(module.router, dependencies=[Depends(signed_in)], responses=declared)
    app.include_router(system.router, responses=declared)
    app.include_router(system.gated, dependencies=[Depends(signed_in)], responses=declared)
    app.include_router(accounts.router, responses=declared)
    app.include_router(accounts.gated, responses=declared)
    app.state.oidc = oidc.provider(settings)
    app.include_router(oidc.router, responses=declared)
    # The admin's routes and /metrics: signed in, then `AdminDep` on each.
    for module in (admin, metrics):
        app.include_router(module.router, dependencies=[Depends(signed_in)], responses=declared)
    page.install(app)
    return app


@dataclass
class _Running:
    """What runs beside the app and is stopped with it."""

    database: Database
    engine: EmbeddedEngine | None = None
    notifier: Notifier | None = None
    listener: Listener | None = None


def _open(
    state: State, settings: Settings, start_engine: bool, job: str, hub: EventHub
) -> _Running:
    """Migrate, open the stores and start what runs beside the app; what the endpoints
    reach goes into `state` (see `api/deps.py`)."""
    url = default_database_url(settings)
    migrate(url)
    db = make_engine(url, pool_size=10, max_overflow=30)
    videos = video_store(settings)
    videos.check()  # a StorageError says what to fix (`storyteller serve` says it first)
    store = UploadStore.from_settings(settings)
    removed = store.cleanup_partials(STALE_PARTIAL_S)
    if removed:
        log.info("deleted %d partial uploads left by a stopped server", removed)
    tus = TusStore(
        store, expiry_s=settings.tus_expiry_hours * 3600, max_open=settings.max_open_uploads
    )
    tus.cleanup_expired()
    queue = JobQueue(db)
    running = _Running(database=Database(db))
    if settings.job_engine == "workers":
        # `storyteller worker`s do the work; changes reach this process's browsers
        # through PostgreSQL, whichever process made them.
        running.notifier = Notifier(db)
        running.listener = Listener(
            url,
            {
                VIDEOS_CHANNEL: lambda payload: hub.changed(video_ids(payload)),
                DELETED_CHANNEL: hub.deleted,
            },
            on_reconnect=lambda: hub.publish("reset", None, {}),
        )
    elif start_engine:
        running.engine = EmbeddedEngine(
            settings,
            db,
            job=job,
            queue=queue,
            on_change=hub.changed,
            later=later_hook(settings, db, queue, on_change=hub.changed),
        )
    state.database = running.database
    state.videos = videos
    state.uploads = store
    state.tus = tus
    state.actions = UserActions(db)
    state.engine = running.engine
    state.changes = Announcer(hub, engine=running.engine, notifier=running.notifier)
    return running


def _close(running: _Running, settings: Settings) -> None:
    if running.engine is not None:
        running.engine.stop(settings.shutdown_grace_s)
    if running.listener is not None:
        running.listener.stop()
    if running.notifier is not None:
        running.notifier.close()
    running.database.engine.dispose()
