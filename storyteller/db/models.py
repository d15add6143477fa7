"""The tables: a `Batch` of `Video`s, each with its `Story` versions, and shared `EvidenceRecord`s.

The video row is the one source of truth for a video's state: the job engine claims,
heartbeats and finishes videos by updating it (see the indexes below), and the API
reads it. Times are timezone-aware UTC; ids are UUID4 strings (the public ids).
"""

from __future__ import annotations

import datetime as dt
import uuid
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    false,
    func,
    select,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, aliased, mapped_column, relationship

from storyteller.db.types import JSONDocument, RankedEnum, UTCDateTime, str_enum, utcnow
from storyteller.pipeline.evidence import Evidence
from storyteller.story import model as story_model
from storyteller.story import sentences

# Constraint names the same on every database, so later migrations can name them.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

SHA256_HEX = 64
MODEL_NAME = 128
EMAIL_LENGTH = 320  # RFC 5321's longest address


def new_id() -> str:
    return str(uuid.uuid4())


class Priority(StrEnum):
    """How soon a video is processed. Declared in claiming order: the column stores the
    position (0 high, 1 normal, 2 low), so `ORDER BY priority` is high first."""

    HIGH = "high"
    NORMAL = "normal"
    LOW = "low"


class BatchStatus(StrEnum):
    """The seed's job status: `processing` until every video has ended."""

    PROCESSING = "processing"
    COMPLETED = "completed"


class VideoStatus(StrEnum):
    PENDING = "pending"  # waiting in the queue (also while waiting for a retry's run_after)
    PROCESSING = "processing"  # claimed by a worker
    COMPLETED = "completed"  # has a story
    FAILED = "failed"  # ended without a story; error_cause says whose fault
    CANCELLED = "cancelled"  # stopped by a user; the seed's API shows it as failed

    @property
    def ended(self) -> bool:
        return self in ENDED


ENDED = frozenset({VideoStatus.COMPLETED, VideoStatus.FAILED, VideoStatus.CANCELLED})


class ErrorCause(StrEnum):
    """Whose fault a failure is, which decides whether retrying can help."""

    VIDEO = "video"  # the file: not a video, too long, unreadable. Retrying will not help.
    SERVICE = "service"  # ours or a provider's: crash, timeout, outage. Retrying may help.


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {  # noqa: RUF012 (SQLAlchemy reads it from the class)
        dt.datetime: UTCDateTime(),
        dict[str, Any]: JSONDocument,
        list[str]: JSONDocument,
    }


class Batch(Base):
    """What the seed calls a "job": the videos uploaded together."""

    __tablename__ = "batch"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)
    completed_at: Mapped[dt.datetime | None]
    status: Mapped[BatchStatus] = mapped_column(
        str_enum(BatchStatus), default=BatchStatus.PROCESSING
    )
    priority: Mapped[Priority] = mapped_column(RankedEnum(Priority), default=Priority.NORMAL)
    teller: Mapped[str] = mapped_column(String(64))
    model: Mapped[str | None] = mapped_column(
        String(MODEL_NAME), doc="The teller's model; None for the teller's configured one."
    )
    owner_id: Mapped[str | None] = mapped_column(
        ForeignKey("app_user.id", ondelete="SET NULL"),
        index=True,
        doc="Who uploaded it; None for batches from before accounts or the open loopback mode.",
    )
    paused: Mapped[bool] = mapped_column(
        Boolean,
        default=False,
        server_default=false(),
        index=True,  # claims look for the few paused batches
        doc="An admin paused it: its videos are not claimed (running ones finish).",
    )
    notify_email: Mapped[str | None] = mapped_column(
        String(EMAIL_LENGTH), doc="An address told when the batch ends (batch.completed)."
    )

    videos: Mapped[list[Video]] = relationship(
        back_populates="batch",
        order_by="Video.position",
        cascade="all, delete-orphan",
        passive_deletes=True,
    )

    def __repr__(self) -> str:
        return f"<Batch {self.id} {self.status}>"


