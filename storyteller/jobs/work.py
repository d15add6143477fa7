"""What a worker process does with one claimed video: the job function and its result.

A job function takes a `Job` and a progress callback and returns a `JobResult`; it
never touches the database (the engine records the result, conditionally on the claim
still being the worker's, so running a job twice can never complete a video twice).
Job functions are named by `module:function` so a worker process started with `spawn`
can import them; tests and benchmarks name their own.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from storyteller.config import Settings
from storyteller.db.models import ErrorCause
from storyteller.pipeline.evidence import Evidence
from storyteller.storage.objects import StorageError, VideoMissing, VideoStore, video_store
from storyteller.story.model import Story

DEFAULT_JOB = "storyteller.jobs.work:tell_job"

# progress(stage, fraction of the whole video done)
JobProgress = Callable[[str, float], None]


@dataclass(frozen=True)
class Job:
    """One video to turn into a story."""

    video_id: str
    path: Path | None  # the file to read; set from `key` by `tell_job` when a key is given
    name: str
    teller: str
    seed: int
    model: str | None = None  # None: the teller's configured model
    priority: str = "normal"
    key: str | None = None  # the video's key in the storage every process reaches


@dataclass(frozen=True)
class JobResult:
    """A story with the evidence behind it, or the reason there is none."""

    story: Story | None = None
    evidence: Evidence | None = None
    evidence_fingerprint: str | None = None
    error: str | None = None
    error_code: str | None = None
    cause: ErrorCause = ErrorCause.SERVICE
    retryable: bool = False
    # The model that wrote it and what it spent (None for the local teller).
    model: str | None = None
    tokens_in: int | None = None
    tokens_out: int | None = None
    cost_usd: float | None = None
    # Gemini Batch Mode: the request to send later instead of a story (see batch_mode.py).
    batch_request: dict[str, Any] | None = None

    @classmethod
    def failure(
        cls,
        reason: str,
        code: str,
        *,
        cause: ErrorCause = ErrorCause.SERVICE,
        retryable: bool,
        model: str | None = None,
        tokens_in: int | None = None,
        tokens_out: int | None = None,
        cost_usd: float | None = None,
    ) -> JobResult:
        """No story; the tokens and cost, when a model answered before it went wrong."""
        return cls(
            error=reason,
            error_code=code,
            cause=cause,
            retryable=retryable,
            model=model,
            tokens_in=tokens_in,
            tokens_out=tokens_out,
            cost_usd=cost_usd,
        )


JobFunction = Callable[[Job, Settings, JobProgress], JobResult]


def resolve_job(reference: str) -> JobFunction:
    """The function named `module:function`."""
    module_name, _, function_name = reference.partition(":")
    if not module_name or not function_name:
        raise ValueError(f"a job function is named module:function, not {reference!r}")
    function: JobFunction = getattr(importlib.import_module(module_name), function_name)
    return function


def tell_job(job: Job, settings: Settings, progress: JobProgress) -> JobResult:
    """The real work: the video from the storage, evidence from it, then a story from
    the teller. With the `local` storage the file is read where it is (no copy); with
    `s3` it is fetched into this machine's cache and kept there while the job runs."""
    if job.key is None:
        return _tell_file(job, settings, progress)  # a file given as it is (tests, bench)
    try:
        with _video_store(settings).local_file(job.key) as path:
            return _tell_file(replace(job, path=path), settings, progress)
    except VideoMissing as exc:
        return JobResult.failure(
            f"{job.name}: the uploaded file is missing from storage ({exc.reason})",
            "file_missing",
            retryable=False,
        )
    except StorageError as exc:
        return JobResult.failure(f"{job.name}: {exc.reason}", "storage", retryable=True)


# One store per worker process and storage (an S3 client is worth keeping).
_stores: dict[tuple[Any, ...], VideoStore] = {}


def _video_store(settings: Settings) -> VideoStore:
    where = (
        settings.storage,
        settings.storage_dir,
        settings.data_dir,
        settings.s3_bucket,
        settings.s3_prefix,
        settings.s3_endpoint_url,
        settings.s3_region,
        settings.fetch_cache_mb,
    )
    store = _stores.get(where)
    if store is None:
        store = _stores[where] = video_store(settings)
    return store


def _tell_file(job: Job, settings: Settings, progress: JobProgress) -> JobResult:
    """Evidence from the video at `job.path`, then a story from the teller."""
    # Imported here: the media stack is heavy, and a worker for another job never needs it.
    from storyteller.pipeline.cache import analysis_fingerprint
    from storyteller.pipeline.run import OverallProgress
    from storyteller.tellers.pricing import cost_usd
    from storyteller.tellers.registry import configured_model, with_model
    from storyteller.tellers.remote import model_of, usage_of
    from storyteller.telling import tell_video

    if job.path is None or not job.path.is_file():
        return JobResult.failure(
            f"{job.name}: the uploaded file is missing from storage",
            "file_missing",
            retryable=False,
        )
    if job.model:
        settings = with_model(settings, job.teller, job.model)
    from storyteller.tellers.gemini_batch import in_batch_mode

    if in_batch_mode(settings, job.teller, job.priority):
        from storyteller.jobs.batch_mode import prepare_batch_request

        return prepare_batch_request(job, settings, progress)
    telling = tell_video(
        job.path,
        settings,
        teller_name=job.teller,
        seed=job.seed,
        name=job.name,
        progress=OverallProgress(lambda fraction, stage: progress(stage, fraction)),
    )
    if telling.story is not None:
        usage = usage_of(telling.story)
        return JobResult(
            story=telling.story,
            model=model_of(telling.story) or None,
            evidence=telling.evidence,
            evidence_fingerprint=analysis_fingerprint(settings),
            tokens_in=usage.tokens_in if usage else None,
            tokens_out=usage.tokens_out if usage else None,
            cost_usd=cost_usd(
                settings, job.teller, model_of(telling.story), usage.tokens_in, usage.tokens_out
            )
            if usage
            else None,
        )
    # What is not worth retrying is the file's fault, but for a teller that does not exist.
    code = telling.error_code or "failed"
    video_fault = not telling.retryable and code != "unknown_teller"
    model = configured_model(job.teller, settings)
    return JobResult.failure(
        telling.error or f"{job.name}: no story was written",
        code,
        cause=ErrorCause.VIDEO if video_fault else ErrorCause.SERVICE,
        retryable=telling.retryable,
        model=model,
        tokens_in=telling.tokens_in,
        tokens_out=telling.tokens_out,
        cost_usd=cost_usd(settings, job.teller, model, telling.tokens_in, telling.tokens_out)
        if model
        else None,
    )
