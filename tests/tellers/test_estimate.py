"""Estimates before a batch is sent: tokens as the providers count them, priced from the
prices file; the local teller costs nothing."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from storyteller.config import Settings
from storyteller.tellers.estimate import (
    ANSWER_TOKENS,
    AUDIO_TOKENS_PER_S,
    EVIDENCE_TOKENS_PER_S,
    OPENAI_IMAGE_TOKENS,
    PROMPT_TOKENS,
    estimate_batch,
    video_tokens,
)
from tests.media import Clip


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
