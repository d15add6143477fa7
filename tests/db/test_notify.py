"""Changes told across processes through PostgreSQL: ids split under the payload limit,
sent by a Notifier and heard by a Listener, which survives losing its connection."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, text

from storyteller.db.notify import (
    DELETED_CHANNEL,
    MAX_PAYLOAD_BYTES,
    QUEUE_CHANNEL,
    VIDEOS_CHANNEL,
    Listener,
    Notifier,
    payloads,
    video_ids,
)
from storyteller.db.session import make_engine

pytestmark = pytest.mark.timeout(60)


def test_ids_are_split_under_the_payload_limit() -> None:
    ids = [str(uuid.uuid4()) for _ in range(1000)]
    sent = payloads(ids)
    assert len(sent) > 1
    assert all(len(payload.encode()) < MAX_PAYLOAD_BYTES < 8000 for payload in sent)
    assert [video for payload in sent for video in video_ids(payload)] == ids
    assert payloads([]) == []


class Heard:
    """What a listener hears, waited for from the test."""

    def __init__(self) -> None:
        self.videos: list[str] = []
        self.wakes = 0
        self.deleted: list[str] = []
        self.reconnects = 0
        self.changed = threading.Condition()

    def video(self, payload: str) -> None:
        with self.changed:
            self.videos.extend(video_ids(payload))
            self.changed.notify_all()

    def wake(self, payload: str) -> None:
        with self.changed:
            self.wakes += 1
            self.changed.notify_all()

    def batch_deleted(self, payload: str) -> None:
        with self.changed:
            self.deleted.append(payload)
            self.changed.notify_all()

    def reconnected(self) -> None:
        with self.changed:
            self.reconnects += 1
            self.changed.notify_all()

    def wait(self, condition, timeout: float = 10) -> None:  # type: ignore[no-untyped-def]
        with self.changed:
            assert self.changed.wait_for(condition, timeout), vars(self)


@pytest.fixture
def postgres(database_url: str) -> Iterator[tuple[str, Engine]]:
    db = make_engine(database_url)
    yield database_url, db
    db.dispose()


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_listener_hears_what_a_notifier_sends_and_survives_a_lost_connection(
    postgres: tuple[str, Engine],
) -> None:
    url, db = postgres
    heard = Heard()
    name = f"test-listen-{uuid.uuid4().hex[:8]}"
    listener = Listener(
        url,
        {
            VIDEOS_CHANNEL: heard.video,
            QUEUE_CHANNEL: heard.wake,
            DELETED_CHANNEL: heard.batch_deleted,
        },
        on_reconnect=heard.reconnected,
        name=name,
    )
    notifier = Notifier(db)
    listener.start()
    try:
        assert listener.listening.is_set()
        ids = [str(uuid.uuid4()) for _ in range(600)]  # more than one payload's worth
        notifier.changed(ids[:300])
        notifier.changed(ids[300:])
        notifier.wake()
        heard.wait(lambda: len(heard.videos) == 600 and heard.wakes >= 1)
        assert sorted(heard.videos) == sorted(ids)  # each once
        notifier.deleted("batch-1")
        heard.wait(lambda: heard.deleted == ["batch-1"])

        # PostgreSQL drops the connection (a restart, a failover): it listens again.
        with db.begin() as connection:
            ended = connection.execute(
                text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                     "WHERE application_name = :name"), {"name": name},
            ).scalars().all()  # fmt: skip
        assert ended == [True]
        heard.wait(lambda: heard.reconnects == 1)
        again = str(uuid.uuid4())
        notifier.changed([again])
        heard.wait(lambda: again in heard.videos)
    finally:
        notifier.close()
        started = time.monotonic()
        listener.stop()
        assert time.monotonic() - started < 3
    assert not listener.listening.is_set()
