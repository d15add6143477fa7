"""Logs as JSON lines, when asked (`STORYTELLER_LOG_FORMAT=json`): one object a line,
naming the batch and the video of every line about one (`extra=about(...)`)."""

from __future__ import annotations

import datetime as dt
import json
import logging
from typing import Any

# The fields of a record that name what it is about, as they appear in the line.
ABOUT = ("batch", "video", "worker")


def about(*, batch: str | None = None, video: str | None = None) -> dict[str, Any]:
    """The `extra` of a log call about one batch or video."""
    return {key: value for key, value in (("batch", batch), ("video", video)) if value}


class JsonLines(logging.Formatter):
    """`{"time", "level", "logger", "message", "batch"?, "video"?, "exception"?}`."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key in ABOUT:
            value = getattr(record, key, None)
            if value:
                line[key] = value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False)


TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def configure(log_format: str, level: int = logging.INFO) -> None:
    """Logging of a `storyteller worker` (or any process without uvicorn) to stderr. As
    `logging.basicConfig`, it leaves a process whose logging is already set up alone (a
    command run inside another program, such as a test runner, keeps that program's)."""
    root = logging.getLogger()
    if root.handlers:
        return
    handler = logging.StreamHandler()
    handler.setFormatter(JsonLines() if log_format == "json" else logging.Formatter(TEXT_FORMAT))
    root.addHandler(handler)
    root.setLevel(level)


def uvicorn_config(log_format: str) -> dict[str, Any] | None:
    """uvicorn's `log_config` for `storyteller serve`: None keeps uvicorn's own (text);
    `json` sends every logger (ours, uvicorn's, its access log) as JSON lines."""
    if log_format != "json":
        return None
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": "storyteller.logs.JsonLines"}},
        "handlers": {"json": {"class": "logging.StreamHandler", "formatter": "json"}},
        "root": {"handlers": ["json"], "level": "INFO"},
        "loggers": {
            name: {"handlers": ["json"], "level": "INFO", "propagate": False}
            for name in ("uvicorn", "uvicorn.error", "uvicorn.access")
        },
    }
