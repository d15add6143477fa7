"""The web page: plain HTML, CSS and JavaScript from storyteller/web, no build step."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

WEB = Path(__file__).resolve().parent.parent / "web"

router = APIRouter(include_in_schema=False)


@router.get("/")
def page() -> FileResponse:
    # The page asks for its state (?job=...) itself: one file serves every view.
    return FileResponse(WEB / "index.html", headers={"Cache-Control": "no-cache"})


@router.get("/admin")
def admin_page() -> FileResponse:
    # The dashboard reads its figures itself (GET /api/admin/summary, behind AdminDep).
    return FileResponse(WEB / "admin.html", headers={"Cache-Control": "no-cache"})


@router.get("/settings")
def settings_page() -> FileResponse:
    # Notification settings; the page reads and changes them through /api/notifications
    # and /api/webhooks, each behind the sign-in.
    return FileResponse(WEB / "settings.html", headers={"Cache-Control": "no-cache"})


def install(app: FastAPI) -> None:
    app.include_router(router)
    app.mount("/assets", StaticFiles(directory=WEB), name="assets")
