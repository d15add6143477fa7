"""`storyteller users ...` and `storyteller keys ...` on a real database, the client
commands with a key (`--api-key`, `STORYTELLER_API_KEY`) against a real server, a key
revoked from the command line refused at once, tuspy with a key, and `serve` beyond
loopback refusing to start with no user."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from tusclient.client import TusClient
from typer.testing import CliRunner

from storyteller.app import create_app
from storyteller.cli import app
from storyteller.config import Settings
from tests.service.server import served_in_thread

pytestmark = pytest.mark.timeout(120)

runner = CliRunner()
SOME_BYTES = b"\x00\x00\x00\x18ftypmp42" + bytes(4096)  # passes the first-bytes check


@pytest.fixture
def env(settings: Settings, database_url: str) -> dict[str, str]:
    return {
        "STORYTELLER_DATABASE_URL": database_url,
        "STORYTELLER_DATA_DIR": str(settings.data_dir),
    }


@pytest.fixture
def server(settings: Settings, database_url: str) -> Iterator[str]:
    service = create_app(
        settings.model_copy(update={"database_url": database_url}), start_engine=False
    )
    with served_in_thread(service) as address:
        yield address


def invoke(args: list[str], env: dict[str, str], stdin: str | None = None) -> str:
    result = runner.invoke(app, args, env=env, input=stdin)
    assert result.exit_code == 0, result.output
    return result.output


def test_users_are_added_listed_set_and_disabled(env: dict[str, str]) -> None:
    invoke(["users", "add", "ann", "--role", "admin", "--password-stdin"], env, "long enough\n")
    invoke(["users", "add", "bob", "--password-stdin"], env, "long enough\n")
    invoke(
        ["users", "set", "bob", "--priority", "low", "--videos-per-day", "10",
         "--ai-usd-per-day", "2.5"],
        env,
    )  # fmt: skip
    invoke(["users", "disable", "ann"], env)
    listed = invoke(["users", "list"], env).splitlines()
    assert listed[0].startswith("ann\tadmin") and listed[0].endswith("(disabled)")
    assert listed[1].startswith("bob\tmember\tlow") and "videos/day 10" in listed[1]
    assert "AI $/day 2.5" in listed[1]
    again = runner.invoke(app, ["users", "add", "bob", "--password-stdin"], env=env, input="x" * 9)
    assert again.exit_code == 1 and "exists already" in again.output
    short = runner.invoke(app, ["users", "add", "carl", "--password-stdin"], env=env, input="short")
    assert short.exit_code == 1 and "at least 8 characters" in short.output
    invoke(["users", "reset-password", "bob", "--password-stdin"], env, "another long one\n")


def test_keys_from_the_command_line_open_the_service_and_close_it_when_revoked(
    env: dict[str, str], server: str, tmp_path: Path
) -> None:
    invoke(["users", "add", "ann", "--password-stdin"], env, "long enough\n")
    key = invoke(["keys", "create", "ann"], env).strip().splitlines()[-1]
    assert key.startswith("st_")
    video = tmp_path / "ok.mp4"
    video.write_bytes(SOME_BYTES)
    refused = runner.invoke(app, ["submit", "--server", server, str(video)], env=env)
    assert refused.exit_code == 1 and "401" in refused.output and "--api-key" in refused.output
    submitted = invoke(["submit", "--server", server, "--api-key", key, str(video)], env)
    job_id = submitted.split()[1].rstrip(":")
    by_env = invoke(["status", job_id, "--server", server], {**env, "STORYTELLER_API_KEY": key})
    assert "ok.mp4" in by_env
    key_id = invoke(["keys", "list", "ann"], env).split("\t")[0]
    invoke(["keys", "revoke", key_id], env)
    assert "revoked" in invoke(["keys", "list", "ann"], env)
    after = runner.invoke(app, ["status", job_id, "--server", server, "--api-key", key], env=env)
    assert after.exit_code == 1 and "401" in after.output


def test_tuspy_uploads_with_a_key(env: dict[str, str], server: str, tmp_path: Path) -> None:
    invoke(["users", "add", "ann", "--password-stdin"], env, "long enough\n")
    key = invoke(["keys", "create", "ann"], env).strip().splitlines()[-1]
    video = tmp_path / "clip.mp4"
    video.write_bytes(SOME_BYTES)
    without = TusClient(f"{server}/api/uploads/").uploader(str(video), chunk_size=1024)
    with pytest.raises(Exception, match="401"):
        without.upload()
    client = TusClient(f"{server}/api/uploads/", headers={"Authorization": f"Bearer {key}"})
    uploader = client.uploader(str(video), chunk_size=1024, metadata={"filename": "clip.mp4"})
    uploader.upload()
    import httpx

    answer = httpx.post(
        f"{server}/api/uploads/batch",
        json={"uploads": [uploader.url]},
        headers={"Authorization": f"Bearer {key}"},
    )
    assert answer.status_code == 200, answer.text


def test_serve_beyond_loopback_with_no_user_refuses_to_start(env: dict[str, str]) -> None:
    result = runner.invoke(app, ["serve", "--host", "0.0.0.0", "--port", "1"], env=env)
    assert result.exit_code == 2
    assert "storyteller users add NAME --role admin --password-stdin" in result.output
