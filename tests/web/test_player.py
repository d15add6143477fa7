"""Chromium's own `<video>` plays a stored video from `GET /api/videos/{id}/media`: it
reads the headers, asks for ranges, and seeks without an error, with the sign-in cookie
(as the page's player does), while another member's browser gets nothing."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser

from storyteller.api.deps import SESSION_COOKIE
from storyteller.app import create_app
from storyteller.config import Settings
from tests.accounts.people import PASSWORD, Person, add_person
from tests.api.conftest import video_files
from tests.media import Clip
from tests.service.server import served_in_thread

PLAY = """async (source) => {
    const video = document.createElement("video");
    video.muted = true;
    video.preload = "auto";
    document.body.append(video);
    const happened = (name) => new Promise((done) => video.addEventListener(name, done, {once: true}));
    const failed = happened("error").then(() => `error ${video.error && video.error.code}`);
    const loaded = happened("loadedmetadata");
    video.src = source;
    const first = await Promise.race([loaded, failed]);
    if (typeof first === "string") return {error: first};
    const duration = video.duration;
    const seeked = happened("seeked");
    video.currentTime = 3.0;
    const second = await Promise.race([seeked, failed]);
    if (typeof second === "string") return {error: second};
    return {error: video.error ? video.error.code : null, duration, at: video.currentTime,
            ready: video.readyState};
}"""


@pytest.fixture
def address(tmp_path: Path) -> Iterator[tuple[str, str]]:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    settings = Settings(_env_file=None, data_dir=tmp_path / "data", database_url=url)  # type: ignore[call-arg]
    with served_in_thread(create_app(settings, start_engine=False)) as served:
        yield served, url


def signed_in_cookie(base: str, person: Person) -> str:
    answer = httpx.post(
        f"{base}/api/auth/login", json={"name": person.name, "password": PASSWORD}, timeout=30
    )
    assert answer.status_code == 200, answer.text
    return answer.cookies[SESSION_COOKIE]


def test_the_player_loads_and_seeks_with_the_sign_in_cookie(
    browser: Browser, address: tuple[str, str], snow_clip: Clip
) -> None:
    base, database_url = address
    ann, bob = add_person(database_url, "ann"), add_person(database_url, "bob")
    made = httpx.post(
        f"{base}/api/upload",
        files=video_files(("snow.webm", snow_clip.path)),
        headers={"Authorization": f"Bearer {ann.key}"},
        timeout=30,
    )
    assert made.status_code == 200, made.text
    media = f"/api/videos/{made.json()['videos'][0]['id']}/media"
    for person, allowed in ((ann, True), (bob, False)):
        context = browser.new_context(base_url=base)
        context.add_cookies(
            [{"name": SESSION_COOKIE, "value": signed_in_cookie(base, person), "url": base}]
        )
        asked: list[str | None] = []
        context.on(
            "request", lambda request, asked=asked: asked.append(request.headers.get("range"))
        )
        page = context.new_page()
        page.goto("/health")
        played = page.evaluate(PLAY, media)
        context.close()
        if allowed:
            assert played["error"] is None, played
            assert played["duration"] == pytest.approx(4.0, abs=0.2)
            assert played["at"] == pytest.approx(3.0, abs=0.05) and played["ready"] >= 1
            assert any(value and value.startswith("bytes=") for value in asked), asked
        else:
            assert played == {"error": "error 4"}  # MEDIA_ERR_SRC_NOT_SUPPORTED: a 404
