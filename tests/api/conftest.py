"""The app in-process, through httpx's ASGI transport, on SQLite and on PostgreSQL, with its
lifespan run (migrations, the job engine and its worker processes)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from storyteller.app import create_app
from storyteller.config import Settings

MakeClient = Callable[..., Awaitable[httpx.AsyncClient]]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def make_client(settings: Settings, database_url: str) -> AsyncIterator[MakeClient]:
    """make_client(start_engine=False, job=None, **settings): a client of a running app."""
    stack: list[tuple[FastAPI, Any, httpx.AsyncClient]] = []

    async def make(
        *, start_engine: bool = False, job: str | None = None, **overrides: Any
    ) -> httpx.AsyncClient:
        app_settings = settings.model_copy(update={"database_url": database_url, **overrides})
        app = create_app(app_settings, start_engine=start_engine, job=job)
        lifespan = app.router.lifespan_context(app)
        await lifespan.__aenter__()
        client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app), base_url="http://storyteller.test", timeout=60
        )
        stack.append((app, lifespan, client))
        return client

    yield make
    for _, lifespan, client in reversed(stack):
        await client.aclose()
        await lifespan.__aexit__(None, None, None)


def video_files(*files: tuple[str, Path | bytes]) -> list[tuple[str, tuple[str, bytes, str]]]:
    """The multipart `videos` fields for (name, path or bytes) pairs."""
    fields = []
    for name, content in files:
        data = content.read_bytes() if isinstance(content, Path) else content
        fields.append(("videos", (name, data, "video/mp4")))
    return fields


async def wait_for_job(
    client: httpx.AsyncClient, job_id: str, *, timeout: float = 120, every: float = 0.5
) -> dict[str, Any]:
    """Poll `GET /api/job/{id}` as the original front end does, until every video has
    ended; the last answer."""
    import anyio

    deadline = time.monotonic() + timeout
    while True:
        answer = await client.get(f"/api/job/{job_id}")
        assert answer.status_code == 200, answer.text
        job: dict[str, Any] = answer.json()
        if all(v["status"] in ("completed", "failed") for v in job["videos"]):
            return job
        if time.monotonic() > deadline:
            raise AssertionError(f"the job did not end within {timeout} s: {job}")
        await anyio.sleep(every)
