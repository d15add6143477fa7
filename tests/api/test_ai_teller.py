"""An AI teller through the whole service: upload with `teller=gemini`, the engine's
worker process asks the (fake) Gemini server, and the story is kept with its tokens."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.orm import Session

from storyteller.db.models import AttemptCost
from storyteller.db.session import make_engine
from tests.api.conftest import MakeClient, video_files, wait_for_job
from tests.fakes.gemini import API_KEY, Answer, FakeGemini
from tests.media import Clip

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(180)]


@pytest.fixture
def fake() -> Iterator[FakeGemini]:
    server = FakeGemini().start()
    yield server
    server.stop()


async def test_a_gemini_story_is_kept_with_its_tokens(
    make_client: MakeClient, fake: FakeGemini, snow_clip: Clip
) -> None:
    client = await make_client(
        start_engine=True,
        gemini_api_key=SecretStr(API_KEY),
        gemini_base_url=fake.base_url,
        gemini_timeout_s=10.0,
    )
    answer = await client.post(
        "/api/upload", files=video_files(("snow.webm", snow_clip.path)), data={"teller": "gemini"}
    )
    assert answer.status_code == 200, answer.text
    job = await wait_for_job(client, answer.json()["jobId"])
    video = job["videos"][0]
    assert video["status"] == "completed", video["error"]
    record = (await client.get(f"/api/videos/{video['id']}")).json()
    [story] = record["stories"]
    assert story["teller"] == "gemini"
    tokens_in, tokens_out = fake.usage()  # as the fake counted them
    assert (story["tokensIn"], story["tokensOut"]) == (tokens_in, tokens_out) != (0, 0)
    # Costed at the bundled price of the default model, gemini-2.5-flash: $0.30 / $2.50 per 1M.
    assert story["costUsd"] == pytest.approx((tokens_in * 0.30 + tokens_out * 2.50) / 1_000_000)
    assert story["text"] == video["story"]
    assert fake.files_left() == []


async def test_what_a_failed_attempt_spent_is_kept_for_the_budgets(
    make_client: MakeClient, fake: FakeGemini, snow_clip: Clip, database_url: str
) -> None:
    client = await make_client(
        start_engine=True,
        gemini_api_key=SecretStr(API_KEY),
        gemini_base_url=fake.base_url,
        gemini_timeout_s=10.0,
    )
    # The first attempt: three answers that break the contract (no place), then it fails;
    # the second attempt gets a good answer.
    fake.script(*[Answer.story(place="", region="")] * 3)
    answer = await client.post(
        "/api/upload", files=video_files(("snow.webm", snow_clip.path)), data={"teller": "gemini"}
    )
    assert answer.status_code == 200, answer.text
    job = await wait_for_job(client, answer.json()["jobId"])
    video = job["videos"][0]
    assert (video["status"], video["attempts"]) == ("completed", 2), video["error"]
    record = (await client.get(f"/api/videos/{video['id']}")).json()
    [story] = record["stories"]
    [failed] = record["failedAttempts"]

    db = make_engine(database_url)
    try:
        with Session(db) as session:
            [wasted] = session.scalars(select(AttemptCost)).all()
    finally:
        db.dispose()
    assert (wasted.video_id, wasted.attempt) == (video["id"], 1)
    assert (wasted.teller, wasted.model) == ("gemini", "gemini-2.5-flash")
    # Every token the fake counted is on the story or on the failed attempt.
    tokens_in, tokens_out = fake.usage()
    assert wasted.tokens_in > 0 and wasted.tokens_out > 0
    assert wasted.tokens_in + story["tokensIn"] == tokens_in
    assert wasted.tokens_out + story["tokensOut"] == tokens_out
    assert wasted.cost_usd == pytest.approx(
        (wasted.tokens_in * 0.30 + wasted.tokens_out * 2.50) / 1_000_000
    )
    # The video's record shows it.
    assert failed == {
        "attempt": 1,
        "teller": "gemini",
        "model": "gemini-2.5-flash",
        "tokensIn": wasted.tokens_in,
        "tokensOut": wasted.tokens_out,
        "costUsd": wasted.cost_usd,
        "createdAt": failed["createdAt"],
    }
    assert failed["createdAt"].endswith("Z")
