"""Every error is JSON `{"error": "..."}` with a status that says what kind it is, as the
original app answered. One table turns each kind of error into its status; no traceback
ever reaches a client (it goes to the log)."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException
from starlette.routing import Match

from storyteller.api.multipart import BadForm
from storyteller.batches.choices import InvalidChoice
from storyteller.batches.deletion import NoSuchBatch
from storyteller.batches.intake import NothingKept
from storyteller.errors import StorytellerError
from storyteller.jobs.actions import JobError, NotFound, WrongState
from storyteller.storage.objects import StorageError
from storyteller.storage.sniff import NotAVideo
from storyteller.storage.tus import (
    BadMetadata,
    NoSuchUpload,
    TooManyUploads,
    UploadBusy,
    UploadExpired,
    UploadUnfinished,
)
from storyteller.storage.uploads import NoRoom, TooLarge, UploadRefused

log = logging.getLogger(__name__)

# Each kind of error a person may cause or meet, and its status: the first that fits.
STATUSES: tuple[tuple[type[StorytellerError], int], ...] = (
    (BadForm, 400),
    (InvalidChoice, 422),
    (TooLarge, 413),
    (NotAVideo, 415),
    (NoRoom, 507),
    (UploadRefused, 400),
    (NoSuchBatch, 404),
    (NotFound, 404),
    (WrongState, 409),
    (JobError, 400),
    (NoSuchUpload, 404),
    (UploadExpired, 410),
    (UploadUnfinished, 409),
    (UploadBusy, 423),
    (BadMetadata, 400),
    (TooManyUploads, 429),
    (StorageError, 503),  # the storage every process shares is away or refuses us
)

INTERNAL = "internal error: the server could not answer; see its log"


class ApiError(StorytellerError):
    """An error of the HTTP request itself, answered as it is: `status`, the `reason` a
    person can act on, and any headers the client needs (`Tus-Version` on a 412)."""

    code = "bad_request"

    def __init__(self, status: int, reason: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(reason)
        self.status = status
        self.headers = headers or {}


def status_of(error: StorytellerError) -> int | None:
    """The status of an error, or None for one no client should meet (a fault of ours)."""
    if isinstance(error, NothingKept):  # every file refused: the first one's kind
        error = error.first
    return next((status for kind, status in STATUSES if isinstance(error, kind)), None)


def error_response(status: int, reason: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": reason}, status_code=status, headers=headers)


def answer(request: Request, exc: Exception) -> JSONResponse:
    """The answer to any error raised while handling `request`."""
    if isinstance(exc, ApiError):
        return error_response(exc.status, exc.reason, exc.headers)
    if isinstance(exc, HTTPException):
        return _http(request, exc)
    if isinstance(exc, RequestValidationError):
        return error_response(422, _describe_validation(exc))
    status = status_of(exc) if isinstance(exc, StorytellerError) else None
    if status is None:
        log.error("unexpected error on %s %s", request.method, request.url.path, exc_info=exc)
        return error_response(500, INTERNAL)
    if isinstance(exc, StorageError):  # the folder goes to the log, not to the client
        log.warning("storage failed on %s %s: %s", request.method, request.url.path, exc.detail)
    assert isinstance(exc, StorytellerError)
    return error_response(status, exc.reason)


def _http(request: Request, exc: HTTPException) -> JSONResponse:
    reason = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
    headers = dict(exc.headers or {})
    if exc.status_code == 404 and reason == "Not Found":
        reason = f"no such path: {request.url.path}"
    if exc.status_code == 405:
        # Starlette names the methods of the first route of the path only.
        headers["Allow"] = ", ".join(allowed_methods(request))
    return error_response(exc.status_code, reason, headers)


# The methods a 405 may name.
METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def allowed_methods(request: Request) -> list[str]:
    """Every method some route answers at the request's path."""
    return [
        method
        for method in METHODS
        if any(
            route.matches({**request.scope, "method": method})[0] == Match.FULL
            for route in request.app.router.routes
        )
    ]


def _describe_validation(exc: RequestValidationError) -> str:
    problems = []
    for error in exc.errors():
        where = [
            str(part) for part in error.get("loc", ()) if part not in ("body", "query", "path")
        ]
        problems.append(f"{'.'.join(where) or 'request'}: {error.get('msg', 'invalid')}")
    return "; ".join(problems)


def install(app: FastAPI) -> None:
    for kind in (HTTPException, RequestValidationError, StorytellerError, Exception):
        app.add_exception_handler(kind, _handle)


async def _handle(request: Request, exc: Exception) -> JSONResponse:
    return answer(request, exc)
