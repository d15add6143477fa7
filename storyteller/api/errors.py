"""Every error is JSON `{"error": "..."}` with a status that says what kind it is, as the
original app answered. One table turns each kind of error into its status; no traceback
ever reaches a client (it goes to the log)."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException
from starlette.routing import Match

from storyteller.accounts.quotas import QuotaExceeded
from storyteller.accounts.users import AccountError, NameTaken, NoSuchKey, NoSuchUser
from storyteller.api.multipart import BadForm
from storyteller.batches.choices import InvalidChoice
from storyteller.batches.deletion import NoSuchBatch
from storyteller.batches.intake import NothingKept
from storyteller.errors import StorytellerError
from storyteller.jobs.actions import JobError, NotFound, WrongState
from storyteller.storage.objects import StorageError, VideoMissing
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
    (VideoMissing, 410),  # its batch deleted, or the storage cleaned up
    (StorageError, 503),  # the storage every process shares is away or refuses us
    (QuotaExceeded, 429),
    (NoSuchUser, 404),
    (NoSuchKey, 404),
    (NameTaken, 409),
    (AccountError, 422),
)

INTERNAL = "internal error: the server could not answer; see its log"

# Statuses answered by the request itself (`ApiError`), by the guard in front of the
# routes (`api/guard.py`), by the tus protocol and by FastAPI's validation.
REQUEST_STATUSES = (400, 401, 403, 404, 405, 409, 412, 413, 415, 416, 422, 429, 460, 500)

# Why each status is answered, for the OpenAPI schema.
MEANINGS = {
    400: "The request cannot be read as asked (or its Host is not one this service answers to)",
    401: "Nobody signed in: sign in, or send an API key as `Authorization: Bearer KEY`",
    403: "Not allowed: a cross-site request (its page's origin is neither this service nor an "
    "allowed one), or an admin's action asked by a member",
    404: "No such job, video, upload or path",
    405: "The path exists, not with that method (Allow lists the methods)",
    409: "The action does not fit the state (a video that has not failed, an unfinished upload)",
    410: "The resumable upload expired, or the video's file is no longer stored",
    416: "The range asked for is past the end of the file (Content-Range: bytes */size)",
    412: "No Tus-Resumable: 1.0.0 header (tus)",
    413: "Over the size limit",
    415: "Not a video, or not the content type asked for",
    422: "A field has a bad value: the message names it",
    423: "Another request is writing to this upload",
    429: "Too many: open uploads, failed sign-ins, or a quota (the message says what resets when)",
    460: "Upload-Checksum does not match the bytes (tus)",
    500: "A fault of ours; the server's log says what",
    503: "The storage every process shares, or the sign-in provider, is away or refuses us",
    507: "The disk is too full to keep the upload",
}


class ErrorAnswer(BaseModel):
    """Every error: a sentence a person can act on."""

    error: str


def openapi_responses() -> dict[int | str, dict[str, Any]]:
    """Every error status the API answers, each `{"error": "..."}`: declared once for every
    route (`app.py`), from the table above and `STATUSES`."""
    statuses = sorted({*REQUEST_STATUSES, *(status for _, status in STATUSES)})
    return {status: {"model": ErrorAnswer, "description": MEANINGS[status]} for status in statuses}


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
        if exc.errors() and all(e.get("type") == "json_invalid" for e in exc.errors()):
            return error_response(400, _describe_bad_json(exc))
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
    if exc.status_code == 400 and reason == BODY_UNREADABLE:
        # FastAPI's answer to a body that is not UTF-8: said as a bad JSON body is.
        reason = f"{BAD_JSON}: it is not UTF-8 text"
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


# What FastAPI says of a body it cannot decode; what we say of any unreadable JSON body.
BODY_UNREADABLE = "There was an error parsing the body"
BAD_JSON = "the body is not valid JSON"


def _describe_bad_json(exc: RequestValidationError) -> str:
    error = exc.errors()[0]
    why = (error.get("ctx") or {}).get("error") or "it cannot be read"
    where = error.get("loc", ())[-1] if error.get("loc") else None
    return f"{BAD_JSON}: {why}" + (f" (at character {where})" if isinstance(where, int) else "")


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
