"""Spending budgets with the real engine and worker processes: a video that would take
the day's or the batch's AI spending past its budget waits in the queue with the reason,
and runs once the budget allows (here: a restart with a larger budget)."""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session

from storyteller.admin.summary import read_summary
from storyteller.api.views import video_view
from storyteller.config import Settings
from storyteller.db import crud
from storyteller.db.models import AttemptCost, Batch, Role, User, Video, VideoStatus
from storyteller.db.types import utcnow
from storyteller.jobs.attempt import Attempt
from storyteller.jobs.budget import Budget, next_day, owner_spent_today
from storyteller.jobs.engine import EmbeddedEngine
from storyteller.jobs.queue import JobQueue
from storyteller.tellers.estimate import estimate_batch
from tests.jobs.conftest import MakeBatch
from tests.jobs.scripted import SCRIPTED, runs
from tests.media import Clip

pytestmark = pytest.mark.timeout(120)


def expected_cost(settings: Settings, seconds: float = 0.0) -> float:
    """What the budget expects a gemini video of `seconds` to cost (the made-up files of
    these batches cannot be read, so they count as 0 s: the prompt and the answer)."""
    dollars = estimate_batch(settings, "gemini", [("video", seconds)]).dollars
    assert dollars is not None and dollars > 0
    return dollars


@pytest.fixture
def run_engine(
    settings: Settings, engine: Engine, queue: JobQueue
) -> Iterator[Callable[..., EmbeddedEngine]]:
    started: list[EmbeddedEngine] = []

    def start(**overrides: object) -> EmbeddedEngine:
        job_engine = EmbeddedEngine(
            settings.model_copy(update=overrides), engine, job=SCRIPTED, concurrency=2, queue=queue
        )
        job_engine.start()
        started.append(job_engine)
        return job_engine

    yield start
    for job_engine in started:
        job_engine.stop(grace_s=0)


def videos(session: Session, batch_id: str) -> list[Video]:
    session.rollback()
    session.expire_all()
    batch = crud.get_batch(session, batch_id)
    assert batch is not None
    return list(batch.videos)


