"""The live events carry a member's own jobs only, on a real server."""

from __future__ import annotations

import threading
import time

import httpx
import pytest

from storyteller.app import create_app
from storyteller.config import Settings
from tests.accounts.people import add_person
from tests.service.server import served_in_thread

SOME_BYTES = b"\x00\x00\x00\x18ftypmp42" + bytes(4096)


def listen(url: str, key: str, heard: list[str], ready: threading.Event, until: float) -> None:
    headers = {"Authorization": f"Bearer {key}"}
    timeout = httpx.Timeout(10.0, read=0.5)
    with httpx.stream("GET", f"{url}/api/events", headers=headers, timeout=timeout) as answer:
        assert answer.status_code == 200
        ready.set()
        lines = answer.iter_lines()
        while time.monotonic() < until:
            try:
                heard.append(next(lines))
            except (httpx.ReadTimeout, StopIteration):
                continue


@pytest.mark.timeout(60)
def test_live_events_carry_only_ones_own_jobs(settings: Settings, database_url: str) -> None:
    service = create_app(
        settings.model_copy(update={"database_url": database_url}), start_engine=False
    )
    with served_in_thread(service) as url:
        ann = add_person(database_url, "ann")
        bob = add_person(database_url, "bob")
        boss = add_person(database_url, "boss", role="admin")
        heard: dict[str, list[str]] = {"ann": [], "bob": [], "boss": []}
        until = time.monotonic() + 4
        threads = []
        for person in (ann, bob, boss):
            ready = threading.Event()
            thread = threading.Thread(
                target=listen, args=(url, person.key, heard[person.name], ready, until)
            )
            thread.start()
            assert ready.wait(10)
            threads.append(thread)
        upload = httpx.post(
            f"{url}/api/upload",
            files=[("videos", ("anns.mp4", SOME_BYTES, "video/mp4"))],
            headers=ann.auth,
        )
        assert upload.status_code == 200, upload.text
        job = upload.json()["jobId"]
        for thread in threads:
            thread.join(15)
    assert any(job in line for line in heard["ann"])
    assert any(job in line for line in heard["boss"])
    assert not any(job in line or "anns.mp4" in line for line in heard["bob"])
