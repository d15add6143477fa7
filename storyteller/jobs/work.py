"""What a worker process does with one claimed video: the job function.

A job function takes an `Attempt`, the settings and a progress callback and returns a
`Result`; it never touches the database (the engine records the result, conditionally
on the claim still being the worker's, so running a job twice can never complete a
video twice). Job functions are named by `module:function` so a worker process started
with `spawn` can import them; tests and benchmarks name their own.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from storyteller.config import Settings
from storyteller.db.models import ErrorCause
from storyteller.jobs.attempt import Attempt, Result, Usage
from storyteller.storage.objects import StorageError, VideoMissing, VideoStore, video_store

if TYPE_CHECKING:
    from storyteller.telling import Telling

DEFAULT_JOB = "storyteller.jobs.work:tell_job"

# progress(stage, fraction of the whole video done)
JobProgress = Callable[[str, float], None]
JobFunction = Callable[[Attempt, Settings, JobProgress], Result]


@functools.cache
def resolve_job(reference: str) -> JobFunction:
    """The function named `module:function`."""
    module_name, _, function_name = reference.partition(":")
    if not module_name or not function_name:
        raise ValueError(f"a job function is named module:function, not {reference!r}")
    function: JobFunction = getattr(importlib.import_module(module_name), function_name)
    return function


def tell_job(attempt: Attempt, settings: Settings, progress: JobProgress) -> Result:
    """The real work: the video from the storage, evidence from it, then a story from
    the teller."""
    # Imported here: the media stack is heavy, and the web process never runs this.
    from storyteller.pipeline.progress import OverallProgress
    from storyteller.telling import tell_video

    with video_file(attempt, settings) as found:
        if isinstance(found, Result):
            return found
        telling = tell_video(
            found,
            settings,
            teller_name=attempt.teller,
            model=attempt.model,
            seed=attempt.seed,
            name=attempt.name,
            progress=OverallProgress(lambda fraction, stage: progress(stage, fraction)),
        )
    return telling_result(telling)


@contextmanager
def video_file(attempt: Attempt, settings: Settings) -> Iterator[Path | Result]:
    """The attempt's video as a file on this machine while the block runs, or the failure
    that says why there is none. With the `local` storage it is read where it is (no
    copy); with `s3` it is fetched into this machine's cache and kept there meanwhile."""
    try:
        with _video_store(settings).local_file(attempt.key) as path:
            yield path
    except VideoMissing as exc:
        yield Result.failed(
            f"{attempt.name}: the uploaded file is missing from storage ({exc.reason})",
            "file_missing",
            retryable=False,
        )
    except StorageError as exc:
        yield Result.failed(f"{attempt.name}: {exc.reason}", "storage", retryable=True)


def telling_result(telling: Telling) -> Result:
    """The engine's result of what `tell_video` made of a video: its story with the
    evidence and what the teller spent, or its failure (the video's fault when trying
    again cannot help, but for a teller that does not exist)."""
    usage = Usage(
        teller=telling.teller,
        model=telling.model,
        tokens_in=telling.tokens_in,
        tokens_out=telling.tokens_out,
        cost_usd=telling.cost_usd,
    )
    if telling.story is not None:
        return Result(
            story=telling.story,
            evidence=telling.evidence,
            evidence_fingerprint=telling.evidence_fingerprint,
            usage=usage if telling.model else None,
        )
    from storyteller.telling import SETTINGS_FAULTS

    code = telling.error_code or "failed"
    video_fault = not telling.retryable and code not in SETTINGS_FAULTS
    return Result.failed(
        telling.error or f"{telling.file}: no story was written",
        code,
        cause=ErrorCause.VIDEO if video_fault else ErrorCause.SERVICE,
        retryable=telling.retryable,
        usage=usage if telling.model else None,
    )


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