def wait_until(condition: Callable[[], bool], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"not true within {timeout} s"
        time.sleep(0.05)


def settled(session: Session, batch_id: str, completed: int) -> Callable[[], bool]:
    """`completed` videos done and every other one held back with a reason."""

    def check() -> bool:
        found = videos(session, batch_id)
        done = [v for v in found if v.status == VideoStatus.COMPLETED]
        held = [v for v in found if v.status == VideoStatus.PENDING and v.wait_reason]
        return len(done) == completed and len(done) + len(held) == len(found)

    return check


def test_the_daily_budget_holds_videos_back_until_it_allows(
    run_engine: Callable[..., EmbeddedEngine],
    make_batch: MakeBatch,
    session: Session,
    settings: Settings,
) -> None:
    cost = expected_cost(settings)
    batch = make_batch([f"spend-{cost}.mp4"] * 5, teller="gemini")
    # Room for two videos and a half: two run (side by side, each reserving its
    # estimate), the third would pass the budget.
    first = run_engine(daily_budget_usd=2.5 * cost)
    wait_until(settled(session, batch.id, completed=2))
    first.stop(grace_s=0)

    held = [v for v in videos(session, batch.id) if v.status == VideoStatus.PENDING]
    assert len(held) == 3
    for video in held:
        assert "daily budget" in (video.wait_reason or "")
        assert video.attempts == 0  # waiting is not a try
        # looked at again later: in a minute while others run, else after midnight UTC
        assert video.run_after > utcnow() + dt.timedelta(seconds=30)
        assert video_view(video, None, None).waiting == video.wait_reason
    spent = sum(
        s.cost_usd or 0
        for s in crud.current_stories(
            session, video_ids=[v.id for v in videos(session, batch.id)]
        ).values()
    )
    assert spent == pytest.approx(2 * cost)

    # A restart with a larger budget looks at held videos at once.
    run_engine(daily_budget_usd=10 * cost)
    wait_until(settled(session, batch.id, completed=5))
    assert all(v.wait_reason is None for v in videos(session, batch.id))
    assert sorted(runs(settings)) == sorted(v.id for v in batch.videos)  # each ran once


def test_the_batch_budget_holds_each_batch_to_its_own(
    run_engine: Callable[..., EmbeddedEngine],
    make_batch: MakeBatch,
    session: Session,
    settings: Settings,
) -> None:
    cost = expected_cost(settings)
    first = make_batch([f"spend-{cost}.mp4"] * 3, teller="gemini")
    second = make_batch([f"spend-{cost}.mp4"] * 3, teller="gemini")
    local = make_batch(["ok-1.mp4", "ok-2.mp4"])  # the local teller spends nothing
    run_engine(batch_budget_usd=1.5 * cost)
    for batch in (first, second):
        wait_until(settled(session, batch.id, completed=1))
        held = [v for v in videos(session, batch.id) if v.status == VideoStatus.PENDING]
        assert len(held) == 2
        assert all("this batch past its budget" in (v.wait_reason or "") for v in held)
    wait_until(settled(session, local.id, completed=2))


def test_what_a_failed_attempt_spent_counts_against_the_budgets(
    run_engine: Callable[..., EmbeddedEngine],
    make_batch: MakeBatch,
    session: Session,
    settings: Settings,
    queue: JobQueue,
) -> None:
    cost = expected_cost(settings)
    batch = make_batch([f"waste-{cost}.mp4"], teller="gemini")
    run_engine(batch_budget_usd=1.5 * cost)
    wait_until(lambda: videos(session, batch.id)[0].status == VideoStatus.FAILED)
    [wasted] = session.scalars(select(AttemptCost)).all()
    assert (wasted.video_id, wasted.attempt) == (batch.videos[0].id, 1)
    assert (wasted.teller, wasted.model) == ("gemini", "gemini-test")
    assert (wasted.tokens_in, wasted.tokens_out, wasted.cost_usd) == (1000, 200, cost)
    # The budgets count it: today's spending and the batch's.
    today = next_day(utcnow()) - dt.timedelta(days=1)
    spending = Budget(settings, queue.engine).spending(since=today, batch_id=batch.id, besides="")
    assert (spending.today, spending.batch) == (pytest.approx(cost), pytest.approx(cost))


def test_deleting_a_batch_does_not_give_its_money_back(
    run_engine: Callable[..., EmbeddedEngine],
    make_batch: MakeBatch,
    session: Session,
    settings: Settings,
    queue: JobQueue,
) -> None:
    """The stories and failed attempts go with their batch; what they cost stays in the
    ledger, so a user cannot delete their way past a daily budget."""
    cost = expected_cost(settings)
    owner = User(name="spender", role=Role.MEMBER, ai_usd_per_day=100 * cost)
    session.add(owner)
    session.commit()
    batch = make_batch([f"spend-{cost}.mp4", f"waste-{cost}.mp4"], teller="gemini")
    session.execute(update(Batch).where(Batch.id == batch.id).values(owner_id=owner.id))
    session.commit()
    run_engine()
    wait_until(
        lambda: (
            {v.status for v in videos(session, batch.id)}
            == {VideoStatus.COMPLETED, VideoStatus.FAILED}
        )
    )
    today = next_day(utcnow()) - dt.timedelta(days=1)
    budget = Budget(settings, queue.engine)
    before = budget.spending(since=today, batch_id=batch.id, besides="")
    assert (before.today, before.batch) == (pytest.approx(2 * cost), pytest.approx(2 * cost))

    crud.delete_batch(session, batch_id=batch.id)
    session.commit()
    assert session.scalars(select(AttemptCost)).all() == []  # gone with the batch
    after = budget.spending(since=today, batch_id=batch.id, besides="")
    assert after.today == pytest.approx(2 * cost)
    assert owner_spent_today(session, owner_id=owner.id, now=utcnow()) == pytest.approx(2 * cost)
    figures = read_summary(session, settings).spending
    assert figures["todayUsd"] == pytest.approx(2 * cost)
    assert [(u["name"], u["attempts"]) for u in figures["byUser"]] == [("spender", 2)]
    assert figures["byUser"][0]["todayUsd"] == pytest.approx(2 * cost)


def test_the_estimate_follows_the_video_and_an_unknown_price_waits(
    settings: Settings, queue: JobQueue, make_batch: MakeBatch, snow_clip: Clip, tmp_path: Path
) -> None:
    make_batch(["snow.webm"], teller="gemini")
    [claim] = queue.claim("tester")
    now = utcnow()
    budget = Budget(settings.model_copy(update={"daily_budget_usd": 100.0}), queue.engine)
    verdict = budget.admit(claim, snow_clip.path, now)
    assert verdict.allowed
    seconds = snow_clip.frames / snow_clip.fps
    assert verdict.reserve_usd == pytest.approx(expected_cost(settings, seconds), rel=0.05)
    assert verdict.reserve_usd > expected_cost(settings, 0.0)

    unpriced = Budget(
        settings.model_copy(update={"daily_budget_usd": 100.0, "gemini_model": "gemini-99"}),
        queue.engine,
    )
    verdict = unpriced.admit(claim, snow_clip.path, now)
    assert not verdict.allowed
    assert "gemini-99 is not in the prices file" in (verdict.reason or "")


def test_the_daily_budget_starts_again_at_midnight_utc() -> None:
    evening = dt.datetime(2026, 11, 25, 23, 59, tzinfo=dt.timezone(dt.timedelta(hours=-5)))
    assert next_day(evening) == dt.datetime(2026, 11, 27, tzinfo=dt.UTC)


def test_a_video_bound_for_batch_mode_is_counted_at_the_batch_price(
    settings: Settings, queue: JobQueue, make_batch: MakeBatch, snow_clip: Clip
) -> None:
    make_batch(["snow.webm"], teller="gemini", priority="low")
    [claim] = queue.claim("tester")
    budgeted = settings.model_copy(update={"daily_budget_usd": 100.0})
    now = utcnow()
    standard = Budget(budgeted, queue.engine).admit(claim, snow_clip.path, now).reserve_usd
    batch_mode = (
        Budget(budgeted.model_copy(update={"gemini_batch_mode": True}), queue.engine)
        .admit(claim, snow_clip.path, now)
        .reserve_usd
    )
    assert standard is not None and batch_mode is not None
    # gemini-2.5-flash in Batch Mode is half its price (the bundled prices file).
    assert batch_mode == pytest.approx(standard / 2, rel=0.01)


def test_a_video_with_no_copy_on_this_machine_is_estimated_at_0_s(
    settings: Settings, queue: JobQueue, make_batch: MakeBatch
) -> None:
    # With `s3` storage the supervisor reads the length only from a copy at hand; it
    # downloads nothing for the budget (see `budget._length`).
    make_batch(["elsewhere.mp4"], teller="gemini")
    [claim] = queue.claim("tester")
    budget = Budget(settings.model_copy(update={"daily_budget_usd": 100.0}), queue.engine)
    verdict = budget.admit(claim, None, utcnow())
    assert verdict.allowed
    assert verdict.reserve_usd == pytest.approx(expected_cost(settings, 0.0))


def test_workers_checking_at_once_cannot_both_take_the_last_dollars(
    settings: Settings, engine: Engine, make_batch: MakeBatch
) -> None:
    """Six supervisors (own queues and connections, as on six machines) admit a video each
    at the same moment; the daily budget has room for one."""
    make_batch([f"v{i}.mp4" for i in range(6)], teller="gemini")
    claims = JobQueue(engine).claim("tester", limit=6)
    budgeted = settings.model_copy(update={"daily_budget_usd": 1.5 * expected_cost(settings)})
    start = threading.Barrier(len(claims))

    def admit(claim: Attempt) -> bool:
        budget = Budget(budgeted, engine)
        start.wait()
        return budget.admit(claim, None, utcnow()).allowed

    with ThreadPoolExecutor(len(claims)) as pool:
        admitted = list(pool.map(admit, claims))
    assert admitted.count(True) == 1


def test_a_users_daily_budget_holds_their_batches_only(
    run_engine: Callable[..., EmbeddedEngine],
    make_batch: MakeBatch,
    session: Session,
    settings: Settings,
) -> None:
    from storyteller.accounts.users import Limits, add_user, set_limits

    cost = expected_cost(settings)
    thrifty = add_user(session, name="thrifty", role="member", password=None)
    set_limits(session, name="thrifty", limits=Limits(ai_usd_per_day=1.5 * cost))
    lavish = add_user(session, name="lavish", role="member", password=None)
    session.commit()
    theirs = make_batch([f"spend-{cost}.mp4"] * 3, teller="gemini")
    others = make_batch([f"spend-{cost}.mp4"] * 3, teller="gemini")
    theirs.owner_id, others.owner_id = thrifty.id, lavish.id
    session.commit()
    run_engine()  # no budget of the service's own
    wait_until(settled(session, theirs.id, completed=1))
    held = [v for v in videos(session, theirs.id) if v.status == VideoStatus.PENDING]
    assert len(held) == 2
    assert all("its owner's AI spending" in (v.wait_reason or "") for v in held)
    wait_until(settled(session, others.id, completed=3))
