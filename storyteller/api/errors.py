"""Every error is JSON `{"error": "..."}` with a status that says what kind it is, as the
original app answered. No traceback ever reaches a client; it goes to the log."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from storyteller.jobs.actions import JobError, NotFound, WrongState
from storyteller.storage.objects import StorageError
from storyteller.storage.sniff import NotAVideo
from storyteller.storage.uploads import NoRoom, TooLarge, UploadRefused

log = logging.getLogger(__name__)


class ApiError(Exception):
    """An error answered as it is: `status` and the `reason` a person can act on."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def error_response(status: int, reason: str, **extra: object) -> JSONResponse:
    return JSONResponse({"error": reason, **extra}, status_code=status)


def refusal_status(refusal: UploadRefused) -> int:
    if isinstance(refusal, TooLarge):
        return 413
    if isinstance(refusal, NotAVideo):
        return 415
    if isinstance(refusal, NoRoom):
        return 507
    return 400


def _describe_validation(exc: RequestValidationError) -> str:
    problems = []
    for error in exc.errors():
        where = [
            str(part) for part in error.get("loc", ()) if part not in ("body", "query", "path")
        ]
        problems.append(f"{'.'.join(where) or 'request'}: {error.get('msg', 'invalid')}")
    return "; ".join(problems)


def install(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api(request: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc.status, exc.reason)

    @app.exception_handler(HTTPException)
    async def _http(request: Request, exc: HTTPException) -> JSONResponse:
        reason = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        if exc.status_code == 404 and reason == "Not Found":
            reason = f"no such path: {request.url.path}"
        return JSONResponse({"error": reason}, status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        return error_response(422, _describe_validation(exc))

    @app.exception_handler(JobError)
    async def _job(request: Request, exc: JobError) -> JSONResponse:
        status = 404 if isinstance(exc, NotFound) else 409 if isinstance(exc, WrongState) else 400
        return error_response(status, exc.reason)

    @app.exception_handler(StorageError)
    async def _storage(request: Request, exc: StorageError) -> JSONResponse:
        # The storage every process shares is away or refuses us: try again later.
        log.warning("storage failed on %s %s: %s", request.method, request.url.path, exc.reason)
        return error_response(503, exc.reason)

    @app.exception_handler(UploadRefused)
    async def _refused(request: Request, exc: UploadRefused) -> JSONResponse:
        return error_response(refusal_status(exc), exc.reason)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return error_response(500, "internal error: the server could not answer; see its log")
