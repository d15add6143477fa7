"""Live updates from a real server: every change of a video arrives as a Server-Sent
Event, and a client that reconnects with Last-Event-ID gets what it missed."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator

import httpx
import pytest

from storyteller.pipeline.progress import BY_CODE
from tests.media import Clip
from tests.service.server import ServeProcess

pytestmark = pytest.mark.timeout(180)


def read_events(response: httpx.Response) -> Iterator[dict]:
    """Parsed events of an SSE stream: {"id", "event", "data"}."""
    event: dict = {}
    for line in response.iter_lines():
        if not line:
            if "event" in event:
                yield event
            event = {}
        elif line.startswith(":"):
            continue
        else:
            field, _, value = line.partition(": ")
            event[field] = json.loads(value) if field == "data" else value


def test_a_video_s_way_arrives_as_events_and_can_be_replayed(
    served: ServeProcess, speech_clip: Clip
) -> None:
    received: list[dict] = []
    opened, finished = threading.Event(), threading.Event()

    def listen() -> None:
        with httpx.stream("GET", f"{served.url}/api/events", timeout=60) as response:
            assert response.headers["content-type"].startswith("text/event-stream")
            opened.set()
            for event in read_events(response):
                received.append(event)
                if event["event"] == "video" and event["data"]["jobStatus"] == "completed":
                    finished.set()
                    return

    listener = threading.Thread(target=listen)
    listener.start()
    assert opened.wait(30)  # the stream is open before the upload
    with speech_clip.path.open("rb") as video:
        job = httpx.post(
            f"{served.url}/api/upload", files={"videos": ("s.mp4", video, "video/mp4")}
        ).json()
    assert finished.wait(120), received
    listener.join(5)

    states = [e["data"]["video"]["statusDetail"] for e in received if e["event"] == "video"]
    assert states[0] == "pending"
    assert "processing" in states
    assert states[-1] == "completed"
    stages = {e["data"]["video"]["stage"] for e in received if e["event"] == "video"} - {None}
    # Progress arrives while it works: the stages the heartbeats caught (which ones depends
    # on the machine's speed; the picture stages now run per scene beside speech).
    assert stages and stages <= set(BY_CODE), stages
    last = received[-1]["data"]
    assert last["jobId"] == job["jobId"]
    assert last["video"]["story"] == served.job(job["jobId"])["videos"][0]["story"]
    numbers = [int(e["id"].split("-")[1]) for e in received]
    assert numbers == sorted(numbers) and len(set(numbers)) == len(numbers)

    # Reconnecting after the first event replays the rest, in order.
    replayed: list[dict] = []
    with httpx.stream(
        "GET", f"{served.url}/api/events",
        headers={"Last-Event-ID": received[0]["id"]}, timeout=30,
    ) as response:  # fmt: skip
        for event in read_events(response):
            replayed.append(event)
            if event["id"] == received[-1]["id"]:
                break
    assert [e["id"] for e in replayed] == [e["id"] for e in received[1:]]

    # An id from before a restart (another epoch) asks the client to fetch the state.
    with httpx.stream(
        "GET", f"{served.url}/api/events", headers={"Last-Event-ID": "abc-5"}, timeout=30
    ) as response:
        first = next(read_events(response))
    assert first["event"] == "reset"
