"""Gemini Batch Mode for `low` priority videos: half price, answers within hours.

A worker does the pipeline as usual but, instead of asking Gemini, hands back the request
it would have sent (`prepare_batch_request`). The supervisor keeps it in the database
(`JobQueue.defer_to_batch`): the video stays `processing`, stage `batch`, under its claim.
The coordinator, a thread beside the supervisor, gathers the waiting requests into groups
(`gemini_batch_size` of them, within `gemini_batch_max_mb`, or fewer once the oldest has
waited `gemini_batch_gather_s`), sends each group as one Batch Mode job, polls the jobs
every `gemini_batch_poll_s`, and reads each answer as the gemini teller reads its own: a
story that meets the contract (after repair) completes its video at the Batch Mode price;
an error, an unfinished answer or a story broken beyond repair (asked again with what was
wrong) goes in a later group as the video's next attempt, until its attempts run out. A
job that fails, expires, is cancelled or outlives `gemini_batch_max_wait_h` sends its
requests again the same way. Everything is in the database, so a restarted server goes
on polling the jobs it had sent; a cancelled video's request is dropped, and so is its
video on the Files API.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections import defaultdict
from collections.abc import Callable

from storyteller.config import Settings
from storyteller.db.models import BatchItemState, ErrorCause
from storyteller.db.types import utcnow
from storyteller.jobs.queue import BatchItem, Claim, JobQueue, Outcome, Spent
from storyteller.jobs.work import Job, JobProgress, JobResult
from storyteller.pipeline.evidence import dateline_season
from storyteller.story.rules import StoryRules
from storyteller.tellers.base import TellerError
from storyteller.tellers.gemini_batch import (
    DONE,
    ENDED_WITHOUT_ANSWERS,
    BatchModeClient,
    ItemFailed,
    read_answer,
    reask_request,
)
from storyteller.tellers.pricing import cost_usd
from storyteller.tellers.remote import Usage, check_answer

log = logging.getLogger(__name__)

TELLER = "gemini"


# --- in the worker -----------------------------------------------------------------------


def prepare_batch_request(job: Job, settings: Settings, progress: JobProgress) -> JobResult:
    """The evidence of the video and the request to send for it in a Batch Mode job (a large
    video uploaded through the Files API first), or the reason there is none."""
    from storyteller.pipeline.cache import analysis_fingerprint
    from storyteller.pipeline.run import OverallProgress, StageFailed, gather_evidence
    from storyteller.pipeline.stage import VideoRejected
    from storyteller.tellers.gemini import GeminiTeller
    from storyteller.tellers.gemini_batch import batch_request

    assert job.path is not None  # tell_job has the file at hand before it comes here
    try:
        teller = GeminiTeller(settings)
        evidence = gather_evidence(
            job.path,
            settings,
            name=job.name,
            progress=OverallProgress(lambda fraction, stage: progress(stage, fraction)),
        )
        rules = StoryRules.from_settings(settings)
        prepared = batch_request(teller, evidence, job.path, seed=job.seed, rules=rules)
    except VideoRejected as exc:
        return JobResult.failure(exc.reason, exc.code, cause=ErrorCause.VIDEO, retryable=False)
    except (StageFailed, TellerError) as exc:
        return JobResult.failure(exc.reason, exc.code, retryable=True)
    except (OSError, ValueError) as exc:
        return JobResult.failure(f"{job.name}: {exc}", "unreadable", retryable=True)
    return JobResult(
        evidence=evidence,
        evidence_fingerprint=analysis_fingerprint(settings),
        model=prepared.model,
        batch_request=prepared.as_dict(),
    )


# --- in the server -----------------------------------------------------------------------


class BatchCoordinator:
    """Sends the waiting requests as Batch Mode jobs and records their answers (see the
    module). One thread; the engine's supervisor hands it requests through `defer`."""

    def __init__(
        self,
        settings: Settings,
        queue: JobQueue,
        *,
        on_change: Callable[[list[str]], None] | None = None,
    ) -> None:
        self.settings = settings
        self.queue = queue
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

    def defer(self, claim: Claim, result: JobResult) -> None:
        """Keep a worker's request (`result.batch_request`) for a Batch Mode job."""
        request = result.batch_request or {}
        file_name = request.get("file_name")
        kept = self.queue.defer_to_batch(
            claim,
            model=request["model"],
            request=request["request"],
            file_name=file_name,
            evidence=result.evidence,
            evidence_fingerprint=result.evidence_fingerprint,
        )
        if kept:
            self.on_change([claim.video_id])
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
        dropped = self.queue.drop_stale_batch_items()
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
        for item in self.queue.batch_items(state=BatchItemState.WAITING):
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
        self.queue.mark_batch_submitted([item.id for item in group], name)
        log.info("Batch Mode: sent %d requests to %s as %s", len(group), model, name)

    # --- answers ---------------------------------------------------------------------

    def _poll(self, client: BatchModeClient) -> None:
        max_wait = dt.timedelta(hours=self.settings.gemini_batch_max_wait_h)
        for name, sent_at in self.queue.submitted_batch_jobs():
            items = self.queue.batch_items(state=BatchItemState.SUBMITTED, remote_name=name)
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
        loaded = self.queue.batch_item_evidence(item)
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
        spent = self._spent(item, reply.usage)
        self._delete_file(item)
        kept = self.queue.complete(
            item.claim,
            Outcome(
                story=story,
                evidence=evidence,
                evidence_fingerprint=fingerprint,
                teller=TELLER,
                model=item.model,
                tokens_in=spent.tokens_in,
                tokens_out=spent.tokens_out,
                cost_usd=spent.cost_usd,
            ),
            batch_item_id=item.id,
        )
        if kept:
            self.on_change([item.claim.video_id])

    def _try_again(
        self,
        item: BatchItem,
        reason: str,
        *,
        code: str = "batch_failed",
        usage: Usage | None = None,
        request: str | None = None,
        final: bool = False,
    ) -> None:
        """Send the item again in a later job as its video's next attempt; fail the video
        when it is out of attempts or when sending again cannot help."""
        usage = usage or Usage()
        if not final:
            again = self.queue.resubmit_batch_item(
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
                log.info("Batch Mode: %s goes again: %s", item.claim.video_id, reason)
                self.on_change([item.claim.video_id])
                return
            reason = f"{reason} (tried {item.claim.attempt} times)"
        self._delete_file(item)
        status = self.queue.fail(
            item.claim,
            reason=reason,
            code=code,
            cause=ErrorCause.SERVICE,
            retryable=False,
            batch_item_id=item.id,
            spent=self._spent(item, usage),
        )
        if status is not None:
            self.on_change([item.claim.video_id])

    def _spent(self, item: BatchItem, usage: Usage) -> Spent:
        """Every token the item's tries took, this answer's included, at the batch price."""
        tokens_in = item.tokens_in + usage.tokens_in
        tokens_out = item.tokens_out + usage.tokens_out
        dollars = cost_usd(self.settings, TELLER, item.model, tokens_in, tokens_out, batch=True)
        return Spent(TELLER, item.model, tokens_in, tokens_out, dollars)

    def _end(self, item: BatchItem) -> None:
        """Forget an item whose video went on without it (cancelled)."""
        self._delete_file(item)
        self.queue.drop_batch_item(item.id)

    def _delete_file(self, item: BatchItem) -> None:
        # Before the video ends: whoever sees it ended sees no file left behind.
        if item.file_name and self._client is not None:
            self._client.delete_file(item.file_name)
