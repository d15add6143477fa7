"""`storyteller webhooks ...` and `storyteller submit --notify-email` against a real
server (uvicorn on a loopback port, the scripted jobs of tests/jobs) and a real receiver."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from storyteller.app import create_app
from storyteller.cli import app
from storyteller.config import Settings
from tests.jobs.scripted import SCRIPTED
from tests.notifications.receiver import Receiver
from tests.service.server import served_in_thread

pytestmark = [
    pytest.mark.timeout(120),
    pytest.mark.parametrize("database_url", ["sqlite"], indirect=True),
]

runner = CliRunner()


@pytest.fixture
def server(settings: Settings, database_url: str) -> Iterator[str]:
    service = create_app(
        settings.model_copy(
            update={"database_url": database_url, "webhook_allowed_hosts": "127.0.0.1"}
        ),
        start_engine=True,
        job=SCRIPTED,
    )
    with served_in_thread(service) as address:
        yield address


def test_webhooks_are_managed_from_the_command_line(server: str, tmp_path: Path) -> None:
    with Receiver() as receiver:
        added = runner.invoke(
            app, ["webhooks", "add", receiver.url, "--event", "batch.completed", "--server", server]
        )
        assert added.exit_code == 0, added.output
        hook_id = added.stdout.split()[0]
        receiver.secret = added.stdout.split("secret: ")[1].split()[0]
        listed = runner.invoke(app, ["webhooks", "list", "--server", server])
        assert hook_id in listed.stdout and "batch.completed" in listed.stdout
        assert "whsec_" not in listed.stdout
        rotated = runner.invoke(app, ["webhooks", "rotate", hook_id, "--server", server])
        assert rotated.exit_code == 0
        receiver.secret = rotated.stdout.split("secret: ")[1].split()[0]
        tested = runner.invoke(app, ["webhooks", "test", hook_id, "--server", server])
        assert tested.exit_code == 0 and "msg_" in tested.stdout
        arrived = receiver.wait_for(1)[0]
        assert arrived.verified and arrived.event["type"] == "webhook.test"
        video = tmp_path / "ok.mp4"
        video.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(64))
        submitted = runner.invoke(
            app, ["submit", str(video), "--notify-email", "desk@example.com", "--server", server]
        )
        assert submitted.exit_code == 0, submitted.output
        assert receiver.wait_for(2)[1].event["type"] == "batch.completed"
        log = runner.invoke(app, ["webhooks", "deliveries", hook_id, "--server", server])
        assert log.stdout.count("delivered") == 2 and " 200 " in log.stdout
        removed = runner.invoke(app, ["webhooks", "remove", hook_id, "--server", server])
        assert removed.exit_code == 0
        gone = runner.invoke(app, ["webhooks", "test", hook_id, "--server", server])
        assert gone.exit_code == 1 and "no webhook with that id" in gone.output


def test_refusals_are_messages(server: str, tmp_path: Path) -> None:
    private = runner.invoke(app, ["webhooks", "add", "https://10.0.0.1/hook", "--server", server])
    assert private.exit_code == 1
    assert "private" in private.output and "(422)" in private.output
    video = tmp_path / "ok.mp4"
    video.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(64))
    bad = runner.invoke(app, ["submit", str(video), "--notify-email", "nobody", "--server", server])
    assert bad.exit_code == 1 and "notify_email" in bad.output
