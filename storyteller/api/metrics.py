"""`GET /metrics` for Prometheus (the figures are read from the database: see
`storyteller/admin/metrics.py`)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST

from storyteller.admin.metrics import render
from storyteller.api.deps import AdminDep, DatabaseDep, SettingsDep

router = APIRouter(tags=["admin"])


@router.get("/metrics", response_class=Response, summary="Metrics in Prometheus' text format")
def metrics(_: AdminDep, database: DatabaseDep, settings: SettingsDep) -> Response:
    """Queue depth by state and priority, seconds per stage, failures by cause, tokens and
    dollars by model, upload bytes, the workers: for the whole service, whichever web
    process answers."""
    with database.read() as session:
        body = render(session, settings)
    return Response(body, media_type=CONTENT_TYPE_LATEST)