class Video(Base):
    """One uploaded video and everything about its way to a story."""

    __tablename__ = "video"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    batch_id: Mapped[str] = mapped_column(ForeignKey("batch.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer, doc="Order in the batch, from 0.")

    original_name: Mapped[str] = mapped_column(String(255))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    content_hash: Mapped[str] = mapped_column(String(SHA256_HEX), index=True)
    storage_path: Mapped[str] = mapped_column(
        Text, doc="Where the bytes are, as the upload store's key (relative to its root)."
    )

    status: Mapped[VideoStatus] = mapped_column(str_enum(VideoStatus), default=VideoStatus.PENDING)
    stage: Mapped[str | None] = mapped_column(String(32), doc="probe, scenes, speech, ...")
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    max_attempts: Mapped[int] = mapped_column(Integer, default=3)
    interruptions: Mapped[int] = mapped_column(
        Integer,
        default=0,
        server_default="0",
        doc="Runs lost to a stopped service (not charged as attempts; capped on their own).",
    )
    priority: Mapped[Priority] = mapped_column(RankedEnum(Priority), default=Priority.NORMAL)
    teller: Mapped[str] = mapped_column(String(64))
    model: Mapped[str | None] = mapped_column(
        String(MODEL_NAME), doc="The teller's model; None for the teller's configured one."
    )
    seed: Mapped[int] = mapped_column(BigInteger, default=0)

    error: Mapped[str | None] = mapped_column(Text, doc="The reason, in words a user can act on.")
    error_code: Mapped[str | None] = mapped_column(String(64), doc="not_a_video, timeout, ...")
    error_cause: Mapped[ErrorCause | None] = mapped_column(str_enum(ErrorCause))

    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    started_at: Mapped[dt.datetime | None]
    completed_at: Mapped[dt.datetime | None] = mapped_column(
        index=True, doc="When it ended, in any way."
    )
    heartbeat_at: Mapped[dt.datetime | None]
    run_after: Mapped[dt.datetime] = mapped_column(
        default=utcnow, doc="Not claimed before this time (retry backoff)."
    )
    claimed_by: Mapped[str | None] = mapped_column(String(128), doc="Id of the worker running it.")
    wait_reason: Mapped[str | None] = mapped_column(
        Text, doc="Why a pending video is held back (a spending budget), in words."
    )
    cost_reserved_usd: Mapped[float | None] = mapped_column(
        Float, doc="While it runs: the dollars it is expected to spend, counted against budgets."
    )

    evidence_id: Mapped[int | None] = mapped_column(
        ForeignKey("evidence.id", ondelete="SET NULL"), doc="The analysis of its bytes, once done."
    )

    batch: Mapped[Batch] = relationship(back_populates="videos")
    stories: Mapped[list[Story]] = relationship(
        back_populates="video",
        order_by="Story.version",
        cascade="all, delete-orphan",
        passive_deletes=True,
    )
    evidence: Mapped[EvidenceRecord | None] = relationship()
    # The story version its owner chose as current (copied, exported, sent); None: the
    # newest. No foreign key: a story is only ever deleted with its video, and a key each
    # way between the two tables would make their rows depend on each other (an id that
    # names no story of the video reads as None: see `crud.current_story`).
    current_story_id: Mapped[str | None] = mapped_column(
        String(36), doc="The chosen story version's id; null for the newest."
    )

    __table_args__ = (
        UniqueConstraint("batch_id", "position"),
        # Claiming the next video: WHERE status = 'pending' AND run_after <= now
        # ORDER BY priority, run_after / created_at.
        Index("ix_video_claim", "status", "priority", "run_after", "created_at"),
        # Recovering stalled videos: WHERE status = 'processing' AND heartbeat_at < cutoff.
        Index("ix_video_heartbeat", "status", "heartbeat_at"),
        # A batch's counts per status (its overall status, fair share between batches).
        Index("ix_video_batch_status", "batch_id", "status"),
        # The admin's failures by cause, and the newest examples of each.
        Index("ix_video_failures", "status", "error_code", "completed_at"),
        CheckConstraint("progress >= 0 AND progress <= 1", name="progress_fraction"),
        CheckConstraint("attempts >= 0", name="attempts_not_negative"),
    )

    def __repr__(self) -> str:
        return f"<Video {self.id} {self.original_name!r} {self.status}>"


class Story(Base):
    """One version of a video's story. Regenerating adds a version, which becomes current;
    the owner may choose another (`Video.current_story_id`)."""

    __tablename__ = "story"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    video_id: Mapped[str] = mapped_column(ForeignKey("video.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer, doc="1, 2, 3... per video.")
    teller: Mapped[str] = mapped_column(String(64))
    model: Mapped[str | None] = mapped_column(String(MODEL_NAME), doc="The model that wrote it.")
    seed: Mapped[int] = mapped_column(BigInteger)

    title: Mapped[str] = mapped_column(Text)
    place: Mapped[str] = mapped_column(String(255))
    region: Mapped[str] = mapped_column(String(255))
    date: Mapped[dt.date]
    paragraphs: Mapped[list[str]]
    disclaimer: Mapped[str] = mapped_column(Text)
    text: Mapped[str] = mapped_column(Text, doc="The whole story as users read it.")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)
    sentences: Mapped[list[dict[str, Any]] | None] = mapped_column(
        JSONDocument,
        doc="The body's sentences and the moments each stands on, as `Sentence` dumps; "
        "null for a story written before they were kept.",
    )

    # What an AI teller spent on it (None for the local teller).
    tokens_in: Mapped[int | None] = mapped_column(Integer)
    tokens_out: Mapped[int | None] = mapped_column(Integer)
    cost_usd: Mapped[float | None] = mapped_column(Float)

    evidence_id: Mapped[int | None] = mapped_column(
        ForeignKey("evidence.id", ondelete="SET NULL"), doc="The evidence it was written from."
    )

    video: Mapped[Video] = relationship(back_populates="stories")

    __table_args__ = (UniqueConstraint("video_id", "version"),)

    def to_story(self) -> story_model.Story:
        """The story as the rest of the product knows it."""
        return story_model.Story(
            title=self.title,
            place=self.place,
            region=self.region,
            date=self.date,
            paragraphs=list(self.paragraphs),
            disclaimer=self.disclaimer,
            sentences=[story_model.Sentence.model_validate(s) for s in self.sentences or []],
        )

    def linked_sentences(self) -> list[story_model.Sentence]:
        """Its sentences with their sources; for a story kept before sentences were (or
        whose kept ones no longer give its paragraphs back), split from its text with none."""
        return sentences.settle(list(self.paragraphs), self.to_story().sentences)

    def __repr__(self) -> str:
        return f"<Story {self.video_id} v{self.version}>"


class EvidenceRecord(Base):
    """The analysis of some bytes under some analysis settings, shared by every upload
    of the same bytes: `content_hash` is the SHA-256 of the file, `fingerprint` is
    `storyteller.pipeline.cache.analysis_fingerprint(settings)`."""

    __tablename__ = "evidence"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    content_hash: Mapped[str] = mapped_column(String(SHA256_HEX))
    fingerprint: Mapped[str] = mapped_column(String(64))
    json: Mapped[dict[str, Any]] = mapped_column(doc="`Evidence.model_dump(mode='json')`.")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    __table_args__ = (UniqueConstraint("content_hash", "fingerprint"),)

    def to_evidence(self) -> Evidence:
        """The evidence as the pipeline made it (raises pydantic's ValidationError if
        it no longer fits the model)."""
        return Evidence.model_validate(self.json)

    def __repr__(self) -> str:
        return f"<EvidenceRecord {self.content_hash[:12]} {self.fingerprint}>"


class BatchItemState(StrEnum):
    """Where a video's request stands in Gemini Batch Mode."""

    WAITING = "waiting"  # gathered with others until its group is sent
    SUBMITTED = "submitted"  # part of a Batch Mode job at Gemini, `remote_name`


class GeminiBatchItem(Base):
    """A video's request to Gemini waiting for, or inside, a Batch Mode job. The video stays
    `processing` (stage `batch`) under the claim recorded here until the answer comes."""

    __tablename__ = "gemini_batch_item"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    video_id: Mapped[str] = mapped_column(ForeignKey("video.id", ondelete="CASCADE"), index=True)
    claimed_by: Mapped[str] = mapped_column(String(128), doc="The claim: the video's worker id.")
    attempt: Mapped[int] = mapped_column(Integer, doc="The claim: the video's attempt number.")
    model: Mapped[str] = mapped_column(String(MODEL_NAME))
    request: Mapped[str] = mapped_column(Text, doc="The request to send, as google-genai's JSON.")
    file_name: Mapped[str | None] = mapped_column(
        String(255), doc="The video uploaded through the Files API, deleted when the item ends."
    )
    evidence_id: Mapped[int | None] = mapped_column(
        ForeignKey("evidence.id", ondelete="SET NULL"), doc="The evidence the prompt is from."
    )
    state: Mapped[BatchItemState] = mapped_column(
        str_enum(BatchItemState), default=BatchItemState.WAITING
    )
    remote_name: Mapped[str | None] = mapped_column(
        String(255), index=True, doc="The Batch Mode job it is in (batches/...)."
    )
    sent: Mapped[int] = mapped_column(Integer, default=0, doc="Batch Mode jobs it went in.")
    tokens_in: Mapped[int] = mapped_column(Integer, default=0, doc="Spent so far, every try.")
    tokens_out: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    submitted_at: Mapped[dt.datetime | None]

    def __repr__(self) -> str:
        return f"<GeminiBatchItem {self.id} {self.video_id} {self.state}>"


class AttemptCost(Base):
    """What an attempt that wrote no story spent at a provider (a story's own cost is on
    the story): the tokens of answers that broke the contract, or of a video that failed
    after the model had answered. Budgets count both."""

    __tablename__ = "attempt_cost"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    video_id: Mapped[str] = mapped_column(ForeignKey("video.id", ondelete="CASCADE"), index=True)
    attempt: Mapped[int] = mapped_column(Integer)
    teller: Mapped[str] = mapped_column(String(64))
    model: Mapped[str | None] = mapped_column(String(MODEL_NAME))
    tokens_in: Mapped[int] = mapped_column(Integer)
    tokens_out: Mapped[int] = mapped_column(Integer)
    cost_usd: Mapped[float | None] = mapped_column(Float, doc="None: the model's price is unknown.")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)


class Spend(Base):
    """One line of the ledger of what the AI tellers cost: every attempt that spent tokens,
    whether it wrote a story or not. The budgets, the quotas, the dashboard and /metrics
    count from here, not from the stories and failed attempts, because those go when
    their batch is deleted while the money stays spent: deleting batches must not give a
    user their daily AI budget back, nor make a Prometheus counter go down. So the
    ledger holds plain ids, no foreign keys, and nothing deletes its rows."""

    __tablename__ = "spend"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)
    owner_id: Mapped[str | None] = mapped_column(String(36), doc="The batch's owner, then.")
    batch_id: Mapped[str] = mapped_column(String(36), index=True)
    video_id: Mapped[str] = mapped_column(String(36))
    attempt: Mapped[int] = mapped_column(Integer)
    teller: Mapped[str] = mapped_column(String(64))
    model: Mapped[str | None] = mapped_column(String(MODEL_NAME))
    tokens_in: Mapped[int] = mapped_column(Integer)
    tokens_out: Mapped[int] = mapped_column(Integer)
    cost_usd: Mapped[float | None] = mapped_column(Float, doc="None: the model's price is unknown.")
    wrote_story: Mapped[bool] = mapped_column(Boolean, doc="False: a failed attempt.")

    __table_args__ = (Index("ix_spend_owner_created_at", "owner_id", "created_at"),)


# --- who is who (storyteller/accounts/) ----------------------------------------


class Role(StrEnum):
    ADMIN = "admin"  # sees and acts on everything, manages users
    MEMBER = "member"  # sees and acts on their own batches only


class User(Base):
    """Someone who signs in. Never deleted (batches and the audit log name them): disabled."""

    __tablename__ = "app_user"  # `user` is a reserved word in PostgreSQL

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[Role] = mapped_column(str_enum(Role), default=Role.MEMBER)
    password_hash: Mapped[str | None] = mapped_column(
        Text, doc="Argon2id (PHC string); None: signs in through a proxy or with keys only."
    )
    disabled: Mapped[bool] = mapped_column(default=False)
    priority: Mapped[Priority] = mapped_column(
        RankedEnum(Priority), default=Priority.NORMAL, doc="The highest a batch of theirs gets."
    )
    videos_per_day: Mapped[int | None] = mapped_column(Integer, doc="None: no limit.")
    bytes_stored: Mapped[int | None] = mapped_column(BigInteger, doc="None: no limit.")
    ai_usd_per_day: Mapped[float | None] = mapped_column(Float, doc="None: no limit.")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    email: Mapped[str | None] = mapped_column(
        String(EMAIL_LENGTH), doc="Where the events they chose for e-mail go."
    )
    email_events: Mapped[list[str] | None] = mapped_column(
        doc="The events (batch.completed, ...) sent to `email`; None: none."
    )

    def __repr__(self) -> str:
        return f"<User {self.name} {self.role}>"


class ApiKey(Base):
    """A key for scripts: only its SHA-256 is kept (keys are long random strings, so a
    fast hash is as safe as a slow one), with a prefix people recognise it by."""

    __tablename__ = "api_key"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    user_id: Mapped[str] = mapped_column(ForeignKey("app_user.id", ondelete="CASCADE"), index=True)
    prefix: Mapped[str] = mapped_column(String(16), doc="The key's first characters, shown.")
    key_hash: Mapped[str] = mapped_column(String(SHA256_HEX), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[dt.datetime | None]
    revoked_at: Mapped[dt.datetime | None]


class SignIn(Base):
    """A browser's session: the cookie holds a random token, the row its SHA-256, so
    signing out, disabling a user or an expiry takes effect at once."""

    __tablename__ = "sign_in"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("app_user.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(SHA256_HEX), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[dt.datetime]


class AuditEntry(Base):
    """Who did what, when: sign-ins (failed ones too), keys, admin actions."""

    __tablename__ = "audit_entry"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)
    actor: Mapped[str | None] = mapped_column(
        String(64), doc="The user's name; None: the command line on the server."
    )
    action: Mapped[str] = mapped_column(String(32), doc="sign_in, sign_in_failed, key_created...")
    target: Mapped[str | None] = mapped_column(String(255))
    detail: Mapped[str | None] = mapped_column(Text)
    client: Mapped[str | None] = mapped_column(String(64), doc="The client's address.")


# --- running the service (storyteller/admin/) -------------------------------------


class ServiceState(Base):
    """The one row (id 1) of what holds for the whole service: whether processing is
    paused. Every engine reads it in the transaction that claims, on any machine."""

    __tablename__ = "service_state"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    paused: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    changed_at: Mapped[dt.datetime | None]
    # The notification choices of the open loopback mode's local user, who has no row in
    # `app_user` (batches without an owner, and webhooks without a user, are theirs).
    email: Mapped[str | None] = mapped_column(String(EMAIL_LENGTH))
    email_events: Mapped[list[str] | None]


class WorkerKind(StrEnum):
    EMBEDDED = "embedded"  # the engine inside `storyteller serve`
    WORKER = "worker"  # a `storyteller worker` process


class WorkerRecord(Base):
    """An engine that runs videos (embedded, or a `storyteller worker`), as it last said:
    it registers at start and reports every second; the admin's orders (`draining`,
    `stop_requested`) are read back with each report."""

    __tablename__ = "worker"

    id: Mapped[str] = mapped_column(String(128), primary_key=True, doc="`host:pid:random`.")
    host: Mapped[str] = mapped_column(String(255))
    pid: Mapped[int] = mapped_column(Integer)
    kind: Mapped[WorkerKind] = mapped_column(str_enum(WorkerKind))
    concurrency: Mapped[int] = mapped_column(Integer)
    queues: Mapped[list[str]] = mapped_column(doc="The priorities it takes.")
    started_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    heartbeat_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    stopped_at: Mapped[dt.datetime | None]
    videos_done: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    current: Mapped[list[str]] = mapped_column(doc="Ids of the videos it runs now.")
    draining: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    stop_requested: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class StageTiming(Base):
    """How long one stage of one run of a video took, as its engine saw the stages go by."""

    __tablename__ = "stage_timing"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    video_id: Mapped[str] = mapped_column(ForeignKey("video.id", ondelete="CASCADE"), index=True)
    stage: Mapped[str] = mapped_column(String(32))
    seconds: Mapped[float] = mapped_column(Float)
    ended_at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)


# --- notifications (storyteller/notifications/) ----------------------------------


class WebhookEndpoint(Base):
    """A URL a user asked to be told of events at, signed with its own secret."""

    __tablename__ = "webhook_endpoint"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    user_id: Mapped[str | None] = mapped_column(
        ForeignKey("app_user.id", ondelete="CASCADE"),
        index=True,
        doc="Whose it is; None: the open loopback mode's local user.",
    )
    url: Mapped[str] = mapped_column(Text)
    description: Mapped[str | None] = mapped_column(String(255))
    events: Mapped[list[str]] = mapped_column(doc="The events it is sent.")
    secret: Mapped[str] = mapped_column(
        Text, doc="The signing secret (`whsec_...`), encrypted when a secrets key is set."
    )
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    disabled_reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class MessageState(StrEnum):
    PENDING = "pending"  # waiting for its next attempt (`next_attempt_at`)
    DELIVERING = "delivering"  # claimed by a process until `claim_expires_at`
    DELIVERED = "delivered"
    FAILED = "failed"  # out of attempts, refused by the receiver, or its endpoint gone


class Channel(StrEnum):
    WEBHOOK = "webhook"
    EMAIL = "email"


class OutboxMessage(Base):
    """One notification to one target, written in the transaction of the change that
    caused it, and delivered (at least once) by whichever process claims it."""

    __tablename__ = "outbox_message"

    id: Mapped[str] = mapped_column(
        String(40), primary_key=True, doc="`msg_...`: the `webhook-id` receivers dedupe by."
    )
    event: Mapped[str] = mapped_column(String(32))
    channel: Mapped[Channel] = mapped_column(str_enum(Channel))
    endpoint_id: Mapped[str | None] = mapped_column(
        ForeignKey("webhook_endpoint.id", ondelete="CASCADE")
    )
    email: Mapped[str | None] = mapped_column(String(EMAIL_LENGTH))
    batch_id: Mapped[str | None] = mapped_column(
        String(36), doc="The batch it tells of (no key: the message outlives a deleted batch)."
    )
    payload: Mapped[dict[str, Any]]
    state: Mapped[MessageState] = mapped_column(
        str_enum(MessageState), default=MessageState.PENDING
    )
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    claimed_by: Mapped[str | None] = mapped_column(String(128))
    claim_expires_at: Mapped[dt.datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    delivered_at: Mapped[dt.datetime | None]

    __table_args__ = (
        # Claiming: WHERE state = 'pending' AND next_attempt_at <= now (and expired claims).
        Index("ix_outbox_message_due", "state", "next_attempt_at"),
        # An endpoint's delivery log, newest first.
        Index("ix_outbox_message_endpoint", "endpoint_id", "created_at"),
    )


class DeliveryAttempt(Base):
    """One try at delivering a message, as the delivery log shows it."""

    __tablename__ = "delivery_attempt"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    message_id: Mapped[str] = mapped_column(
        ForeignKey("outbox_message.id", ondelete="CASCADE"), index=True
    )
    at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    status: Mapped[int | None] = mapped_column(Integer, doc="The HTTP status; None: no answer.")
    error: Mapped[str | None] = mapped_column(Text)
    latency_ms: Mapped[int] = mapped_column(Integer)
    answer: Mapped[str | None] = mapped_column(Text, doc="The start of the answer's body.")


# Defined last: aliasing a model configures the mappers, which needs every class.
_CHOSEN = aliased(Story)
_NEWEST = aliased(Story)
# The version of a video's current story (correlated to `Video`): the one its owner chose,
# else the newest. A chosen id that names no story of the video reads as none. What is
# shown, copied, exported and sent is this version.
CURRENT_STORY_VERSION = func.coalesce(
    select(_CHOSEN.version)
    .where(_CHOSEN.id == Video.current_story_id, _CHOSEN.video_id == Video.id)
    .correlate(Video)
    .scalar_subquery(),
    select(func.max(_NEWEST.version))
    .where(_NEWEST.video_id == Video.id)
    .correlate(Video)
    .scalar_subquery(),
)
