"""`storyteller admin ...` against a real server (uvicorn on a loopback port, its engine
running the scripted jobs): pause, resume, summary, workers, drain, undrain, stop."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from storyteller.cli import app
from tests.api.test_cli_client import server, videos

pytestmark = pytest.mark.timeout(120)
__all__ = ["server", "videos"]  # the fixtures

runner = CliRunner()


def admin(server: str, *args: str) -> str:
    result = runner.invoke(app, ["admin", *args, "--server", server])
    assert result.exit_code == 0, result.output
    return result.output


def test_pause_resume_summary_and_workers(server: str) -> None:
    assert "paused" in admin(server, "pause")
    assert "processing: PAUSED" in admin(server, "summary")
    assert json.loads(admin(server, "summary", "--json"))["paused"] is True
    assert "resumed" in admin(server, "resume")
    assert "processing: on" in admin(server, "summary")
    listed = json.loads(admin(server, "workers", "--json"))
    assert len(listed) == 1
    worker = listed[0]["id"]
    assert worker in admin(server, "workers")
    assert "draining" in admin(server, "drain", worker)
    assert json.loads(admin(server, "workers", "--json"))[0]["draining"] is True
    assert "again" in admin(server, "undrain", worker)
    assert "stopping" in admin(server, "stop", worker)
    refused = runner.invoke(app, ["admin", "drain", "nobody", "--server", server])
    assert refused.exit_code == 1 and "no worker nobody" in refused.output
