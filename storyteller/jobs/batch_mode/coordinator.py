"""The Batch Mode coordinator: the engine's "later" hook, and the thread that sends and polls."""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections import defaultdict
from collections.abc import Callable

from sqlalchemy import Engine

from storyteller.config import Settings
from storyteller.db.models import BatchItemState, ErrorCause
from storyteller.db.types import utcnow
from storyteller.jobs.attempt import Attempt, Result, Usage
from storyteller.jobs.batch_mode.items import BatchItem, BatchItems, dropper
from storyteller.jobs.batch_mode.request import JOB
from storyteller.jobs.queue import JobQueue
from storyteller.pipeline.evidence import dateline_season
from storyteller.story.rules import StoryRules
from storyteller.tellers.base import TellerError
from storyteller.tellers.gemini_batch import (
    DONE,
    ENDED_WITHOUT_ANSWERS,
    BatchModeClient,
    ItemFailed,
    in_batch_mode,
    read_answer,
    reask_request,
)
from storyteller.tellers.grounding import linked
from storyteller.tellers.pricing import cost_usd
from storyteller.tellers.registry import with_model
from storyteller.tellers.remote import Usage as Tokens
from storyteller.tellers.remote import check_answer

log = logging.getLogger(__name__)

TELLER = "gemini"


def later_hook(
    settings: Settings,
    db: Engine,
    queue: JobQueue,
    *,
    on_change: Callable[[list[str]], None] | None = None,
) -> BatchCoordinator | None:
    """The engine's "later" hook when Batch Mode is on, or when requests of an earlier
    run still wait for their answers; None otherwise."""
    items = BatchItems(db, queue)
    if settings.gemini_batch_mode or items.any():
        return BatchCoordinator(settings, items, on_change=on_change)
    return None


