"""Safe on a network: the host names the service answers to, writes from other sites'
pages refused, CORS same-origin unless configured, the security headers, and no host
name, process id or server folder in an answer."""

from __future__ import annotations

import errno
import logging
import socket
from pathlib import Path

import pytest

from storyteller.api.errors import answer
from storyteller.storage.objects import FolderStore, StorageError
from tests.api.conftest import MakeClient, video_files
from tests.api.test_errors import assert_error
from tests.media import Clip

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(120)]

EVIL = "https://evil.example"
NO_JOB = "/api/job/00000000-0000-0000-0000-000000000000"


async def test_a_host_name_not_allowed_is_refused(make_client: MakeClient) -> None:
    client = await make_client()
    # DNS rebinding: evil.example made to point at this machine still sends its own name.
    refused = await client.get("/api/jobs", headers={"Host": "evil.example"})
    assert_error(refused, 400, "'evil.example'", "STORYTELLER_ALLOWED_HOSTS")
    for host in ("localhost:8000", "127.0.0.1", "[::1]:8000", "storyteller.test"):
        assert (await client.get("/api/jobs", headers={"Host": host})).status_code == 200, host


async def test_allowed_hosts_take_names_and_subdomains(make_client: MakeClient) -> None:
    client = await make_client(allowed_hosts=["stories.example", "*.corp.example"])
    for host, status in (
        ("stories.example", 200),
        ("STORIES.example:443", 200),
        ("news.corp.example", 200),
        ("corp.example.evil", 400),
        ("localhost", 400),
        ("storyteller.test", 400),
    ):
        got = await client.get("/health", headers={"Host": host})
        assert got.status_code == status, host


async def test_a_write_from_another_site_s_page_is_refused(
    make_client: MakeClient, speech_clip: Clip
) -> None:
    client = await make_client()
    for method in ("DELETE", "POST"):
        path = NO_JOB if method == "DELETE" else f"{NO_JOB}/retry"
        refused = await client.request(method, path, headers={"Origin": EVIL})
        assert_error(refused, 403, "cross-site", EVIL, "STORYTELLER_CORS_ORIGINS")
    # Without Origin, the page's address in Referer says the same.
    refused = await client.delete(NO_JOB, headers={"Referer": f"{EVIL}/page?x=1"})
    assert_error(refused, 403, "Referer https://evil.example")
    # A sandboxed page or a data: URL sends `Origin: null`.
    assert_error(await client.delete(NO_JOB, headers={"Origin": "null"}), 403, "null")
    # A cross-site "simple" form post: nothing is read, nothing kept.
    upload = await client.post(
        "/api/upload", files=video_files(("a.mp4", speech_clip.path)), headers={"Origin": EVIL}
    )
    assert_error(upload, 403, "cross-site")
    assert (await client.get("/api/stats")).json()["totalJobs"] == 0
    # tus too.
    created = await client.post(
        "/api/uploads/", headers={"Tus-Resumable": "1.0.0", "Upload-Length": "5", "Origin": EVIL}
    )
    assert created.status_code == 403


async def test_writes_from_this_service_s_page_or_no_page_pass(make_client: MakeClient) -> None:
    client = await make_client()
    for headers in (
        {},  # the command line, scripts, curl
        {"Origin": "http://storyteller.test"},
        {"Origin": "https://storyteller.test"},  # behind a proxy that ends TLS
        {"Referer": "http://storyteller.test/?job=1"},
    ):
        assert_error(await client.delete(NO_JOB, headers=headers), 404, "no job")
    # Another port of the same host is another origin.
    refused = await client.delete(NO_JOB, headers={"Origin": "http://storyteller.test:3000"})
    assert refused.status_code == 403
    # Reading is never refused for its origin (CORS decides what the page may read).
    assert (await client.get("/api/jobs", headers={"Origin": EVIL})).status_code == 200


async def test_the_original_front_end_s_origin_can_be_allowed(make_client: MakeClient) -> None:
    front = "http://localhost:3000"
    client = await make_client(cors_origins=[front])
    assert_error(await client.delete(NO_JOB, headers={"Origin": front}), 404, "no job")
    assert (await client.delete(NO_JOB, headers={"Origin": EVIL})).status_code == 403
    preflight = await client.options(
        NO_JOB, headers={"Origin": front, "Access-Control-Request-Method": "DELETE"}
    )
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == front
    assert preflight.headers["access-control-allow-credentials"] == "true"


async def test_cors_is_same_origin_by_default(make_client: MakeClient) -> None:
    client = await make_client()
    preflight = await client.options(
        "/api/upload", headers={"Origin": EVIL, "Access-Control-Request-Method": "POST"}
    )
    assert preflight.status_code == 400
    assert "access-control-allow-origin" not in preflight.headers
    read = await client.get("/api/jobs", headers={"Origin": EVIL})
    assert "access-control-allow-origin" not in read.headers


async def test_every_answer_carries_the_security_headers(make_client: MakeClient) -> None:
    client = await make_client()
    for path in ("/", "/assets/app.js", "/api/stats", "/health", "/no/such/path"):
        got = await client.get(path)
        policy = got.headers["content-security-policy"]
        assert "default-src 'self'" in policy and "frame-ancestors 'none'" in policy, path
        assert "unsafe-inline" not in policy, path
        assert got.headers["x-content-type-options"] == "nosniff"
        assert got.headers["x-frame-options"] == "DENY"
        assert got.headers["referrer-policy"] == "same-origin"
    # Refusals too, before any route runs.
    refused = await client.get("/health", headers={"Host": "evil.example"})
    assert refused.headers["x-content-type-options"] == "nosniff"
    # The API reference loads Swagger UI from its CDN: its own, looser policy.
    docs = await client.get("/docs")
    assert "https://cdn.jsdelivr.net" in docs.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in docs.headers["content-security-policy"]


async def test_stats_name_no_host_and_no_process(make_client: MakeClient) -> None:
    client = await make_client(start_engine=True, max_concurrent_jobs=1)
    text = (await client.get("/api/stats")).text
    engine = (await client.get("/api/stats")).json()["engine"]
    assert engine["engine"] == "embedded" and engine["workers"] == 1
    assert "worker_id" not in engine
    assert socket.gethostname() not in text


def test_storage_errors_keep_the_folder_for_the_log(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    root = tmp_path / "secret-folder"
    store = FolderStore(root)
    with pytest.raises(StorageError) as failed:
        store.fetch("ab/" + "ab" * 32)
    assert "secret-folder" not in failed.value.reason
    assert "secret-folder" in failed.value.detail
    from storyteller.storage import objects

    full = objects._folder_error(root, OSError(errno.ENOSPC, "No space left on device"))
    assert "secret-folder" not in full.reason and full.code == "no_room"

    class Request:
        method, url = "POST", type("URL", (), {"path": "/api/upload"})()

    with caplog.at_level(logging.WARNING):
        answered = answer(Request(), full)  # type: ignore[arg-type]
    assert answered.status_code == 503
    assert b"secret-folder" not in answered.body
    assert "secret-folder" in caplog.text
