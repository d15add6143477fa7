"""The outbox on both databases: written once with the change that causes it, claimed by
one process at a time, and guarded at delivery as at registration."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, func, select, update
from sqlalchemy.orm import Session

from storyteller.config import Settings
from storyteller.db import crud
from storyteller.db.models import (
    Channel,
    OutboxMessage,
    Story,
    Video,
    VideoStatus,
    WebhookEndpoint,
)
from storyteller.jobs.attempt import Attempt, Result
from storyteller.jobs.queue import JobQueue
from storyteller.notifications import events, outbox, webhooks
from storyteller.notifications.addresses import Allowed, Refused, check
from storyteller.notifications.outbox import Message
from storyteller.story.model import Story as StoryText
from tests.jobs.scripted import a_story
from tests.notifications.receiver import Answer, Receiver

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as running:
        yield running


def endpoint(session: Session, url: str, events: list[str]) -> tuple[str, str]:
    hook = WebhookEndpoint(
        id=f"ep_{len(url)}_{len(events)}",
        user_id=None,
        url=url,
        events=events,
        secret=webhooks.new_secret(),
        enabled=True,
    )
    session.add(hook)
    session.commit()
    return hook.id, hook.secret


def finish_with(queue: JobQueue, attempt: Attempt, together: threading.Barrier) -> None:
    together.wait()
    queue.complete(attempt, Result(story=a_story(attempt.name)))


def test_batch_completed_is_written_once_when_its_last_videos_end_together(
    engine: Engine, session: Session
) -> None:
    endpoint(session, "https://hooks.example/in", ["batch.completed"])
    queue = JobQueue(engine)
    for _ in range(10):
        batch = crud.create_batch(
            session,
            videos=[crud.VideoCreate(f"v{n}.mp4", 10, "0" * 64, f"k{n}") for n in range(2)],
            teller="local",
        )
        session.commit()
        attempts = [queue.claim("w1")[0], queue.claim("w2")[0]]
        together = threading.Barrier(2)

        threads = [
            threading.Thread(target=finish_with, args=(queue, attempt, together))
            for attempt in attempts
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        written = session.scalar(
            select(func.count())
            .select_from(OutboxMessage)
            .where(OutboxMessage.batch_id == batch.id, OutboxMessage.event == "batch.completed")
        )
        assert written == 1


def test_the_e_mail_reads_the_same_event(session: Session, tmp_path) -> None:  # type: ignore[no-untyped-def]
    batch = crud.create_batch(
        session,
        videos=[crud.VideoCreate("a.mp4", 10, "0" * 64, "k", error="a.mp4 is not a video")],
        teller="local",
    )
    session.commit()
    chosen = Settings(_env_file=None, data_dir=tmp_path, public_url="https://s.example")  # type: ignore[call-arg]
    event = events.batch_completed_event(session, chosen, batch.id)
    assert event["type"] == "batch.completed"
    assert event["data"]["batch"]["url"] == f"https://s.example/?job={batch.id}"
    assert event["data"]["batch"]["counts"] == {"completed": 0, "failed": 1, "cancelled": 0}
    assert event["data"]["videos"][0]["error"] == "a.mp4 is not a video"
    with pytest.raises(LookupError):
        events.batch_completed_event(session, chosen, "no-such-batch")


def message_to(url: str, secret: str) -> Message:
    return Message(
        id=outbox.new_message_id(),
        event="webhook.test",
        channel=Channel.WEBHOOK,
        payload={"type": "webhook.test", "timestamp": "2026-12-05T00:00:00Z", "data": {}},
        attempt=1,
        claimed_by="test",
        endpoint_id="ep_test",
        url=url,
        secret=secret,
    )


def test_delivery_checks_the_address_again(receiver: Receiver, tmp_path) -> None:  # type: ignore[no-untyped-def]
    secret = webhooks.new_secret()
    receiver.secret = secret
    closed = Settings(_env_file=None, data_dir=tmp_path)  # type: ignore[call-arg]
    port = receiver.port
    for url in (
        receiver.url,
        f"https://127.0.0.1:{port}/hook",
        f"https://localhost:{port}/hook",
        f"https://localhost.:{port}/hook",
        f"https://vm:{port}/hook",  # a name of this machine in /etc/hosts
        f"https://[::ffff:127.0.0.1]:{port}/hook",
    ):
        outcome = webhooks.deliver(closed, message_to(url, secret))
        assert not outcome.delivered and outcome.status is None, url
    assert receiver.arrivals == []  # nothing was sent
    by_name = closed.model_copy(update={"webhook_allowed_hosts": "localhost"})
    assert webhooks.deliver(by_name, message_to(f"http://localhost:{port}/hook", secret)).delivered
    by_network = closed.model_copy(update={"webhook_allowed_hosts": "127.0.0.0/8"})
    assert webhooks.deliver(by_network, message_to(receiver.url, secret)).delivered
    assert [a.verified for a in receiver.arrivals] == [True, True]


def test_a_slow_receiver_is_cut_off_and_tried_again(receiver: Receiver, tmp_path) -> None:  # type: ignore[no-untyped-def]
    receiver.answers = [Answer(200, delay_s=3)]
    hurried = Settings(  # type: ignore[call-arg]
        _env_file=None, data_dir=tmp_path, webhook_allowed_hosts="127.0.0.1", webhook_timeout_s=0.5
    )
    started = time.monotonic()
    outcome = webhooks.deliver(hurried, message_to(receiver.url, webhooks.new_secret()))
    assert time.monotonic() - started < 2
    assert (
        not outcome.delivered and outcome.retryable and "no answer within" in (outcome.error or "")
    )


def test_addresses_embedding_internal_ones_are_refused() -> None:
    closed = Allowed(hosts=frozenset(), networks=())
    for url in (
        "https://[::ffff:10.0.0.1]/",
        "https://[64:ff9b::7f00:1]/",  # NAT64 of 127.0.0.1
        "https://[2002:7f00:1::1]/",  # 6to4 of 127.0.0.1
        "https://[fe80::1]/",
        "https://[ff02::1]/",
        "https://[::]/",
        "https://192.168.1.1/",
        "https://172.16.0.1/",
    ):
        with pytest.raises(Refused):
            check(url, closed)
    assert check("https://93.184.216.34/x", closed).address.compressed == "93.184.216.34"


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_two_processes_drain_one_outbox_delivering_each_message_once(
    database_url: str, receiver: Receiver
) -> None:
    from storyteller.db.migrate import migrate
    from storyteller.db.session import make_engine

    migrate(database_url)
    engine = make_engine(database_url)
    with Session(engine) as session:
        hook_id, secret = endpoint(session, receiver.url, ["batch.completed"])
        receiver.secret = secret
        ids = [
            outbox.write(
                session,
                event="webhook.test",
                channel=Channel.WEBHOOK,
                payload={"type": "webhook.test", "n": n},
                endpoint_id=hook_id,
            )
            for n in range(120)
        ]
        session.commit()
    environment = {**os.environ, "STORYTELLER_WEBHOOK_ALLOWED_HOSTS": "127.0.0.1"}
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.notifications.drain", database_url, "60"],
            cwd=ROOT,
            env=environment,
        )
        for _ in range(2)
    ]
    for process in processes:
        assert process.wait(timeout=90) == 0
    counted = Counter(arrival.id for arrival in receiver.arrivals)
    assert sorted(counted) == sorted(ids)
    assert set(counted.values()) == {1}
    assert all(arrival.verified for arrival in receiver.arrivals)
    with engine.connect() as connection:
        states = connection.execute(
            select(OutboxMessage.state, OutboxMessage.claimed_by, func.count()).group_by(
                OutboxMessage.state, OutboxMessage.claimed_by
            )
        ).all()
    assert {state for state, _, _ in states} == {"delivered"}
    engine.dispose()


def test_the_payload_carries_the_story_its_owner_chose(session: Session) -> None:
    """What is sent is the current story, as what is shown and exported: the version its
    owner chose, else the newest."""
    batch = crud.create_batch(
        session, videos=[crud.VideoCreate("a.mp4", 10, "1" * 64, "k")], teller="local"
    )
    (video,) = batch.videos
    for title in ("First Telling", "Second Telling"):
        crud.insert_story_version(
            session.connection(), video_id=video.id, story=told(title), teller="local", seed=0
        )
    session.execute(update(Video).where(Video.id == video.id).values(status=VideoStatus.COMPLETED))
    session.flush()

    def sent_title() -> str | None:
        payload = events.batch_payload(session, batch.id)
        assert payload is not None
        return payload["data"]["videos"][0]["title"]

    assert "Second Telling" in (sent_title() or "")
    first = session.scalars(
        select(Story.id).where(Story.video_id == video.id, Story.version == 1)
    ).one()
    session.execute(update(Video).where(Video.id == video.id).values(current_story_id=first))
    assert "First Telling" in (sent_title() or "")


def told(title: str) -> StoryText:
    return StoryText(
        title=title,
        place="Banff",
        region="Alberta",
        date=dt.date(2025, 1, 14),
        paragraphs=["One.", "Two.", "Three."],
        disclaimer="This story was written by AI from the video and is for entertainment only.",
    )