class BatchCoordinator:
    """Sends the waiting requests as Batch Mode jobs and records their answers (see the
    package). One thread; the engine's supervisor hands it requests through `defer`."""

    # The job function of the attempts it takes (the engine's "later" hook contract).
    job = JOB

    def __init__(
        self,
        settings: Settings,
        items: BatchItems,
        *,
        on_change: Callable[[list[str]], None] | None = None,
    ) -> None:
        self.settings = settings
        self.items = items
        self.queue = items.queue
        self.on_change = on_change or (lambda video_ids: None)
        self._client: BatchModeClient | None = None
        self._orphan_files: list[str] = []
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None
        self._next_poll = 0.0

    # --- control ---------------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self._run, name="storyteller-batch-mode", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop polling; what waits stays in the database for the next start."""
        self._stopped.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None

    def wake(self) -> None:
        self._wake.set()

    def takes(self, attempt: Attempt) -> bool:
        """Whether the attempt's story is for Batch Mode to write (low priority, gemini)."""
        settings = self.settings
        if attempt.model and attempt.teller == TELLER:
            settings = with_model(settings, attempt.teller, attempt.model)
        return in_batch_mode(settings, attempt.teller, attempt.priority.value)

    def defer(self, attempt: Attempt, result: Result) -> None:
        """Keep a worker's request (`result.later`) for a Batch Mode job."""
        file_name = (result.later or {}).get("file_name")
        if self.items.add(attempt, result):
            self.on_change([attempt.video_id])
        elif file_name:
            with self._lock:
                self._orphan_files.append(file_name)
        self.wake()

    # --- the thread ------------------------------------------------------------------

    def _run(self) -> None:
        pause = max(0.05, min(1.0, self.settings.gemini_batch_poll_s))
        while not self._stopped.is_set():
            try:
                self.tick()
            except Exception:
                log.exception("Batch Mode: error in the coordinator; trying again shortly")
            self._wake.wait(pause)
            self._wake.clear()

    def tick(self) -> None:
        """One round: drop what was cancelled, send what is ready, poll what is due."""
        client = self._connect()
        if client is None:
            return
        self._drop_stale(client)
        self._submit_ready(client)
        if time.monotonic() >= self._next_poll:
            self._next_poll = time.monotonic() + self.settings.gemini_batch_poll_s
            self._poll(client)

    def _connect(self) -> BatchModeClient | None:
        if self._client is None:
            try:
                self._client = BatchModeClient(self.settings)
            except TellerError as exc:
                log.error("Batch Mode cannot start: %s", exc.reason)
                return None
        return self._client

    def _drop_stale(self, client: BatchModeClient) -> None:
        dropped = self.items.drop_stale()
        with self._lock:
            files, self._orphan_files = self._orphan_files, []
        files += [file_name for _, file_name in dropped if file_name]
        for video_id, _ in dropped:
            log.info("Batch Mode: dropped the request of %s (cancelled or taken over)", video_id)
        for file_name in files:
            client.delete_file(file_name)

    # --- sending ---------------------------------------------------------------------

    def _submit_ready(self, client: BatchModeClient) -> None:
        settings = self.settings
        limit = settings.gemini_batch_max_mb * 1_000_000
        gather = dt.timedelta(seconds=settings.gemini_batch_gather_s)
        by_model: dict[str, list[BatchItem]] = defaultdict(list)
        for item in self.items.listed(state=BatchItemState.WAITING):
            by_model[item.model].append(item)
        now = utcnow()
        for model, items in by_model.items():
            while items:
                group, size = [items[0]], len(items[0].request)
                for item in items[1:]:
                    if len(group) >= settings.gemini_batch_size:
                        break
                    if size + len(item.request) > limit:
                        break
                    group.append(item)
                    size += len(item.request)
                full = len(group) < len(items) or len(group) >= settings.gemini_batch_size
                # A request going again has waited for its answer already: it goes now.
                due = now - group[0].created_at >= gather or any(item.sent for item in group)
                if not full and not due:
                    break  # wait for others to share the job
                self._submit(client, model, group)
                items = items[len(group) :]

    def _submit(self, client: BatchModeClient, model: str, group: list[BatchItem]) -> None:
        requests = [(str(item.id), item.request) for item in group]
        try:
            name = client.submit(model, requests, display_name=f"storyteller {len(group)} videos")
        except TellerError as exc:
            log.warning("Batch Mode: could not send %d requests: %s", len(group), exc.reason)
            for item in group:
                self._try_again(item, f"Gemini Batch Mode refused the job: {exc.reason}")
            return
        self.items.mark_submitted([item.id for item in group], name)
        log.info("Batch Mode: sent %d requests to %s as %s", len(group), model, name)

    # --- answers ---------------------------------------------------------------------

    def _poll(self, client: BatchModeClient) -> None:
        max_wait = dt.timedelta(hours=self.settings.gemini_batch_max_wait_h)
        for name, sent_at in self.items.submitted_jobs():
            items = self.items.listed(state=BatchItemState.SUBMITTED, remote_name=name)
            if not items:
                continue
            try:
                job = client.get(name, [str(item.id) for item in items])
            except TellerError as exc:
                log.warning("Batch Mode: could not ask about %s: %s", name, exc.reason)
                continue
            if job.state == DONE:
                log.info("Batch Mode: %s is done", name)
                rules = StoryRules.from_settings(self.settings)
                for item in items:
                    self._answer(item, job.answers.get(str(item.id)), rules)
            elif job.state in ENDED_WITHOUT_ANSWERS:
                state = job.state.removeprefix("JOB_STATE_").lower()
                detail = f": {job.error}" if job.error else ""
                for item in items:
                    self._try_again(item, f"the Gemini Batch Mode job {state}{detail}")
            elif utcnow() - sent_at > max_wait:
                client.cancel(name)
                hours = self.settings.gemini_batch_max_wait_h
                for item in items:
                    self._try_again(item, f"Gemini Batch Mode gave no answer within {hours:g} h")

    def _answer(self, item: BatchItem, inlined: object, rules: StoryRules) -> None:
        try:
            reply = read_answer(inlined)
        except ItemFailed as exc:
            self._try_again(item, exc.reason, code=exc.code, usage=exc.usage, final=not exc.retry)
            return
        loaded = self.items.evidence(item)
        if loaded is None:
            self._try_again(
                item, "the evidence of the video is gone", usage=reply.usage, final=True
            )
            return
        evidence, fingerprint = loaded
        story, problems = check_answer(reply.text, rules, dateline_season(evidence.season))
        if story is None:
            self._try_again(
                item,
                f"Gemini ({item.model}) broke the story contract: {'; '.join(problems)}",
                code="story_invalid",
                usage=reply.usage,
                request=reask_request(
                    item.request, evidence, rules, problems=problems, previous=reply.text
                ),
            )
            return
        self._delete_file(item)
        kept = self.queue.complete(
            item.attempt,
            Result(
                story=linked(story, evidence),
                evidence=evidence,
                evidence_fingerprint=fingerprint,
                usage=self._spent(item, reply.usage),
            ),
            also=dropper(item.id),
        )
        if kept:
            self.on_change([item.attempt.video_id])

    def _try_again(
        self,
        item: BatchItem,
        reason: str,
        *,
        code: str = "batch_failed",
        usage: Tokens | None = None,
        request: str | None = None,
        final: bool = False,
    ) -> None:
        """Send the item again in a later job as its video's next attempt; fail the video
        when it is out of attempts or when sending again cannot help."""
        usage = usage or Tokens()
        if not final:
            again = self.items.resubmit(
                item,
                reason=reason,
                request=request,
                tokens_in=usage.tokens_in,
                tokens_out=usage.tokens_out,
            )
            if again is None:  # cancelled meanwhile
                self._end(item)
                return
            if again:
                log.info("Batch Mode: %s goes again: %s", item.attempt.video_id, reason)
                self.on_change([item.attempt.video_id])
                return
            reason = f"{reason} (tried {item.attempt.number} times)"
        self._delete_file(item)
        status = self.queue.fail(
            item.attempt,
            Result.failed(
                reason,
                code,
                cause=ErrorCause.SERVICE,
                retryable=False,
                usage=self._spent(item, usage),
            ),
            also=dropper(item.id),
        )
        if status is not None:
            self.on_change([item.attempt.video_id])

    def _spent(self, item: BatchItem, usage: Tokens) -> Usage:
        """Every token the item's tries took, this answer's included, at the batch price."""
        tokens_in = item.tokens_in + usage.tokens_in
        tokens_out = item.tokens_out + usage.tokens_out
        dollars = cost_usd(self.settings, TELLER, item.model, tokens_in, tokens_out, batch=True)
        return Usage(TELLER, item.model, tokens_in, tokens_out, dollars)

    def _end(self, item: BatchItem) -> None:
        """Forget an item whose video went on without it (cancelled)."""
        self._delete_file(item)
        self.items.drop(item.id)

    def _delete_file(self, item: BatchItem) -> None:
        # Before the video ends: whoever sees it ended sees no file left behind.
        if item.file_name and self._client is not None:
            self._client.delete_file(item.file_name)
