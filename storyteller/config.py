"""The one Settings object: every knob of the product lives here."""

from __future__ import annotations

import os
from datetime import date, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Literal

import platformdirs
from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DISCLAIMER = "This story was written by AI from the video and is for entertainment only."


# The names `make run` serves on (127.0.0.1, localhost, IPv6's loopback).
DEFAULT_ALLOWED_HOSTS = ("localhost", "127.0.0.1", "[::1]")
# FFmpeg's names for MP4/MOV (one demuxer), Matroska/WebM (one demuxer) and AVI.
DEFAULT_VIDEO_FORMATS = ("mp4", "mov", "matroska", "webm", "avi")


def _default_data_dir() -> Path:
    return platformdirs.user_data_path("storyteller")


class Settings(BaseSettings):
    """Settings read from environment variables and an optional `.env` file.

    Our own settings carry the `STORYTELLER_` prefix; the names the original app
    used (`MAX_CONCURRENT_JOBS`, `VIDEO_MAX_SIZE_MB`, `PORT`, `GEMINI_API_KEY`) will be
    accepted as they are, because that is where its users will look.
    """

    model_config = SettingsConfigDict(
        env_prefix="STORYTELLER_", env_file=".env", extra="ignore", populate_by_name=True
    )

    data_dir: Path = Field(
        default_factory=_default_data_dir,
        description="Folder for the database, the uploaded videos, the evidence cache and keyframes.",
    )

    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL of the database; default: a SQLite file in the data folder. "
        "PostgreSQL: postgresql+psycopg://user@host/db.",
    )

    # --- the service -------------------------------------------------------
    port: int = Field(
        default=8000,
        ge=1,
        le=65535,
        validation_alias=AliasChoices("PORT", "STORYTELLER_PORT"),
        description="Port the web service listens on.",
    )
    max_concurrent_jobs: int = Field(
        default=0,
        ge=0,
        validation_alias=AliasChoices("MAX_CONCURRENT_JOBS", "STORYTELLER_MAX_CONCURRENT_JOBS"),
        description="Videos processed at once; 0 means what fits this machine.",
    )
    video_max_size_mb: int = Field(
        default=500,
        gt=0,
        validation_alias=AliasChoices("VIDEO_MAX_SIZE_MB", "STORYTELLER_VIDEO_MAX_SIZE_MB"),
        description="Largest video file accepted by an upload, in megabytes.",
    )
    max_batch_videos: int = Field(
        default=100, ge=1, le=10_000, description="Most videos one upload (batch) may hold."
    )
    max_attempts: int = Field(
        default=3, ge=1, description="Tries per video before it fails with its last reason."
    )
    heartbeat_timeout_s: float = Field(
        default=20.0,
        gt=0,
        description="A running video whose worker is silent this long goes back to the queue "
        "(workers heartbeat every second; looked for every quarter of this, at most 5 s).",
    )
    job_engine: Literal["embedded", "workers"] = Field(
        default="embedded",
        description="Who processes videos: `embedded` (the web service's own worker "
        "processes) or `workers` (the web service runs none; `storyteller worker` processes, "
        "on any machines, share the queue through PostgreSQL).",
    )
    shutdown_grace_s: float = Field(
        default=30.0,
        ge=0,
        description="On SIGTERM, how long running videos may finish before they are requeued.",
    )
    tus_expiry_hours: float = Field(
        default=24.0,
        gt=0,
        description="A resumable (tus) upload untouched this long, or finished and never "
        "turned into a batch, is deleted.",
    )
    log_format: Literal["text", "json"] = Field(
        default="text",
        description="How `storyteller serve` and `storyteller worker` write their logs: "
        "`text` (lines for people) or `json` (one JSON object a line, naming the batch and "
        "the video of every line about one).",
    )
    cors_origins: list[str] = Field(
        default=[],
        description="Origins of pages on other sites allowed to call the API from a browser "
        '(JSON list, e.g. `["https://front.example"]` for the original front end); `["*"]` '
        "allows any. Default: none, only this service's own page.",
    )
    allowed_hosts: list[str] = Field(
        default=list(DEFAULT_ALLOWED_HOSTS),
        description="Host names the service answers to (JSON list; `*.example.com` for every "
        "subdomain, `*` for any); other `Host` headers are refused, which stops DNS "
        "rebinding. Default: the loopback names.",
    )
    max_open_uploads: int = Field(
        # Room for two and a half batches of the default 100: one upload left open by a
        # reload must not refuse the last file of the next batch.
        default=250,
        ge=1,
        description="Most resumable (tus) uploads open at once, finished ones not yet in a "
        "batch included; one more is refused with 429.",
    )

    # --- accounts (storyteller/accounts/) ------------------------------------------
    sign_in_required: bool = Field(
        default=False,
        description="Ask for a sign-in or an API key even on loopback with no user yet "
        "(always so once a user exists, or when `serve --host` listens beyond loopback).",
    )
    session_hours: float = Field(
        default=336.0, gt=0, description="How long a browser stays signed in (hours)."
    )
    trusted_proxies: list[str] = Field(
        default=[],
        description="Addresses or networks (JSON list) of authenticating proxies whose "
        "`TRUSTED_PROXY_HEADER` names the user; empty: no proxy is trusted.",
    )
    trusted_proxy_header: str = Field(
        default="X-Forwarded-User",
        description="The header in which a trusted proxy names the signed-in user.",
    )
    sign_in_failures_per_name: int = Field(
        default=5, ge=1, description="Failed sign-ins of one name before it must wait."
    )
    sign_in_failures_per_client: int = Field(
        default=20, ge=1, description="Failed sign-ins from one address before it must wait."
    )
    sign_in_window_minutes: float = Field(
        default=15.0, gt=0, description="The window in which failed sign-ins are counted."
    )

    public_url: str | None = Field(
        default=None,
        description="The address browsers reach the service at (e.g. `https://stories.example`), "
        "for the OpenID Connect redirect URI; default: the address of the request.",
    )
    oidc_issuer: str = Field(
        default="",
        description="Issuer URL of an OpenID Connect provider to sign in with (its discovery "
        "document is `ISSUER/.well-known/openid-configuration`); empty: off.",
    )
    oidc_client_id: str = Field(
        default="", description="This service's client id at the OpenID Connect provider."
    )
    oidc_client_secret: SecretStr | None = Field(
        default=None,
        description="This service's client secret at the OpenID Connect provider (it also "
        "signs the short-lived state of a sign-in in progress).",
    )
    oidc_scopes: str = Field(
        default="openid email profile",
        description="Scopes asked of the OpenID Connect provider (space-separated).",
    )
    oidc_user_claim: str = Field(
        default="preferred_username",
        min_length=1,
        description="The ID token's claim that names the user here; only an existing user "
        "who is not disabled signs in.",
    )

    # --- e-mail (storyteller/notifications/mail.py) ----------------------------------
    smtp_host: str | None = Field(
        default=None,
        description="SMTP server that sends the notification e-mails; unset: no e-mail.",
    )
    smtp_port: int | None = Field(
        default=None,
        ge=1,
        le=65535,
        description="Port of the SMTP server; default by `SMTP_TLS`: 25 (none), 587 "
        "(starttls), 465 (tls).",
    )
    smtp_tls: Literal["none", "starttls", "tls"] = Field(
        default="starttls",
        description="How the connection to the SMTP server is encrypted: `starttls` (plain, "
        "then upgraded; the server must offer it), `tls` (TLS from the first byte) or `none`.",
    )
    smtp_username: str | None = Field(
        default=None, description="User name at the SMTP server; unset: no sign-in (AUTH)."
    )
    smtp_password: SecretStr | None = Field(
        default=None, description="Password at the SMTP server, with `SMTP_USERNAME`."
    )
    smtp_ca_file: Path | None = Field(
        default=None,
        description="PEM file of the certificate authority that signed the SMTP server's "
        "certificate, for a private one; default: the system's trusted authorities.",
    )
    smtp_timeout_s: float = Field(
        default=30.0, gt=0, description="Longest wait for the SMTP server at each step."
    )
    mail_from: str | None = Field(
        default=None,
        description="Sender of the notification e-mails, `stories@example.com` or "
        "`Video Storyteller <stories@example.com>`; needed with `SMTP_HOST`.",
    )
    mail_attachment_max_mb: float = Field(
        default=5.0,
        ge=0,
        description="A finished batch's e-mail carries its stories as a PDF (or, when that is "
        "too big, a ZIP of Markdown and text) up to this size; 0: never attach.",
    )

    # --- media limits -------------------------------------------------------
    max_video_seconds: float = Field(
        default=1800.0, gt=0, description="Longest video accepted, in seconds of decoded footage."
    )
    video_formats: list[str] = Field(
        default=list(DEFAULT_VIDEO_FORMATS),
        min_length=1,
        description="Containers accepted, by FFmpeg's names (JSON list): `mp4` and `mov` "
        "(QuickTime), `matroska` and `webm`, `avi`; a video in another is refused at probe.",
    )
    max_video_pixels: int = Field(
        default=4096 * 2160,
        gt=0,
        description="Largest picture accepted, width × height in pixels (default 4096 × 2160, "
        "4K); a larger video is refused at probe.",
    )
    max_video_fps: float = Field(
        default=120.0, gt=0, description="Highest frame rate accepted; a faster video is refused."
    )
    video_time_limit_s: float = Field(
        default=3600.0,
        gt=0,
        description="Longest one attempt at a video may run (wall clock); then its worker is "
        "stopped and the video fails with that reason, not retried.",
    )

    # --- speech -------------------------------------------------------------
    whisper_model: Literal["tiny.en", "base"] = Field(
        default="tiny.en",
        description="Speech model: `tiny.en` (English, fastest) or `base` (multilingual).",
    )
    whisper_threads: int = Field(
        default=0, ge=0, description="CPU threads for speech recognition; 0 means one per core."
    )
    whisper_vad: bool = Field(
        default=True, description="Skip silence with the voice-activity filter before transcribing."
    )

    # --- on-screen text and pictures ---------------------------------------
    ocr_min_confidence: float = Field(
        default=0.75, ge=0, le=1, description="On-screen text read with less confidence is dropped."
    )
    ocr_frames_per_scene: int = Field(
        default=2, ge=1, le=10, description="Frames read for on-screen text in each scene."
    )
    scene_threshold: float = Field(
        default=3.0,
        gt=0,
        description="How many times stronger than its neighbours a frame change must be to count "
        "as a cut (PySceneDetect's adaptive threshold); lower finds more cuts.",
    )
    analysis_width: int = Field(
        default=320,
        ge=64,
        description="Frames are scaled to this width for scene and look analysis.",
    )

    # --- the story ----------------------------------------------------------
    story_date_from: date | None = Field(
        default=None, description="Earliest dateline date. Default: 12 months before today."
    )
    story_date_to: date | None = Field(
        default=None, description="Latest dateline date (never after today). Default: today."
    )
    story_years: str | None = Field(
        default=None,
        description="Years allowed in datelines, `2024` or `2023-2025`; overrides the date range.",
    )
    disclaimer: str = Field(
        default=DEFAULT_DISCLAIMER, min_length=1, description="The last line of every story."
    )
    default_teller: str = Field(default="local", description="Teller used when none is named.")

    # --- AI tellers ---------------------------------------------------------
    gemini_api_key: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("GEMINI_API_KEY", "STORYTELLER_GEMINI_API_KEY"),
        description="Google Gemini API key; the gemini teller needs it.",
    )
    prices_file: Path | None = Field(
        default=None,
        description="JSON file of model prices (dollars per million tokens in and out) used to "
        "cost AI stories; default: the one shipped with the package.",
    )
    daily_budget_usd: float | None = Field(
        default=None,
        gt=0,
        description="Most dollars the AI tellers may spend in a day (UTC), counted from the "
        "recorded cost of stories plus the estimate of those being written; a video that "
        "would pass it waits, with that reason shown. Unset: no daily limit.",
    )
    batch_budget_usd: float | None = Field(
        default=None,
        gt=0,
        description="Most dollars the AI tellers may spend on one batch (regenerated stories "
        "included); a video that would pass it waits, with that reason shown. Unset: no limit.",
    )
    gemini_model: str = Field(
        default="gemini-2.5-flash",
        min_length=1,
        description="Gemini model the gemini teller asks (preview models get retired: "
        "pick one that is listed).",
    )
    gemini_base_url: str | None = Field(
        default=None,
        description="Address of the Gemini API, for a proxy or a test server; default: Google's.",
    )
    gemini_media_resolution: Literal["low", "medium", "high"] = Field(
        default="low",
        description="Detail Gemini sees in each video frame; `low` costs about a quarter of "
        "the tokens of `medium`.",
    )
    gemini_fps: float = Field(
        default=1.0, gt=0, le=24, description="Frames per second of video Gemini looks at."
    )
    gemini_inline_max_mb: float = Field(
        default=20.0,
        ge=0,
        description="Videos up to this size are sent inside the request; larger ones go "
        "through the Files API.",
    )
    gemini_max_concurrency: int = Field(
        default=4,
        ge=1,
        description="Most requests to Gemini at once, across all workers of this machine.",
    )
    gemini_requests_per_minute: int = Field(
        default=60,
        ge=0,
        description="Most requests to Gemini a minute, across all workers of this machine; "
        "0 means no limit.",
    )
    gemini_timeout_s: float = Field(
        default=300.0,
        gt=0,
        description="Longest wait for one Gemini answer, and for an uploaded video to be ready.",
    )
    gemini_batch_mode: bool = Field(
        default=False,
        description="Send `low` priority videos of the gemini teller through Gemini Batch Mode "
        "(half price, answers within hours) instead of asking at once.",
    )
    gemini_batch_size: int = Field(
        default=50, ge=1, description="Most videos in one Gemini Batch Mode job."
    )
    gemini_batch_max_mb: float = Field(
        default=20.0,
        gt=0,
        description="Largest Batch Mode job, in MB of request (Google's limit for requests "
        "sent inline); videos that would not fit go through the Files API.",
    )
    gemini_batch_gather_s: float = Field(
        default=300.0,
        ge=0,
        description="How long a video waits for others to share its Batch Mode job before "
        "the group is sent anyway.",
    )
    gemini_batch_poll_s: float = Field(
        default=60.0, gt=0, description="How often Batch Mode jobs are asked whether they are done."
    )
    gemini_batch_max_wait_h: float = Field(
        default=24.0,
        gt=0,
        description="A Batch Mode job not done after this many hours is cancelled and its "
        "videos sent again (or failed, once out of attempts).",
    )
    teller_max_retries: int = Field(
        default=4,
        ge=0,
        description="Retries of a remote teller's request after a 429, 500, 503 or timeout.",
    )

    # --- openai-compatible teller -------------------------------------------
    openai_api_key: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("OPENAI_API_KEY", "STORYTELLER_OPENAI_API_KEY"),
        description="API key of the OpenAI-compatible server; local servers need none.",
    )
    openai_base_url: str | None = Field(
        default=None,
        description="Address of an OpenAI-compatible API (ending in /v1), such as Ollama's "
        "http://localhost:11434/v1; default: OpenAI's.",
    )
    openai_model: str = Field(
        default="gpt-4.1-mini",
        min_length=1,
        description="Model the openai teller asks; it must accept images.",
    )
    openai_timeout_s: float = Field(
        default=120.0, gt=0, description="Longest wait for one answer of the openai teller."
    )
    openai_max_concurrency: int = Field(
        default=4,
        ge=1,
        description="Most requests to the OpenAI-compatible server at once, across all "
        "workers of this machine.",
    )
    openai_requests_per_minute: int = Field(
        default=60,
        ge=0,
        description="Most requests to the OpenAI-compatible server a minute, across all "
        "workers of this machine; 0 means no limit.",
    )
    openai_max_keyframes: int = Field(
        default=8,
        ge=0,
        description="Most keyframes sent as images, spread over the video's shots.",
    )

    # --- shared storage (several machines) ----------------------------------
    storage: Literal["local", "s3"] = Field(
        default="local",
        description="Where uploaded videos live: `local` (a folder, possibly on a shared "
        "filesystem) or `s3` (an S3-compatible bucket every machine reaches).",
    )
    storage_dir: Path | None = Field(
        default=None,
        description="Folder of the `local` storage; for several machines, one every machine "
        "mounts. Default: `uploads/` in the data folder.",
    )
    s3_bucket: str | None = Field(
        default=None, description="Bucket of the `s3` storage; the `s3` storage needs it."
    )
    s3_prefix: str = Field(
        default="", description="Folder in the bucket the videos go under, e.g. `storyteller/`."
    )
    s3_endpoint_url: str | None = Field(
        default=None,
        description="Address of an S3-compatible server (MinIO, Ceph...); default: AWS S3.",
    )
    s3_region: str | None = Field(
        default=None, description="Region of the bucket; default: the AWS configuration's."
    )
    fetch_cache_mb: int = Field(
        default=5120,
        ge=0,
        description="Most megabytes of videos fetched from the `s3` storage kept on this "
        "machine; the least recently used go first.",
    )

    # --- notifications (storyteller/notifications/) ---------------------------
    webhook_allowed_hosts: str = Field(
        default="",
        description="Host names or networks (CIDR, e.g. `10.0.0.0/8`), comma-separated, that "
        "webhooks may reach although they are private or loopback (an internal receiver); "
        "plain http is then allowed to them too. Empty: only public https addresses.",
    )
    webhook_retry_schedule: str = Field(
        default="5,30,120,600,1800,3600,7200,14400,28800,43200",
        description="Seconds before each retry of a notification that failed for a reason "
        "that may pass (time-out, 5xx, 429), comma-separated; each waits 80-120% of its "
        "value (jitter). Out of retries, the message is failed. The default spans about a day.",
    )
    webhook_timeout_s: float = Field(
        default=10.0,
        gt=0,
        description="Most seconds a webhook delivery may take, connecting included.",
    )
    webhook_connect_timeout_s: float = Field(
        default=5.0, gt=0, description="Most seconds to connect to a webhook receiver."
    )
    notification_story_limit_kb: int = Field(
        default=256,
        ge=1,
        description="Largest notification body in kilobytes with its stories in it; beyond "
        "it stories are left out (longest first) with a `storyUrl` to fetch each from.",
    )
    notification_concurrency: int = Field(
        default=8,
        ge=1,
        description="Notifications one process delivers at the same time.",
    )
    notification_poll_s: float = Field(
        default=0.25,
        gt=0,
        description="How often a process looks for notifications that are due (a new one "
        "on PostgreSQL wakes it at once through LISTEN/NOTIFY).",
    )
    secrets_key: SecretStr | None = Field(
        default=None,
        description="A Fernet key that encrypts webhook signing secrets in the database (make "
        "one with `python -c 'from cryptography.fernet import Fernet; "
        "print(Fernet.generate_key().decode())'`); every process needs the same one. Unset: "
        "they are stored as they are.",
    )

    @field_validator("job_engine", mode="before")
    @classmethod
    def _name_the_distributed_engine(cls, value: object) -> object:
        # The plan named Procrastinate; the distributed engine became `workers` (the
        # video rows stay the one queue): say so to whoever follows the plan.
        if isinstance(value, str) and value.strip().lower() == "procrastinate":
            raise ValueError(
                "there is no `procrastinate` engine: the distributed one is `workers` "
                "(storyteller worker processes sharing PostgreSQL; see docs/deploy.md)"
            )
        return value

    @model_validator(mode="after")
    def _check_job_engine(self) -> Settings:
        if self.job_engine == "workers" and not self.uses_postgres:
            raise ValueError(
                "STORYTELLER_JOB_ENGINE=workers needs PostgreSQL: set STORYTELLER_DATABASE_URL "
                "to postgresql+psycopg://user@host/db (web processes and workers share the queue "
                "and live updates through it), or use STORYTELLER_JOB_ENGINE=embedded with SQLite"
            )
        return self

    @property
    def uses_postgres(self) -> bool:
        """Whether the database is PostgreSQL (rather than the default SQLite file)."""
        return (self.database_url or "").startswith(("postgresql", "postgres:"))

    @model_validator(mode="after")
    def _check_oidc(self) -> Settings:
        if self.oidc_issuer and not (
            self.oidc_client_id
            and self.oidc_client_secret
            and self.oidc_client_secret.get_secret_value()
        ):
            raise ValueError(
                "STORYTELLER_OIDC_ISSUER needs STORYTELLER_OIDC_CLIENT_ID and "
                "STORYTELLER_OIDC_CLIENT_SECRET: register this service with the provider as a "
                "confidential client whose redirect URI is PUBLIC_URL/api/auth/oidc/callback"
            )
        return self

    @model_validator(mode="after")
    def _check_storage(self) -> Settings:
        if self.storage == "s3" and not (self.s3_bucket or "").strip():
            raise ValueError(
                "STORYTELLER_STORAGE=s3 needs STORYTELLER_S3_BUCKET: the bucket the videos "
                "are kept in"
            )
        url = self.s3_endpoint_url
        if url and not url.startswith(("http://", "https://")):
            raise ValueError(
                f"STORYTELLER_S3_ENDPOINT_URL must start with http:// or https://, not {url!r}"
            )
        return self

    @model_validator(mode="after")
    def _check_mail(self) -> Settings:
        if self.smtp_host and not (self.mail_from or "").strip():
            raise ValueError(
                "STORYTELLER_SMTP_HOST needs STORYTELLER_MAIL_FROM: the address the "
                "notification e-mails come from (one the SMTP server lets you send as)"
            )
        if self.mail_from and ("\r" in self.mail_from or "\n" in self.mail_from):
            raise ValueError("STORYTELLER_MAIL_FROM must be one line")
        return self

    @property
    def mail_configured(self) -> bool:
        """Whether notification e-mails can be sent (an SMTP server is set)."""
        return bool((self.smtp_host or "").strip())

    @property
    def smtp_port_or_default(self) -> int:
        """The SMTP port: the setting, or the usual one of the TLS mode."""
        return self.smtp_port or {"none": 25, "starttls": 587, "tls": 465}[self.smtp_tls]

    @field_validator("story_years")
    @classmethod
    def _check_years(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        parts = value.strip().split("-")
        if len(parts) not in (1, 2) or not all(p.strip().isdigit() for p in parts):
            raise ValueError("use a year like 2024 or a range like 2023-2025")
        first, last = int(parts[0]), int(parts[-1])
        if first > last:
            raise ValueError("the first year of the range is after the last")
        return value.strip()

    @property
    def cache_dir(self) -> Path:
        return self.data_dir / "cache"

    @property
    def concurrent_jobs(self) -> int:
        """Videos at once: the setting, or one per two cores (a video keeps two busy:
        speech beside the pictures) within about 1 GB of memory each."""
        if self.max_concurrent_jobs:
            return self.max_concurrent_jobs
        cores = os.cpu_count() or 1
        try:
            memory_gb = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") / 2**30
        except (ValueError, OSError):
            memory_gb = 4.0
        return max(1, min(cores // 2 or 1, int(memory_gb // 1.5)))

    @property
    def speech_threads(self) -> int:
        return self.whisper_threads or (os.cpu_count() or 1)

    def story_date_range(self, today: date | None = None) -> tuple[date, date]:
        """The dates a dateline may carry: never in the future."""
        today = today or date.today()
        if self.story_years:
            parts = self.story_years.split("-")
            first, last = date(int(parts[0]), 1, 1), date(int(parts[-1]), 12, 31)
        else:
            first = self.story_date_from or (today - timedelta(days=365) + timedelta(days=1))
            last = self.story_date_to or today
        last = min(last, today)
        if first > last:
            raise ValueError(
                f"no dateline date is allowed: the range starts {first} and ends {last} "
                "(dates in the future are never used)"
            )
        return first, last


@lru_cache
def get_settings() -> Settings:
    return Settings()
