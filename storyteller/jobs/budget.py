"""Spending budgets for the AI tellers: a daily one and one per batch (settings), and a
daily one per user (`users set NAME --ai-usd-per-day`), counted through the batch owner.

Before a video goes to a worker, what it is expected to cost (the estimate of
`storyteller.tellers.estimate`, from its length) is added to what was spent (the ledger
`Spend` of every attempt that cost something, which deleting a batch does not shrink)
and to what the videos running now are expected to spend (reserved on their rows while
they run). When that would pass a budget the video does
not run: it waits in the queue with the reason shown, and is looked at again when
running videos finish (their real cost may be lower than their estimate), when the day
turns (UTC), or when the server starts again (perhaps with a larger budget).

The check and the reservation are one transaction under a lock every worker takes (a
PostgreSQL advisory lock; SQLite's write lock), so two videos cannot both take the last
dollars of a budget, whichever machines their workers are on.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, Select, exists, func, select, text, update
from sqlalchemy.orm import Session

from storyteller.config import Settings
from storyteller.db.models import Batch, Spend, User, Video, VideoStatus
from storyteller.db.session import make_session_factory, write_engine
from storyteller.db.types import utcnow
from storyteller.jobs.attempt import Attempt
from storyteller.jobs.queue import held_by
from storyteller.tellers.estimate import estimate_batch
from storyteller.tellers.gemini_batch import in_batch_mode
from storyteller.tellers.registry import has_models, with_model

log = logging.getLogger(__name__)

# A held video is looked at again this soon while others run (they may cost less than
# their estimates), and at the latest this long after, or when the day turns.
RECHECK_WHILE_RUNNING_S = 60.0
RECHECK_IDLE_S = 15 * 60.0
# Key of the PostgreSQL advisory lock that budget checks take: 64 bits of a fixed name.
BUDGET_LOCK_KEY = int.from_bytes(
    hashlib.sha256(b"storyteller.budget").digest()[:8], "big", signed=True
)


@dataclass(frozen=True)
class Spending:
    """Dollars spent and expected, as the budgets count them."""

    today: float  # on stories written since the start of the day (UTC), and failed tries
    running: float  # expected by the videos running now
    batch: float  # on this batch's stories and failed tries, ever
    batch_running: float  # expected by this batch's videos running now
    owner_today: float = 0.0  # spent today on the batches of the batch's owner
    owner_running: float = 0.0  # expected by the owner's videos running now
    owner_daily: float | None = None  # the owner's daily budget; None: none


@dataclass(frozen=True)
class Verdict:
    """May the video run? If so, `reserve_usd` is what it is expected to spend; if not,
    `reason` says why (in words for its card) and `until` when to look again."""

    reserve_usd: float | None = None
    reason: str | None = None
    until: dt.datetime | None = None

    @property
    def allowed(self) -> bool:
        return self.reason is None


GO = Verdict()


def next_day(now: dt.datetime) -> dt.datetime:
    """The next midnight, UTC: when the daily budget starts again."""
    today = now.astimezone(dt.UTC).date()
    return dt.datetime.combine(today + dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC)


def day_start(now: dt.datetime) -> dt.datetime:
    return next_day(now) - dt.timedelta(days=1)


def dollars(amount: float) -> str:
    """$12.34, or down to the millionth for the small sums a single video costs."""
    if amount >= 0.01 or amount == 0:
        return f"${amount:,.2f}"
    return "$" + f"{amount:.6f}".rstrip("0").rstrip(".")


class Budget:
    """The budgets of `settings`, kept against the spending recorded in the database."""

    def __init__(self, settings: Settings, engine: Engine) -> None:
        self.settings = settings
        self._sessions = make_session_factory(write_engine(engine))
        self._postgres = engine.dialect.name == "postgresql"

    @property
    def enabled(self) -> bool:
        """Whether any budget is set: the service's, or a user's daily one (one indexed
        read, so a budget an admin sets applies from the next claim on)."""
        if self.settings.daily_budget_usd or self.settings.batch_budget_usd:
            return True
        with self._sessions() as session:
            return bool(session.scalar(_ANY_USER_BUDGET))

    def admit(self, attempt: Attempt, path: Path | None, now: dt.datetime) -> Verdict:
        """Whether `attempt`'s video may run now, its length read from `path` (None: no
        copy of the video on this machine, see `_length`). When it may, what it is
        expected to spend is already reserved on its row: the check and the reservation
        are one transaction under the budget lock, so two workers (on any machines)
        cannot both take a budget's last dollars."""
        if not has_models(attempt.teller):
            return GO  # the local teller spends nothing
        global_budget = self.settings.daily_budget_usd or self.settings.batch_budget_usd
        if not global_budget and self._owner_daily(attempt.batch_id) is None:
            return GO
        settings = self.settings
        if attempt.model:
            settings = with_model(settings, attempt.teller, attempt.model)
        estimate = estimate_batch(
            settings,
            attempt.teller,
            [(attempt.name, _length(path))],
            batch=in_batch_mode(settings, attempt.teller, attempt.priority.value),
        )
        expected = estimate.dollars
        if expected is None:
            return Verdict(
                reason=f"waiting for a price: {estimate.model} is not in the prices file, so "
                "the spending budget cannot be kept; add its price (STORYTELLER_PRICES_FILE)",
                until=now + dt.timedelta(seconds=RECHECK_IDLE_S),
            )
        verdicts: list[Verdict] = []

        def fits(spending: Spending) -> bool:
            verdicts.append(self._verdict(spending, expected, now))
            return verdicts[-1].allowed

        self.reserve_within(attempt, usd=expected, since=day_start(now), fits=fits)
        return verdicts[-1]

    def _owner_daily(self, batch_id: str) -> float | None:
        with self._sessions() as session:
            return _owner_budget(session, batch_id)[1]

    def spending(self, *, since: dt.datetime, batch_id: str, besides: str) -> Spending:
        """Dollars spent since `since` and on `batch_id`, and what the videos running now
        (but `besides`) are expected to spend."""
        with self._sessions() as session:
            return _spending(session, since=since, batch_id=batch_id, besides=besides)

    def reserve_within(
        self,
        attempt: Attempt,
        *,
        usd: float,
        since: dt.datetime,
        fits: Callable[[Spending], bool],
    ) -> bool:
        """Reserve `usd` on the claimed video if `fits` says the spending allows it, in
        one transaction under the budget lock; False (nothing reserved) otherwise or when
        the claim was lost."""
        with self._sessions.begin() as session:
            if self._postgres:
                session.execute(
                    text("SELECT pg_advisory_xact_lock(:key)"), {"key": BUDGET_LOCK_KEY}
                )
            spending = _spending(
                session, since=since, batch_id=attempt.batch_id, besides=attempt.video_id
            )
            if not fits(spending):
                return False
            result = session.execute(
                update(Video).where(*held_by(attempt)).values(cost_reserved_usd=usd)
            )
            return result.rowcount == 1  # type: ignore[attr-defined]

    def release_holds(self) -> list[str]:
        """Let every video held for budget be looked at again now (the budgets may have
        changed since they were held)."""
        with self._sessions.begin() as session:
            held = list(
                session.scalars(
                    select(Video).where(
                        Video.status == VideoStatus.PENDING, Video.wait_reason.is_not(None)
                    )
                )
            )
            for video in held:
                video.run_after = utcnow()
            return [video.id for video in held]

    def _verdict(self, spending: Spending, expected: float, now: dt.datetime) -> Verdict:
        daily, per_batch = self.settings.daily_budget_usd, self.settings.batch_budget_usd
        soon = now + dt.timedelta(seconds=RECHECK_WHILE_RUNNING_S)
        if daily and spending.today + spending.running + expected > daily:
            resume = next_day(now)
            return Verdict(
                reason=f"waiting for budget: it would take today's AI spending past the daily "
                f"budget of {dollars(daily)} ({dollars(spending.today)} spent, "
                f"{dollars(spending.running)} running, this video about {dollars(expected)}); "
                "it runs after midnight UTC, or sooner if the budget is raised",
                until=min(resume, soon) if spending.running else resume,
            )
        owner_daily = spending.owner_daily
        if owner_daily and spending.owner_today + spending.owner_running + expected > owner_daily:
            resume = next_day(now)
            return Verdict(
                reason=f"waiting for budget: it would take its owner's AI spending today past "
                f"their daily budget of {dollars(owner_daily)} ({dollars(spending.owner_today)} "
                f"spent, {dollars(spending.owner_running)} running, this video about "
                f"{dollars(expected)}); it runs after midnight UTC, or sooner if an admin "
                "raises it",
                until=min(resume, soon) if spending.owner_running else resume,
            )
        if per_batch and spending.batch + spending.batch_running + expected > per_batch:
            return Verdict(
                reason=f"waiting for budget: it would take this batch past its budget of "
                f"{dollars(per_batch)} ({dollars(spending.batch)} spent, "
                f"{dollars(spending.batch_running)} running, this video about "
                f"{dollars(expected)}); raise the batch budget to go on",
                until=soon
                if spending.batch_running
                else now + dt.timedelta(seconds=RECHECK_IDLE_S),
            )
        return Verdict(reserve_usd=expected)


