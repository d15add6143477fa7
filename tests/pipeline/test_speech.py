"""The speech stage on real clips: words and times heard, silence and music left unsaid."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pytest

from storyteller.config import Settings
from storyteller.pipeline import speech as speech_module
from storyteller.pipeline.evidence import MediaInfo, Transcript
from storyteller.pipeline.speech import (
    NO_AUDIO,
    NO_SPEECH,
    UNREADABLE_AUDIO,
    SpeechStage,
    is_hallucination,
    keep_heard,
    to_segment,
)
from storyteller.pipeline.stage import Context
from storyteller.pipeline.whisper_models import WhisperName
from tests.media import Clip, SceneSpec, word_error_rate

if TYPE_CHECKING:
    from faster_whisper.transcribe import Segment as WhisperSegment
    from faster_whisper.transcribe import Word as WhisperWord

pytestmark = pytest.mark.usefixtures("offline")


def media_of(clip: Clip) -> MediaInfo:
    """What the probe stage would say of a generated clip."""
    width, height = clip.display_size
    return MediaInfo(
        container=clip.path.suffix.lstrip("."),
        size_bytes=clip.path.stat().st_size,
        duration_s=clip.duration,
        header_duration_s=clip.duration,
        width=width,
        height=height,
        rotation=clip.rotation,
        fps=float(clip.fps),
        frame_count=clip.frames,
        video_codec=clip.video_codec,
        audio_codec=clip.audio_codec,
        audio_sample_rate=48_000 if clip.audio else None,
    )


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[str, float]] = []

    def __call__(self, stage: str, fraction: float) -> None:
        self.calls.append((stage, fraction))


def listen(clip: Clip, settings: Settings, progress: Recorder | None = None) -> Context:
    ctx = Context(path=clip.path, settings=settings, progress=progress or Recorder())
    ctx.media = media_of(clip)
    SpeechStage().run(ctx)
    return ctx


def check_times(transcript: Transcript, length: float) -> None:
    """Segments and words in order, none overlapping the next, all inside the clip."""
    last = 0.0
    for segment in transcript.segments:
        assert 0.0 <= segment.start <= segment.end <= length
        assert segment.start >= last - 1e-6
        for word in segment.words:
            assert last - 1e-6 <= word.start <= word.end <= length
            assert segment.start - 1e-6 <= word.start and word.end <= segment.end + 1e-6
            last = word.end
        last = max(last, segment.end)


def test_transcribes_the_words_with_their_times(speech_clip: Clip, settings: Settings) -> None:
    progress = Recorder()
    ctx = listen(speech_clip, settings, progress)
    transcript = ctx.transcript
    assert transcript is not None and ctx.speech_note is None
    assert transcript.language == "en" and transcript.model == "whisper-tiny.en"
    error = word_error_rate(speech_clip.transcript, transcript.text)
    assert error < 0.35, f"WER {error:.2f}: {transcript.text!r}"
    assert "marathon" in transcript.text.lower() and "library" in transcript.text.lower()
    check_times(transcript, speech_clip.duration)
    all_words = [w for s in transcript.segments for w in s.words]
    assert len(all_words) >= 12 and all(w.text == w.text.strip() for w in all_words)
    # "marathon" is said in the first sentence, which starts 0.3 s in.
    marathon = next(w for w in all_words if "marathon" in w.text.lower())
    first_end = speech_clip.speech_spans[0][2]
    assert 0.3 <= marathon.start <= first_end
    fractions = [f for stage, f in progress.calls if stage == "speech"]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0 and len(fractions) >= 3


def test_a_video_without_sound_is_skipped(
    silent_clip: Clip, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_model(settings: Settings) -> None:
        raise AssertionError("the model was loaded for a video without sound")

    monkeypatch.setattr(speech_module, "load_whisper", no_model)
    ctx = listen(silent_clip, settings)
    assert ctx.transcript is None and ctx.speech_note == NO_AUDIO


def test_a_sound_track_that_cannot_be_decoded_is_skipped(
    silent_clip: Clip, settings: Settings
) -> None:
    ctx = Context(path=silent_clip.path, settings=settings)
    ctx.media = media_of(silent_clip).model_copy(update={"audio_codec": "aac"})  # it has none
    SpeechStage().run(ctx)
    assert ctx.transcript is None and ctx.speech_note == UNREADABLE_AUDIO


def test_music_without_words_gives_no_transcript(tone_clip: Clip, settings: Settings) -> None:
    ctx = listen(tone_clip, settings)
    assert ctx.transcript is None and ctx.speech_note == NO_SPEECH


def test_whisper_threads_wait_without_spinning() -> None:
    # Set when the stage is imported, before CTranslate2's OpenMP runtime is loaded.
    code = "import os, storyteller.pipeline.speech; print(os.environ['OMP_WAIT_POLICY'])"
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    run = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert run.stdout.strip() == "PASSIVE", run.stderr


def test_quiet_room_noise_gives_no_transcript(
    make_media: Callable[..., Clip], settings: Settings
) -> None:
    clip = make_media("quiet.mp4", [SceneSpec(3.0, "indoor")])
    ctx = listen(clip, settings)
    assert ctx.transcript is None and ctx.speech_note == NO_SPEECH


def test_the_base_model_is_joined_verified_and_transcribes(
    speech_clip: Clip, settings: Settings
) -> None:
    settings = settings.model_copy(update={"whisper_model": "base"})
    started = time.perf_counter()
    ctx = listen(speech_clip, settings)
    assert time.perf_counter() - started < 60
    transcript = ctx.transcript
    assert transcript is not None
    assert transcript.model == "whisper-base" and transcript.language == "en"
    assert 0.0 < transcript.language_probability <= 1.0
    assert word_error_rate(speech_clip.transcript, transcript.text) < 0.35, transcript.text
    check_times(transcript, speech_clip.duration)
    assert (settings.cache_dir / "models" / "whisper-base" / "model.bin").is_file()


# --------------------------------------------------------------------------- guards
# faster-whisper is imported inside the helpers, after storyteller has set OMP_WAIT_POLICY.


def word(start: float, end: float, text: str, probability: float) -> WhisperWord:
    from faster_whisper.transcribe import Word

    return Word(start=start, end=end, word=text, probability=probability)


def segment(
    text: str,
    *,
    start: float = 0.0,
    end: float = 2.0,
    no_speech: float = 0.1,
    logprob: float = -0.3,
    ratio: float = 1.2,
    words: list[WhisperWord] | None = None,
) -> WhisperSegment:
    from faster_whisper.transcribe import Segment

    return Segment(
        id=0,
        seek=0,
        start=start,
        end=end,
        text=text,
        tokens=[],
        avg_logprob=logprob,
        compression_ratio=ratio,
        no_speech_prob=no_speech,
        words=words,
        temperature=0.0,
    )


@pytest.mark.parametrize(
    "text",
    [
        " Thank you for watching!",
        " Thanks for watching.",
        " you",
        " [Music]",
        " (upbeat music)",
        " ♪ ♪",
        " Thank you.",
    ],
)
def test_stock_phrases_alone_are_taken_as_silence(text: str) -> None:
    assert is_hallucination(text)
    assert keep_heard([segment(text)]) == []


def test_stock_phrases_beside_real_speech_are_kept() -> None:
    said = [segment(" The race starts at nine."), segment(" Thank you.", start=2.0, end=3.0)]
    assert [s.text for s in keep_heard(said)] == [" The race starts at nine.", " Thank you."]


def test_sound_descriptions_are_never_kept() -> None:
    said = [segment(" [Music]"), segment(" The race starts at nine.", start=2.0, end=4.0)]
    assert [s.text for s in keep_heard(said)] == [" The race starts at nine."]


def test_unsure_words_over_silence_and_loops_are_dropped() -> None:
    said = [
        segment(" The harbor is open.", no_speech=0.9, logprob=-1.4),
        segment(" the the the the the the the the", ratio=3.1),
        segment(" The race starts at nine.", no_speech=0.7, logprob=-0.4),  # sure of its words
    ]
    assert [s.text for s in keep_heard(said)] == [" The race starts at nine."]


def test_word_times_are_put_in_order_and_inside_the_clip() -> None:
    said = segment(
        " Runners filled the streets.",
        start=-0.2,
        end=5.4,
        words=[
            word(-0.1, 0.5, " Runners", 0.9),
            word(0.4, 0.9, " filled", 0.8),  # overlaps the word before
            word(0.9, 1.2, " ", 0.1),
            word(4.8, 5.4, " streets.", 0.7),  # runs past the end
        ],
    )
    result = to_segment(said, length=5.0, after=0.0)
    assert [w.text for w in result.words] == ["Runners", "filled", "streets."]
    assert [(w.start, w.end) for w in result.words] == [(0.0, 0.5), (0.5, 0.9), (4.8, 5.0)]
    assert (result.start, result.end) == (0.0, 5.0) and result.text == "Runners filled the streets."


# --------------------------------------------------------------------------- speed


# Measured on the 2-core machine: tiny.en 0.05-0.06 of real time, base 0.14-0.18 on this
# clip; the bounds leave room for a machine busy with other work.
@pytest.mark.slow
@pytest.mark.parametrize(
    ("model", "max_rtf", "max_wer"), [("tiny.en", 0.2, 0.15), ("base", 0.5, 0.15)]
)
def test_a_minute_of_speech_in_a_fraction_of_real_time(
    benchmark_clip: Clip, tmp_path: Path, model: WhisperName, max_rtf: float, max_wer: float
) -> None:
    settings = Settings(_env_file=None, data_dir=tmp_path / "data", whisper_model=model)  # type: ignore[call-arg]
    listen(benchmark_clip, settings)  # joins and loads the model: not what is timed
    started = time.perf_counter()
    ctx = listen(benchmark_clip, settings)
    rtf = (time.perf_counter() - started) / benchmark_clip.duration
    assert ctx.transcript is not None
    error = word_error_rate(benchmark_clip.transcript, ctx.transcript.text)
    assert rtf < max_rtf, f"{model}: {rtf:.3f} of real time"
    assert error < max_wer, f"{model}: WER {error:.3f}"


def test_long_sound_is_cut_into_windows_at_quiet_moments() -> None:
    rate = speech_module.SAMPLE_RATE
    rng = np.random.default_rng(1)
    audio = (rng.standard_normal(rate * 300) * 0.3).astype(np.float32)  # five minutes of noise
    for quiet_at in (110, 225):  # two pauses of a second, where cuts belong
        audio[quiet_at * rate : (quiet_at + 1) * rate] = 0.0
    windows = speech_module.speech_windows(audio, window_s=120.0)
    assert windows[0][0] == 0 and windows[-1][1] == len(audio)
    assert all(a[1] == b[0] for a, b in itertools.pairwise(windows))
    assert all(stop - start <= 120 * rate for start, stop in windows)
    cuts = [start / rate for start, _ in windows[1:]]
    assert cuts == pytest.approx([110.5, 225.5], abs=0.5)
    assert speech_module.speech_windows(audio[: rate * 60]) == [(0, rate * 60)]


def test_windows_keep_the_words_and_their_times(
    speech_clip: Clip, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    whole = listen(speech_clip, settings).transcript
    # Windows of four seconds split the two sentences: times must come out as before.
    monkeypatch.setattr(speech_module, "WINDOW_S", 4.0)
    monkeypatch.setattr(speech_module, "CUT_SEARCH_S", 2.0)
    audio, _ = speech_module.decode_speech_audio(Context(path=speech_clip.path, settings=settings))
    assert len(speech_module.speech_windows(audio)) >= 2
    windowed = listen(speech_clip, settings).transcript
    assert whole is not None and windowed is not None
    assert word_error_rate(whole.text, windowed.text) < 0.2
    check_times(windowed, speech_clip.duration)
    marathon = [w for s in windowed.segments for w in s.words if "marathon" in w.text.lower()]
    library = [w for s in windowed.segments for w in s.words if "library" in w.text.lower()]
    assert marathon and library
    assert marathon[0].start < speech_clip.speech_spans[0][2] < library[0].start
