"""What the command line prints from a server is shown, never obeyed: a name carrying a
terminal escape (retitle the window, clear the screen) or a bidi override prints as
visible `\\uXXXX` (a server of an older version may still hold such names)."""

from __future__ import annotations

import json

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from typer.testing import CliRunner

from storyteller.cli import app
from storyteller.commands.common import visible
from tests.service.server import served_in_thread

HOSTILE = "\x1b]0;owned\x07clip\u202e4pm.mp4"
STORY = '\x1b[2J"Title"\n\nA line\x9b31m red.'


def _job(request: Request) -> JSONResponse:
    video = {
        "id": "v1", "originalName": HOSTILE, "status": "failed", "statusDetail": "failed",
        "story": None, "error": f"{HOSTILE} is not a video\x1b[8m", "createdAt": None,
        "completedAt": None,
    }  # fmt: skip
    done = {**video, "id": "v2", "status": "completed", "statusDetail": "completed",
            "story": STORY, "error": None}  # fmt: skip
    return JSONResponse({"id": "j1", "status": "completed", "videos": [video, done]})


def test_visible_shows_controls_and_bidi_but_keeps_line_breaks() -> None:
    assert visible(HOSTILE) == "\\u001b]0;owned\\u0007clip\\u202e4pm.mp4"
    assert visible("one\ntwo\ttab") == "one\ntwo\\u0009tab"
    assert visible("Zürich — 日本") == "Zürich — 日本"


def test_status_prints_hostile_names_harmlessly() -> None:
    fake = Starlette(routes=[Route("/api/job/{job_id}", _job)])
    runner = CliRunner()
    with served_in_thread(fake) as server:
        plain = runner.invoke(app, ["status", "j1", "--server", server])
        stories = runner.invoke(app, ["status", "j1", "--server", server, "--stories"])
        as_json = runner.invoke(app, ["status", "j1", "--server", server, "--json"])
    for result in (plain, stories, as_json):
        assert result.exit_code == 0, result.output
        assert not any(ch in result.output for ch in "\x1b\x07\x9b\u202e")
    assert "\\u001b]0;owned\\u0007clip\\u202e4pm.mp4" in plain.output
    assert "\\u001b[2J" in stories.output and "A line\\u009b31m red." in stories.output
    # Still JSON, and reads back to the very names the server sent.
    assert json.loads(as_json.output)["videos"][0]["originalName"] == HOSTILE