def _length(path: Path | None) -> float:
    """The video's length in seconds; 0 when it cannot be read (the probe stage will
    fail it with the reason, spending nothing), or when this machine has no copy of it
    (`s3` storage, uploaded through another machine): downloading it here would hold up
    every other video's hand-over, and an MP4's length may sit at its end, so even its
    header is not one cheap ranged read. The estimate is then the per-video part only;
    what the video really spent is counted once it is done."""
    if path is None:
        log.info("budget: no local copy of the video; its length is counted as 0 s")
        return 0.0
    import av  # the media stack is heavy: only loaded when a budget is set

    try:
        with av.open(str(path)) as container:
            if container.duration:
                return container.duration / 1_000_000
            stream = next(iter(container.streams.video), None)
            if stream is not None and stream.duration and stream.time_base:
                return float(stream.duration * stream.time_base)
    except (av.error.FFmpegError, OSError, ValueError, UnicodeDecodeError):
        log.info("budget: cannot read the length of %s", path)
    return 0.0


def _spending(session: Session, *, since: dt.datetime, batch_id: str, besides: str) -> Spending:
    running = (
        Video.status == VideoStatus.PROCESSING,
        Video.id != besides,
        Video.cost_reserved_usd.is_not(None),
    )

    def total(stmt: Select[Any]) -> float:
        return float(session.scalar(stmt) or 0.0)

    spent = select(func.sum(Spend.cost_usd))  # stories and failed attempts alike
    reserved = select(func.sum(Video.cost_reserved_usd)).where(*running)
    owner_id, owner_daily = _owner_budget(session, batch_id)
    owner_today = owner_running = 0.0
    if owner_daily is not None:
        owner_today = total(spent.where(Spend.owner_id == owner_id, Spend.created_at >= since))
        owner_running = total(
            reserved.join(Batch, Batch.id == Video.batch_id).where(Batch.owner_id == owner_id)
        )
    return Spending(
        owner_today=owner_today,
        owner_running=owner_running,
        owner_daily=owner_daily,
        today=total(spent.where(Spend.created_at >= since)),
        running=total(reserved),
        batch=total(spent.where(Spend.batch_id == batch_id)),
        batch_running=total(reserved.where(Video.batch_id == batch_id)),
    )


_ANY_USER_BUDGET = select(exists().where(User.ai_usd_per_day.is_not(None)))


def _owner_budget(session: Session, batch_id: str) -> tuple[str | None, float | None]:
    """The batch's owner and their daily AI budget (None: no owner, or no budget)."""
    row = session.execute(
        select(User.id, User.ai_usd_per_day)
        .join(Batch, Batch.owner_id == User.id)
        .where(Batch.id == batch_id)
    ).first()
    return (row[0], row[1]) if row is not None else (None, None)


def owner_spent_today(session: Session, *, owner_id: str, now: dt.datetime) -> float:
    """What the batches of `owner_id` spent today (UTC), deleted ones too, and expect to
    spend running now: the upload's quota check (`accounts/quotas.py`)."""
    spent = select(func.sum(Spend.cost_usd)).where(
        Spend.owner_id == owner_id, Spend.created_at >= day_start(now)
    )
    reserved = (
        select(func.sum(Video.cost_reserved_usd))
        .join(Batch, Batch.id == Video.batch_id)
        .where(Batch.owner_id == owner_id, Video.status == VideoStatus.PROCESSING)
    )
    return sum(float(session.scalar(stmt) or 0.0) for stmt in (spent, reserved))
