"""The service on S3 storage, in-process against a real S3-compatible server (moto's, over
HTTP): uploads are published to the bucket, workers fetch them, deleting a job deletes
its objects, and a storage that is away is a clear 503 that keeps nothing."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from typer.testing import CliRunner

from storyteller.storage.objects import StorageError
from storyteller.storage.uploads import UploadStore
from tests.api.conftest import MakeClient, video_files, wait_for_job
from tests.media import Clip
from tests.storage.test_objects import AWS_ENV, SERVER, bucket, s3_endpoint

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(180)]

__all__ = ["bucket", "s3_endpoint"]  # fixtures, shared with tests/storage


@pytest.fixture(autouse=True)
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    # Worker processes are spawned from this one: they see the same credentials.
    for name, value in AWS_ENV.items():
        monkeypatch.setenv(name, value)


def objects(endpoint: str, bucket: str) -> list[dict[str, Any]]:
    client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
    found: list[dict[str, Any]] = client.list_objects_v2(Bucket=bucket).get("Contents", [])
    return found


def files_under(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.startswith("."))


def key_of(path: Path) -> str:
    return UploadStore.key_for(hashlib.sha256(path.read_bytes()).hexdigest())


def s3_settings(endpoint: str, bucket: str, **more: Any) -> dict[str, Any]:
    return {
        "storage": "s3",
        "s3_bucket": bucket,
        "s3_endpoint_url": endpoint,
        "s3_region": "us-east-1",
        **more,
    }


async def test_an_upload_is_published_fetched_by_the_worker_told_and_deleted(
    make_client: MakeClient, s3_endpoint: str, bucket: str, snow_clip: Clip
) -> None:
    # No fetch cache: the upload's copy leaves this disk once published, so the worker
    # can only have told the story from what it downloaded.
    client = await make_client(
        start_engine=True, **s3_settings(s3_endpoint, bucket, fetch_cache_mb=0)
    )
    settings = client._transport.app.state.settings  # type: ignore[attr-defined]
    answer = await client.post("/api/upload", files=video_files(("snow.webm", snow_clip.path)))
    assert answer.status_code == 200, answer.text
    job_id = answer.json()["jobId"]

    stored = objects(s3_endpoint, bucket)
    assert [(o["Key"], o["Size"]) for o in stored] == [
        (key_of(snow_clip.path), snow_clip.path.stat().st_size)
    ]
    assert files_under(settings.data_dir / "uploads") == []  # nothing kept but the object

    job = await wait_for_job(client, job_id)
    video = job["videos"][0]
    assert video["status"] == "completed", video
    assert video["story"]
    assert files_under(settings.cache_dir / "videos") == []  # evicted once read

    answer = await client.delete(f"/api/job/{job_id}")
    assert answer.status_code == 200, answer.text
    assert objects(s3_endpoint, bucket) == []


async def test_the_same_bytes_are_stored_once_and_kept_for_the_other_job(
    make_client: MakeClient, s3_endpoint: str, bucket: str, snow_clip: Clip
) -> None:
    client = await make_client(**s3_settings(s3_endpoint, bucket))
    jobs = []
    for name in ("first.webm", "again.webm"):
        answer = await client.post("/api/upload", files=video_files((name, snow_clip.path)))
        assert answer.status_code == 200, answer.text
        jobs.append(answer.json()["jobId"])
    assert [o["Key"] for o in objects(s3_endpoint, bucket)] == [key_of(snow_clip.path)]

    assert (await client.delete(f"/api/job/{jobs[0]}")).status_code == 200
    assert [o["Key"] for o in objects(s3_endpoint, bucket)] == [key_of(snow_clip.path)]
    assert (await client.delete(f"/api/job/{jobs[1]}")).status_code == 200
    assert objects(s3_endpoint, bucket) == []


async def test_a_refused_file_is_not_published(
    make_client: MakeClient, s3_endpoint: str, bucket: str, snow_clip: Clip
) -> None:
    client = await make_client(**s3_settings(s3_endpoint, bucket))
    files = video_files(("snow.webm", snow_clip.path), ("notes.mp4", b"just some text\n" * 50))
    answer = await client.post("/api/upload", files=files)
    assert answer.status_code == 200, answer.text
    assert [v["status"] for v in answer.json()["videos"]] == ["pending", "failed"]
    assert [o["Key"] for o in objects(s3_endpoint, bucket)] == [key_of(snow_clip.path)]


async def test_a_resumable_upload_is_published_when_its_batch_is_made(
    make_client: MakeClient, s3_endpoint: str, bucket: str, snow_clip: Clip
) -> None:
    client = await make_client(**s3_settings(s3_endpoint, bucket))
    settings = client._transport.app.state.settings  # type: ignore[attr-defined]
    data = snow_clip.path.read_bytes()
    tus = {"Tus-Resumable": "1.0.0"}
    made = await client.post(
        "/api/uploads/",
        headers={
            **tus,
            "Upload-Length": str(len(data)),
            "Upload-Metadata": "filename c25vdy53ZWJt",
        },
    )
    assert made.status_code == 201, made.text
    url = made.headers["location"]
    sent = await client.patch(
        url,
        content=data,
        headers={**tus, "Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"},
    )
    assert sent.status_code == 204, sent.text

    answer = await client.post("/api/uploads/batch", json={"uploads": [url]})

    assert answer.status_code == 200, answer.text
    assert [v["name"] for v in answer.json()["videos"]] == ["snow.webm"]
    assert [o["Key"] for o in objects(s3_endpoint, bucket)] == [key_of(snow_clip.path)]
    assert files_under(settings.data_dir / "uploads") == []  # the tus files went with it


@pytest.fixture
def doomed_endpoint() -> Iterator[tuple[str, subprocess.Popen[str]]]:
    """An S3 server of its own, for a test to stop."""
    server = subprocess.Popen(
        [sys.executable, "-c", SERVER],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert server.stdout is not None
        yield f"http://127.0.0.1:{int(server.stdout.readline())}", server
    finally:
        server.kill()
        server.wait(timeout=10)


async def test_an_unreachable_storage_is_a_503_with_the_reason_and_keeps_nothing(
    make_client: MakeClient,
    doomed_endpoint: tuple[str, subprocess.Popen[str]],
    snow_clip: Clip,
) -> None:
    endpoint, server = doomed_endpoint
    boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1").create_bucket(
        Bucket="videos"
    )
    client = await make_client(**s3_settings(endpoint, "videos"))
    settings = client._transport.app.state.settings  # type: ignore[attr-defined]
    server.kill()
    server.wait(timeout=10)

    answer = await client.post("/api/upload", files=video_files(("snow.webm", snow_clip.path)))

    assert answer.status_code == 503, answer.text
    assert answer.json()["error"].startswith(f"cannot reach the object storage at {endpoint}")
    assert files_under(settings.data_dir / "uploads") == []
    assert files_under(settings.cache_dir / "videos") == []
    assert (await client.get("/api/jobs")).json()["total"] == 0


async def test_the_service_does_not_start_on_a_missing_bucket(
    make_client: MakeClient, s3_endpoint: str
) -> None:
    with pytest.raises(StorageError) as failed:
        await make_client(**s3_settings(s3_endpoint, "no-such-videos"))
    assert failed.value.code == "no_bucket"


def test_serve_says_what_to_fix_and_exits_2(
    s3_endpoint: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from storyteller.cli import app

    for name, value in {
        "STORYTELLER_DATA_DIR": str(tmp_path / "data"),
        "STORYTELLER_STORAGE": "s3",
        "STORYTELLER_S3_BUCKET": "no-such-videos",
        "STORYTELLER_S3_ENDPOINT_URL": s3_endpoint,
    }.items():
        monkeypatch.setenv(name, value)
    result = CliRunner().invoke(app, ["serve"])
    assert result.exit_code == 2
    assert "bucket no-such-videos does not exist at" in result.output
    assert "Traceback" not in result.output


async def test_local_storage_in_a_shared_folder_is_used_in_place(
    make_client: MakeClient, tmp_path: Path, snow_clip: Clip
) -> None:
    shared = tmp_path / "shared"
    client = await make_client(start_engine=True, storage_dir=shared)
    answer = await client.post("/api/upload", files=video_files(("snow.webm", snow_clip.path)))
    assert answer.status_code == 200, answer.text
    assert files_under(shared) == [shared / key_of(snow_clip.path)]
    job_id = answer.json()["jobId"]
    job = await wait_for_job(client, job_id)
    assert job["videos"][0]["status"] == "completed", job
    assert (await client.delete(f"/api/job/{job_id}")).status_code == 200
    assert files_under(shared) == []
