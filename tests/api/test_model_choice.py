"""The AI teller's model chosen per batch (at upload) and per video (at regenerate), and
checked before anything is stored: the service asks the (fake) provider for that model,
keeps it with the story and prices the story at that model's price."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from pydantic import SecretStr

from tests.api.conftest import MakeClient, video_files, wait_for_job
from tests.fakes.gemini import API_KEY, FakeGemini
from tests.media import Clip

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(240)]


@pytest.fixture
def fake() -> Iterator[FakeGemini]:
    server = FakeGemini().start()
    yield server
    server.stop()


async def gemini_client(make_client: MakeClient, fake: FakeGemini) -> httpx.AsyncClient:
    return await make_client(
        start_engine=True,
        gemini_api_key=SecretStr(API_KEY),
        gemini_base_url=fake.base_url,
        gemini_timeout_s=10.0,
    )


async def test_a_batch_model_is_asked_for_kept_and_priced(
    make_client: MakeClient, fake: FakeGemini, snow_clip: Clip
) -> None:
    client = await gemini_client(make_client, fake)
    answer = await client.post(
        "/api/upload",
        files=video_files(("snow.webm", snow_clip.path)),
        data={"teller": "gemini", "model": "gemini-2.5-pro"},
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["model"] == "gemini-2.5-pro"
    job = await wait_for_job(client, answer.json()["jobId"])
    assert job["model"] == "gemini-2.5-pro"
    [video] = job["videos"]
    assert video["status"] == "completed", video["error"]
    assert video["model"] == "gemini-2.5-pro"
    assert fake.model_paths and set(fake.model_paths) == {"gemini-2.5-pro"}

    [story] = (await client.get(f"/api/videos/{video['id']}")).json()["stories"]
    assert story["model"] == "gemini-2.5-pro"
    # gemini-2.5-pro's bundled price: $1.25 in, $10 out per 1M tokens.
    tokens_in, tokens_out = fake.usage()
    assert (story["tokensIn"], story["tokensOut"]) == (tokens_in, tokens_out)
    # (kept to a millionth of a dollar)
    expected = (tokens_in * 1.25 + tokens_out * 10) / 1_000_000
    assert story["costUsd"] == pytest.approx(expected, abs=1e-6)


async def test_regenerating_with_another_model_keeps_both_versions(
    make_client: MakeClient, fake: FakeGemini, snow_clip: Clip
) -> None:
    client = await gemini_client(make_client, fake)
    answer = await client.post(
        "/api/upload",
        files=video_files(("snow.webm", snow_clip.path)),
        data={"teller": "gemini"},
    )
    job_id = answer.json()["jobId"]
    job = await wait_for_job(client, job_id)
    [video] = job["videos"]
    assert video["status"] == "completed", video["error"]
    assert video["model"] is None  # the configured one

    again = await client.post(
        f"/api/job/{job_id}/video/{video['id']}/regenerate", json={"model": "gemini-3-flash"}
    )
    assert again.status_code == 200, again.text
    await wait_for_job(client, job_id)
    record = (await client.get(f"/api/videos/{video['id']}")).json()
    assert [story["model"] for story in record["stories"]] == ["gemini-2.5-flash", "gemini-3-flash"]
    assert fake.model_paths == ["gemini-2.5-flash", "gemini-3-flash"]
    assert record["model"] == "gemini-3-flash"


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"teller": "local", "model": "gemini-2.5-pro"}, "the local teller has no models"),
        ({"teller": "gemini", "model": "a model; DROP"}, "is not a model name"),
    ],
)
async def test_a_model_that_cannot_be_used_is_refused_before_anything_is_kept(
    make_client: MakeClient, snow_clip: Clip, fields: dict[str, str], reason: str
) -> None:
    client = await make_client()
    answer = await client.post(
        "/api/upload", files=video_files(("snow.webm", snow_clip.path)), data=fields
    )
    assert answer.status_code == 422
    assert reason in answer.json()["error"]
    assert (await client.get("/api/jobs")).json()["total"] == 0


async def test_the_estimate_prices_the_model_asked_for(make_client: MakeClient) -> None:
    client = await make_client()
    videos = [{"name": "a.mp4", "durationS": 60}]
    flash = (await client.post("/api/estimate", json={"teller": "gemini", "videos": videos})).json()
    pro = (
        await client.post(
            "/api/estimate",
            json={"teller": "gemini", "model": "gemini-2.5-pro", "videos": videos},
        )
    ).json()
    assert (flash["model"], pro["model"]) == ("gemini-2.5-flash", "gemini-2.5-pro")
    assert pro["tokensIn"] == flash["tokensIn"]
    assert pro["dollars"] > flash["dollars"] * 3


async def test_the_estimate_of_a_low_priority_batch_in_batch_mode_is_at_the_batch_price(
    make_client: MakeClient,
) -> None:
    client = await make_client(gemini_batch_mode=True)
    body = {"teller": "gemini", "videos": [{"name": "a.mp4", "durationS": 60}]}
    normal = (await client.post("/api/estimate", json=body)).json()
    low = (await client.post("/api/estimate", json={**body, "priority": "low"})).json()
    assert low["tokensIn"] == normal["tokensIn"]
    assert low["dollars"] == pytest.approx(normal["dollars"] / 2, rel=0.01)
    bad = await client.post("/api/estimate", json={**body, "priority": "soon"})
    assert bad.status_code == 422
