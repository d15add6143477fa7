"""Who may do what, over every route of the OpenAPI schema (taken from the schema, not a
hand list): without credentials 401 once a user exists; another member's ids 404."""

from __future__ import annotations

import base64
import re
from typing import Any

import httpx
import pytest

from tests.accounts.people import add_person
from tests.api.conftest import MakeClient, video_files
from tests.media import Clip

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(180)]

OPEN_PATHS = {
    ("get", "/health"),
    ("post", "/api/auth/login"),
    ("post", "/api/auth/logout"),
    ("get", "/api/auth/methods"),
    # Off (404) in this test; on, they sign in (tests/accounts/test_oidc.py).
    ("get", "/api/auth/oidc/login"),
    ("get", "/api/auth/oidc/callback"),
}
NOBODY = "00000000-0000-4000-8000-000000000000"
TUS = {"Tus-Resumable": "1.0.0"}


def operations(schema: dict[str, Any]) -> list[tuple[str, str]]:
    return [
        (method, path)
        for path, item in schema["paths"].items()
        for method in item
        if method in ("get", "post", "put", "patch", "delete", "head", "options")
    ]


def fill(path: str, ids: dict[str, str]) -> str:
    return re.sub(r"\{([^}]+)\}", lambda found: ids.get(found.group(1), NOBODY), path)


async def send(client: httpx.AsyncClient, method: str, path: str, **options: Any) -> httpx.Response:
    if method in ("post", "put", "patch") and "json" not in options and "content" not in options:
        options["json"] = {}
    return await client.request(method.upper(), path, **options)


async def test_without_credentials_every_api_route_answers_401(
    make_client: MakeClient, database_url: str
) -> None:
    client = await make_client()
    add_person(database_url, "ann", role="admin")
    schema = (await client.get("/openapi.json")).json()
    checked = 0
    for method, path in operations(schema):
        if (method, path) in OPEN_PATHS:
            continue
        answer = await send(client, method, fill(path, {}), headers=TUS)
        assert answer.status_code == 401, f"{method.upper()} {path}: {answer.status_code}"
        if method != "head":
            assert "error" in answer.json()
        checked += 1
    assert checked >= 25
    assert (await client.get("/health")).status_code == 200


async def test_another_members_ids_answer_404_on_every_route(
    make_client: MakeClient, database_url: str, speech_clip: Clip
) -> None:
    client = await make_client()
    ann = add_person(database_url, "ann")
    bob = add_person(database_url, "bob")
    made = await client.post(
        "/api/upload", files=video_files(("a.mp4", speech_clip.path)), headers=ann.auth
    )
    assert made.status_code == 200, made.text
    job = made.json()
    metadata = f"filename {base64.b64encode(b'a.mp4').decode()}"
    begun = await client.post(
        "/api/uploads/",
        headers={**TUS, **ann.auth, "Upload-Length": "10", "Upload-Metadata": metadata},
    )
    assert begun.status_code == 201, begun.text
    ids = {
        "jobId": job["jobId"],
        "videoId": job["videos"][0]["id"],
        "upload_id": begun.headers["location"].rsplit("/", 1)[-1],
        "keyId": ann.key_id,
        "scene": "0",
        "version": "1",
    }
    # Lists and live events carry only one's own.
    assert (await client.get("/api/jobs", headers=bob.auth)).json()["total"] == 0
    assert (await client.get("/api/jobs", headers=ann.auth)).json()["total"] == 1
    assert (await client.get("/api/stats", headers=bob.auth)).json()["totalJobs"] == 0
    schema = (await client.get("/openapi.json")).json()
    checked = []
    for method, path in operations(schema):
        names = set(re.findall(r"\{([^}]+)\}", path)) - {"scene", "version"}
        if not names & set(ids):
            continue
        filled = fill(path, ids)
        answer = await send(client, method, filled, headers={**TUS, **bob.auth})
        assert answer.status_code == 404, f"{method.upper()} {path}: {answer.status_code}"
        # The owner does reach it (a waiting video has no pictures yet).
        if method == "get" and "keyframes" not in path and "thumbnail" not in path:
            mine = await send(client, method, filled, headers={**TUS, **ann.auth})
            assert mine.status_code not in (401, 404), f"{method.upper()} {path}: {mine.text}"
        checked.append(f"{method.upper()} {path}")
    assert len(checked) >= 12, checked
    # The batch from the upload is refused to someone else, as if it did not exist.
    batch = await client.post(
        "/api/uploads/batch", json={"uploads": [ids["upload_id"]]}, headers=bob.auth
    )
    assert batch.status_code == 404


async def test_an_admin_sees_every_job(
    make_client: MakeClient, database_url: str, speech_clip: Clip
) -> None:
    client = await make_client()
    ann = add_person(database_url, "ann")
    boss = add_person(database_url, "boss", role="admin")
    job = (
        await client.post(
            "/api/upload", files=video_files(("a.mp4", speech_clip.path)), headers=ann.auth
        )
    ).json()
    assert (await client.get(f"/api/job/{job['jobId']}", headers=boss.auth)).status_code == 200
    assert (await client.get("/api/jobs", headers=boss.auth)).json()["total"] == 1


async def test_without_users_on_loopback_nothing_is_asked(make_client: MakeClient) -> None:
    client = await make_client()
    assert (await client.get("/api/jobs")).status_code == 200
    me = (await client.get("/api/auth/me")).json()
    assert me["open"] is True and me["role"] == "admin"


async def test_sign_in_required_closes_the_open_mode(make_client: MakeClient) -> None:
    client = await make_client(sign_in_required=True)
    answer = await client.get("/api/jobs")
    assert answer.status_code == 401
    assert "sign in" in answer.json()["error"]


@pytest.mark.parametrize("header", ["Bearer st_not_a_key", "Basic YWxhZGRpbg==", "Bearer"])
async def test_a_wrong_key_is_refused(
    make_client: MakeClient, database_url: str, header: str
) -> None:
    client = await make_client()
    add_person(database_url, "ann")
    answer = await client.get("/api/jobs", headers={"Authorization": header})
    assert answer.status_code == 401
    assert answer.headers["www-authenticate"].startswith("Bearer")
