"""Estimates before a batch is sent: tokens as the providers count them, priced from the
prices file; the local teller costs nothing."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from storyteller.config import DEFAULT_DISCLAIMER, Settings
from storyteller.pipeline.evidence import Evidence
from storyteller.pipeline.run import gather_evidence
from storyteller.story.rules import StoryRules
from storyteller.tellers.base import tell
from storyteller.tellers.estimate import (
    ANSWER_TOKENS,
    AUDIO_TOKENS_PER_S,
    EVIDENCE_TOKENS_PER_S,
    OPENAI_IMAGE_TOKENS,
    PROMPT_TOKENS,
    estimate_batch,
    video_tokens,
)
from storyteller.tellers.remote import usage_of
from tests.conftest import ClipFactory
from tests.fakes.gemini import API_KEY, Answer, FakeGemini, story_json
from tests.fakes.openai import FakeOpenAI
from tests.media import Clip, SceneSpec


def test_gemini_counts_frames_and_sound(settings: Settings) -> None:
    text = PROMPT_TOKENS + EVIDENCE_TOKENS_PER_S * 60
    medium = settings.model_copy(update={"gemini_media_resolution": "medium", "gemini_fps": 1.0})
    assert video_tokens(medium, "gemini", 60) == (
        round(text + 60 * 258 + 60 * AUDIO_TOKENS_PER_S),
        ANSWER_TOKENS,
    )
    low = medium.model_copy(update={"gemini_media_resolution": "low"})
    assert video_tokens(low, "gemini", 60)[0] == round(text + 60 * 66 + 60 * AUDIO_TOKENS_PER_S)
    three = low.model_copy(update={"gemini_model": "gemini-3-flash", "gemini_fps": 2.0})
    assert video_tokens(three, "gemini", 60)[0] == round(text + 120 * 70 + 60 * AUDIO_TOKENS_PER_S)


def test_openai_counts_keyframes_as_images(settings: Settings) -> None:
    few = settings.model_copy(update={"openai_max_keyframes": 3})
    text = PROMPT_TOKENS + EVIDENCE_TOKENS_PER_S * 600
    assert video_tokens(few, "openai", 600)[0] == round(text + 3 * OPENAI_IMAGE_TOKENS)


def test_a_batch_is_priced_and_timed(settings: Settings) -> None:
    batch = estimate_batch(settings, "gemini", [("a.mp4", 60.0), ("b.mp4", 120.0)])
    assert batch.model == settings.gemini_model
    assert batch.tokens_in == sum(v.tokens_in for v in batch.videos)
    expected = (batch.tokens_in * 0.30 + batch.tokens_out * 2.50) / 1_000_000  # 2.5 flash
    assert batch.dollars == pytest.approx(expected, rel=1e-4)
    assert batch.expected_s > 0
    local = estimate_batch(settings, "local", [("a.mp4", 60.0)])
    assert (local.tokens_in, local.dollars, local.model) == (0, 0.0, "")


def test_an_unpriced_model_has_no_dollars(settings: Settings) -> None:
    odd = settings.model_copy(update={"openai_model": "my-local-llama"})
    assert estimate_batch(odd, "openai", [("a.mp4", 30.0)]).dollars is None


def test_the_command_probes_each_file(
    speech_clip: Clip, bad_inputs: dict[str, Path], tmp_path: Path
) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "storyteller", "estimate", str(speech_clip.path),
         str(bad_inputs["image"]), "--teller", "gemini", "--json"],
        capture_output=True, text=True, env={"STORYTELLER_DATA_DIR": str(tmp_path), "PATH": ""},
    )  # fmt: skip
    assert out.returncode == 1  # one file is not a video: said, and not counted
    answer = json.loads(out.stdout)
    [video] = answer["videos"]
    assert video["name"] == speech_clip.path.name
    assert video["duration_s"] == pytest.approx(7.6, abs=0.2)
    assert answer["dollars"] > 0
    assert "image.mp4 is not a video" in answer["refused"][0]


def _estimate(
    clip: Clip, tmp_path: Path, *args: str, **env: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "storyteller", "estimate", str(clip.path), "--json", *args],
        capture_output=True,
        text=True,
        env={"STORYTELLER_DATA_DIR": str(tmp_path), "PATH": "", **env},
    )


def test_the_command_prices_the_model_and_batch_mode_asked_for(
    speech_clip: Clip, tmp_path: Path
) -> None:
    flash = json.loads(_estimate(speech_clip, tmp_path, "--teller", "gemini").stdout)
    pro = _estimate(
        speech_clip, tmp_path, "--teller", "gemini", "--model", "gemini-2.5-pro",
        "--priority", "low", STORYTELLER_GEMINI_BATCH_MODE="true",
    )  # fmt: skip
    answer = json.loads(pro.stdout)
    assert answer["model"] == "gemini-2.5-pro"
    # Batch Mode halves gemini-2.5-pro's $1.25 / $10, which is 4x gemini-2.5-flash's.
    assert answer["dollars"] == pytest.approx(flash["dollars"] * 0.5 * 4, rel=0.02)
    refused = _estimate(speech_clip, tmp_path, "--teller", "local", "--model", "x")
    assert refused.returncode == 2
    assert "the local teller has no models" in refused.stderr


# --- the estimate against what the provider counts ---------------------------------------


@pytest.fixture
def fake() -> Iterator[FakeGemini]:
    server = FakeGemini().start()
    yield server
    server.stop()


def gemini_client(fake: FakeGemini) -> Any:
    from google import genai
    from google.genai import types

    return genai.Client(
        api_key=API_KEY, http_options=types.HttpOptions(base_url=fake.base_url, timeout=10_000)
    )


def test_the_fake_counts_a_video_as_gemini_does(fake: FakeGemini, make_media: ClipFactory) -> None:
    from google.genai import types

    clip = make_media("two-seconds.mp4", [SceneSpec(2.0, "plain")])  # with a quiet sound track
    prompt = "Write a short story about this video." * 3
    video = types.Part(
        inline_data=types.Blob(data=clip.path.read_bytes(), mime_type="video/mp4"),
        video_metadata=types.VideoMetadata(fps=1.0),
    )
    low = types.GenerateContentConfig(
        media_resolution="MEDIA_RESOLUTION_LOW", system_instruction="Answer in JSON."
    )
    client = gemini_client(fake)
    response = client.models.generate_content(
        model="gemini-2.5-flash", contents=[video, prompt], config=low
    )
    text = round(len(prompt) / 4) + round(len("Answer in JSON.") / 4)
    assert response.usage_metadata is not None
    assert response.usage_metadata.prompt_token_count == 2 * 66 + 2 * 32 + text
    assert response.usage_metadata.candidates_token_count == round(len(story_json()) / 4)

    # Gemini 3 at high resolution and 2 frames a second: 4 frames of 280.
    high = types.GenerateContentConfig(media_resolution="MEDIA_RESOLUTION_HIGH")
    video.video_metadata = types.VideoMetadata(fps=2.0)
    client.models.generate_content(model="gemini-3-flash", contents=[video, prompt], config=high)
    assert fake.reported[-1][0] == 4 * 280 + 2 * 32 + round(len(prompt) / 4)


def test_the_fake_counts_an_uploaded_video_and_fixed_figures_stay_fixed(
    fake: FakeGemini, silent_clip: Clip
) -> None:
    from google.genai import types

    client = gemini_client(fake)
    uploaded = client.files.upload(file=silent_clip.path, config={"mime_type": "video/mp4"})
    client.files.get(name=str(uploaded.name))  # PROCESSING, then ACTIVE
    assert uploaded.uri is not None
    part = types.Part(file_data=types.FileData(file_uri=uploaded.uri, mime_type="video/mp4"))
    client.models.generate_content(model="gemini-2.5-flash", contents=[part, "Tell it."])
    # 3 s at the default 1 frame a second and resolution, no sound track.
    assert fake.reported[-1][0] == 3 * 258 + round(len("Tell it.") / 4)

    fake.script(Answer(body={"_text": story_json()}, tokens_in=1200, tokens_out=300))
    client.models.generate_content(model="gemini-2.5-flash", contents=[part, "Tell it."])
    assert fake.reported[-1] == (1200, 300)


def test_the_openai_fake_counts_images_and_text() -> None:
    server = FakeOpenAI(api_key=None).start()
    try:
        image = {"url": "data:image/jpeg;base64,AAAA"}
        content = [
            {"type": "text", "text": "What happens in these pictures?"},
            {"type": "image_url", "image_url": image},
            {"type": "image_url", "image_url": {**image, "detail": "low"}},
        ]
        body = {"model": "gpt-4.1-mini", "messages": [{"role": "user", "content": content}]}
        usage = httpx.post(f"{server.base_url}/chat/completions", json=body).json()["usage"]
    finally:
        server.stop()
    assert usage["prompt_tokens"] == round(len("What happens in these pictures?") / 4) + 765 + 85
    assert usage["completion_tokens"] == round(len(story_json()) / 4)


@pytest.fixture(scope="module")
def analysed(
    speech_clip: Clip, silent_clip: Clip, tmp_path_factory: pytest.TempPathFactory
) -> list[tuple[Path, Evidence]]:
    """A clip with speech and one without sound, with their evidence (analysed once)."""
    settings = Settings(_env_file=None, data_dir=tmp_path_factory.mktemp("data"))  # type: ignore[call-arg]
    return [
        (clip.path, gather_evidence(clip.path, settings)) for clip in (speech_clip, silent_clip)
    ]


def test_the_estimate_is_within_a_tenth_of_what_gemini_counts(
    settings: Settings, fake: FakeGemini, analysed: list[tuple[Path, Evidence]]
) -> None:
    from storyteller.tellers.gemini import GeminiTeller

    keyed = settings.model_copy(
        update={"gemini_api_key": SecretStr(API_KEY), "gemini_base_url": fake.base_url}
    )
    teller = GeminiTeller(keyed)
    rules = StoryRules(
        earliest=date(2025, 3, 1), latest=date(2026, 2, 28), disclaimer=DEFAULT_DISCLAIMER
    )
    # Made from the lengths alone, before any evidence exists, as `storyteller estimate` does.
    lengths = [(path.name, evidence.media.duration_s) for path, evidence in analysed]
    estimate = estimate_batch(keyed, "gemini", lengths)
    for (path, evidence), guess in zip(analysed, estimate.videos, strict=True):
        before = len(fake.reported)
        story = tell(teller, evidence, path, rules=rules)
        assert len(fake.reported) == before + 1  # one ask: the estimate is for one
        counted = fake.reported[-1][0]
        assert usage_of(story) is not None
        if not evidence.media.has_audio:
            # The estimate knows only the length, so it counts sound a silent video lacks.
            counted += round(AUDIO_TOKENS_PER_S * evidence.media.duration_s)
        assert guess.tokens_in == pytest.approx(counted, rel=0.10), (guess.name, counted)
