"""The admin's API: the dashboard's numbers and every control (pause and resume all
processing or one batch, a batch's priority, retry every failure of one cause, drain and
stop workers). Every route is behind the one guard `AdminDep`."""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from storyteller.admin.summary import read_summary, workers
from storyteller.api.deps import ActionsDep, AdminDep, DatabaseDep, LiveChangesDep, SettingsDep
from storyteller.api.views import timestamp
from storyteller.db.models import Priority
from storyteller.db.types import utcnow

router = APIRouter(prefix="/api/admin", tags=["admin"])


class Paused(BaseModel):
    paused: bool = Field(description="Whether all processing is paused now.")


class BatchControl(BaseModel):
    jobId: str
    paused: bool | None = None
    priority: Priority | None = None
    videos: int = Field(description="Waiting videos the change reached.")


class PriorityChange(BaseModel):
    priority: Priority


class Retried(BaseModel):
    code: str
    retried: int
    videoIds: list[str]


class WorkerOrder(BaseModel):
    id: str
    draining: bool
    stopRequested: bool


@router.get("/summary", summary="The dashboard's numbers")
def summary(_: AdminDep, database: DatabaseDep, settings: SettingsDep) -> dict[str, Any]:
    """Waiting videos by priority and the oldest wait, what runs now (worker, stage, how
    long), what ended in the last hour and day, videos a minute over the last 24 hours,
    seconds per stage (p50, p95), failures by cause with examples, spending today and
    this month by teller and model against the budgets, the workers and the open batches."""
    with database.read() as session:
        figures = read_summary(session, settings)
    return _plain(figures.__dict__)


@router.post("/pause", response_model=Paused, summary="Pause all processing")
def pause(_: AdminDep, actions: ActionsDep) -> Paused:
    """Nothing new is claimed by any engine, on any machine, once this answers; running
    videos finish."""
    actions.set_paused(True)
    return Paused(paused=True)


@router.post("/resume", response_model=Paused, summary="Resume all processing")
def resume(_: AdminDep, actions: ActionsDep, changes: LiveChangesDep) -> Paused:
    actions.set_paused(False)
    changes.wake()  # every engine claims at once (NOTIFY with many machines)
    return Paused(paused=False)


@router.get("/workers", summary="The engines that run videos")
def list_workers(_: AdminDep, database: DatabaseDep, settings: SettingsDep) -> list[dict[str, Any]]:
    with database.read() as session:
        return _plain(workers(session, settings, utcnow()))


def _plain(value: Any) -> Any:
    """Times as the API writes them everywhere (`timestamp`), inside dicts and lists."""
    if isinstance(value, dt.datetime):
        return timestamp(value)
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value


def _order(actions: ActionsDep, worker_id: str, **order: bool) -> WorkerOrder:
    worker = actions.order_worker(worker_id, **order)
    return WorkerOrder(id=worker.id, draining=worker.draining, stopRequested=worker.stop_requested)


@router.post("/workers/{worker_id}/drain", response_model=WorkerOrder, summary="Drain a worker")
def drain(_: AdminDep, actions: ActionsDep, worker_id: str) -> WorkerOrder:
    """It finishes the videos it holds and takes no other (within a second); it stays up,
    idle, until resumed or stopped."""
    return _order(actions, worker_id, draining=True)


@router.post(
    "/workers/{worker_id}/resume", response_model=WorkerOrder, summary="Undo a worker's drain"
)
def undrain(
    _: AdminDep, actions: ActionsDep, changes: LiveChangesDep, worker_id: str
) -> WorkerOrder:
    answer = _order(actions, worker_id, draining=False)
    changes.wake()
    return answer


@router.post("/workers/{worker_id}/stop", response_model=WorkerOrder, summary="Stop a worker")
def stop(_: AdminDep, actions: ActionsDep, worker_id: str) -> WorkerOrder:
    """As SIGTERM: running videos may finish within the shutdown grace, the rest go back to
    the queue; a `storyteller worker` exits, the engine of a `storyteller serve` stops
    (the server keeps answering)."""
    return _order(actions, worker_id, stop=True)


@router.post("/jobs/{job_id}/pause", response_model=BatchControl, summary="Pause one batch")
def pause_batch(_: AdminDep, actions: ActionsDep, job_id: str) -> BatchControl:
    """Its waiting videos are not claimed; running ones finish."""
    ids = actions.set_batch_paused(job_id, True)
    return BatchControl(jobId=job_id, paused=True, videos=len(ids))


@router.post("/jobs/{job_id}/resume", response_model=BatchControl, summary="Resume one batch")
def resume_batch(
    _: AdminDep, actions: ActionsDep, changes: LiveChangesDep, job_id: str
) -> BatchControl:
    ids = actions.set_batch_paused(job_id, False)
    changes.wake()
    return BatchControl(jobId=job_id, paused=False, videos=len(ids))


@router.post(
    "/jobs/{job_id}/priority", response_model=BatchControl, summary="Change a batch's priority"
)
def batch_priority(
    _: AdminDep, actions: ActionsDep, changes: LiveChangesDep, job_id: str, body: PriorityChange
) -> BatchControl:
    """The batch's waiting videos take the new priority; running ones keep theirs."""
    ids = actions.set_batch_priority(job_id, body.priority)
    changes.changed(ids)
    return BatchControl(jobId=job_id, priority=body.priority, videos=len(ids))


@router.post(
    "/failures/{code}/retry", response_model=Retried, summary="Retry every failure of one cause"
)
def retry_failures(_: AdminDep, actions: ActionsDep, changes: LiveChangesDep, code: str) -> Retried:
    """Every failed video whose reason is of this kind (`code` of the summary's failures)
    is queued again with a fresh set of attempts."""
    ids = actions.retry_failures(code)
    changes.changed(ids)
    return Retried(code=code, retried=len(ids), videoIds=ids)
