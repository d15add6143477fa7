"""Logs as JSON lines: each line one object, naming the batch and video it is about."""

from __future__ import annotations

import json
import logging

from storyteller.logs import JsonLines, about, uvicorn_config


def test_a_line_names_its_batch_and_video() -> None:
    record = logging.LogRecord(
        "storyteller.jobs.engine", logging.INFO, __file__, 1, "video %s completed", ("v1",), None
    )
    for key, value in about(batch="b1", video="v1").items():
        setattr(record, key, value)
    line = json.loads(JsonLines().format(record))
    assert line["message"] == "video v1 completed"
    assert (line["batch"], line["video"], line["level"]) == ("b1", "v1", "INFO")
    assert line["time"].endswith("Z")


def test_a_line_about_nothing_in_particular_names_nothing() -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        import sys

        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "broke", (), sys.exc_info())
    line = json.loads(JsonLines().format(record))
    assert "batch" not in line and "video" not in line
    assert "ValueError: boom" in line["exception"]


def test_uvicorn_keeps_its_own_logging_unless_json_is_asked() -> None:
    assert uvicorn_config("text") is None
    config = uvicorn_config("json")
    assert config is not None
    assert config["formatters"]["json"]["()"] == "storyteller.logs.JsonLines"
    assert config["loggers"]["uvicorn.access"]["handlers"] == ["json"]
