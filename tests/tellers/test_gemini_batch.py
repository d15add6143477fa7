"""Gemini Batch Mode's requests and answers: the real google-genai client against the fake
Gemini server's batchGenerateContent, batches.get and batches.cancel."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import SecretStr

from storyteller.config import Settings
from storyteller.pipeline.evidence import Evidence
from storyteller.pipeline.run import gather_evidence
from storyteller.tellers.gemini_batch import (
    DONE,
    BatchModeClient,
    ItemFailed,
    batch_request,
    inline_limit,
    read_answer,
    reask_request,
)
from storyteller.tellers.remote import Usage
from tests.fakes.gemini import API_KEY, Answer, FakeGemini
from tests.media import Clip
from tests.tellers.test_gemini import RULES


@pytest.fixture
def fake() -> Iterator[FakeGemini]:
    server = FakeGemini().start()
    yield server
    server.stop()


@pytest.fixture
def gemini_settings(settings: Settings, fake: FakeGemini) -> Settings:
    return settings.model_copy(
        update={
            "gemini_api_key": SecretStr(API_KEY),
            "gemini_base_url": fake.base_url,
            "gemini_timeout_s": 5.0,
        }
    )


@pytest.fixture(scope="module")
def snow(snow_clip: Clip, tmp_path_factory: pytest.TempPathFactory) -> tuple[Evidence, Path]:
    settings = Settings(_env_file=None, data_dir=tmp_path_factory.mktemp("data"))  # type: ignore[call-arg]
    return gather_evidence(snow_clip.path, settings), snow_clip.path


def poll_until_done(client: BatchModeClient, name: str, keys: list[str]) -> list[str]:
    states = []
    for _ in range(10):
        job = client.get(name, keys)
        states.append(job.state)
        if job.state == DONE:
            return states
    raise AssertionError(f"never done: {states}")


def test_requests_go_as_one_job_and_answers_come_back_by_key(
    gemini_settings: Settings, fake: FakeGemini, snow: tuple[Evidence, Path]
) -> None:
    evidence, video = snow
    client = BatchModeClient(gemini_settings)
    first = batch_request(client.teller, evidence, video, seed=1, rules=RULES)
    second = batch_request(client.teller, evidence, video, seed=2, rules=RULES)
    assert first.file_name is None and first.model == "gemini-2.5-flash"
    fake.batch_mode.script_answers(Answer.story(title="First"), Answer.internal())

    name = client.submit(
        first.model, [("7", first.request), ("9", second.request)], display_name="t"
    )
    assert name.startswith("batches/")
    assert poll_until_done(client, name, ["7", "9"]) == [
        "JOB_STATE_PENDING",
        "JOB_STATE_RUNNING",
        "JOB_STATE_SUCCEEDED",
    ]
    job = client.get(name, ["7", "9"])
    assert set(job.answers) == {"7", "9"}
    reply = read_answer(job.answers["7"])
    assert json.loads(reply.text)["title"] == "First"
    assert reply.usage == Usage(*fake.reported[0], requests=1)
    with pytest.raises(ItemFailed) as failed:
        read_answer(job.answers["9"])
    assert failed.value.retry
    assert failed.value.reason == (
        "Gemini Batch Mode could not answer it (13): An internal error has occurred."
    )

    # On the wire: the generateContent request of the gemini teller, keyed by metadata.
    (sent,) = fake.batch_mode.jobs.values()
    assert [r["metadata"] for r in sent.requests] == [{"key": "7"}, {"key": "9"}]
    request = sent.requests[0]["request"]
    video_part, text_part = request["contents"][0]["parts"]
    data = video_part.get("inlineData") or video_part["inline_data"]
    assert base64.urlsafe_b64decode(data["data"]) == video.read_bytes()
    assert request["generationConfig"]["seed"] == 1
    assert request["generationConfig"]["mediaResolution"] == "MEDIA_RESOLUTION_LOW"
    assert "December, January or February" in text_part["text"]


def test_a_large_video_is_uploaded_first_and_ready(
    gemini_settings: Settings, fake: FakeGemini, snow: tuple[Evidence, Path]
) -> None:
    evidence, video = snow
    client = BatchModeClient(gemini_settings.model_copy(update={"gemini_inline_max_mb": 0.0}))
    prepared = batch_request(client.teller, evidence, video, seed=0, rules=RULES)
    assert prepared.file_name is not None
    assert fake.files_left() == [prepared.file_name]
    assert fake.files[prepared.file_name].state == "ACTIVE"
    client.delete_file(prepared.file_name)
    assert fake.files_left() == []


def test_the_inline_limit_leaves_room_in_a_job(settings: Settings) -> None:
    small_jobs = settings.model_copy(update={"gemini_batch_max_mb": 4.2})
    assert inline_limit(small_jobs) == pytest.approx(3_000_000)
    assert inline_limit(settings) == pytest.approx(14_850_000)


def test_asking_again_carries_what_was_wrong(
    gemini_settings: Settings, snow: tuple[Evidence, Path]
) -> None:
    evidence, video = snow
    client = BatchModeClient(gemini_settings)
    prepared = batch_request(client.teller, evidence, video, seed=3, rules=RULES)
    again = json.loads(
        reask_request(
            prepared.request, evidence, RULES, problems=["the title is missing"], previous="{}"
        )
    )
    video_part, text_part = again["contents"][0]["parts"]
    assert "inline_data" in video_part
    assert "Your previous answer broke the rules:\n- the title is missing" in text_part["text"]
    assert again["config"]["seed"] == 3


def test_a_cancelled_job_says_so(gemini_settings: Settings, snow: tuple[Evidence, Path]) -> None:
    evidence, video = snow
    client = BatchModeClient(gemini_settings)
    prepared = batch_request(client.teller, evidence, video, seed=0, rules=RULES)
    name = client.submit(prepared.model, [("1", prepared.request)], display_name="t")
    client.cancel(name)
    job = client.get(name, ["1"])
    assert job.state == "JOB_STATE_CANCELLED"
    assert job.answers == {}


def test_a_blocked_answer_is_not_sent_again(
    gemini_settings: Settings, fake: FakeGemini, snow: tuple[Evidence, Path]
) -> None:
    evidence, video = snow
    client = BatchModeClient(gemini_settings)
    prepared = batch_request(client.teller, evidence, video, seed=0, rules=RULES)
    fake.batch_mode.script_answers(Answer.blocked(), Answer.error(400, "INVALID_ARGUMENT", "bad"))
    requests = [("1", prepared.request), ("2", prepared.request)]
    name = client.submit(prepared.model, requests, display_name="t")
    poll_until_done(client, name, ["1", "2"])
    job = client.get(name, ["1", "2"])
    for key in ("1", "2"):
        with pytest.raises(ItemFailed) as failed:
            read_answer(job.answers[key])
        assert not failed.value.retry
    with pytest.raises(ItemFailed) as missing:
        read_answer(None)
    assert missing.value.retry
