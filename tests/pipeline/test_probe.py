"""The probe stage on real files: what it measures and what it refuses, with reasons."""

from __future__ import annotations

from pathlib import Path

import pytest

from storyteller.config import Settings
from storyteller.pipeline.probe import ProbeStage
from storyteller.pipeline.stage import Context, VideoRejected
from tests.media import Clip


def probe(path: Path, settings: Settings) -> Context:
    ctx = Context(path=path, settings=settings)
    ProbeStage().run(ctx)
    return ctx


@pytest.mark.parametrize(
    ("fixture", "codec", "audio"),
    [
        ("speech_clip", "h264", "aac"),
        ("snow_clip", "vp9", "opus"),
        ("beach_clip", "h264", "aac"),
        ("silent_clip", "h264", None),
    ],
)
def test_measures_each_container(
    fixture: str, codec: str, audio: str | None, request: pytest.FixtureRequest, settings: Settings
) -> None:
    clip: Clip = request.getfixturevalue(fixture)
    media = probe(clip.path, settings).media
    assert media is not None
    assert media.video_codec == codec
    assert media.audio_codec == audio
    assert (media.width, media.height) == clip.size
    assert media.duration_s == pytest.approx(clip.duration, abs=0.05)
    assert media.fps == pytest.approx(clip.fps)
    assert media.size_bytes == clip.path.stat().st_size
    assert not media.truncated


def test_rotated_phone_video_is_measured_upright(rotated_clip: Clip, settings: Settings) -> None:
    media = probe(rotated_clip.path, settings).media
    assert media is not None
    assert media.rotation in (90, 270)
    assert (media.width, media.height) == (360, 640)


def test_truncated_file_is_measured_by_what_it_holds(
    bad_inputs: dict[str, Path], settings: Settings
) -> None:
    media = probe(bad_inputs["truncated"], settings).media
    assert media is not None
    assert media.header_duration_s == pytest.approx(4.0, abs=0.1)
    assert media.duration_s < 3.0
    assert media.truncated


@pytest.mark.parametrize(
    ("kind", "code", "words"),
    [
        ("empty", "empty_file", "the file is empty"),
        ("text", "not_a_video", "text file"),
        ("image", "not_a_video", "still picture"),
        ("audio_only", "audio_only", "only sound"),
        ("garbage", "not_a_video", "not in any video format"),
        ("no_moov", "not_a_video", "damaged or cut short"),
    ],
)
def test_refuses_what_is_not_a_video(
    kind: str, code: str, words: str, bad_inputs: dict[str, Path], settings: Settings
) -> None:
    path = bad_inputs[kind]
    with pytest.raises(VideoRejected) as refused:
        probe(path, settings)
    assert refused.value.code == code
    assert refused.value.reason.startswith(f"{path.name} is not a video: ")
    assert words in refused.value.reason


def test_refuses_a_video_over_the_length_limit(speech_clip: Clip, settings: Settings) -> None:
    short = settings.model_copy(update={"max_video_seconds": 5})
    with pytest.raises(VideoRejected) as refused:
        probe(speech_clip.path, short)
    assert refused.value.code == "too_long"
    assert "at most 5 s" in refused.value.reason


def test_refuses_an_unreadable_codec(speech_clip: Clip, tmp_path: Path, settings: Settings) -> None:
    # Keep the MP4 structure but scramble the coded pictures: the container opens,
    # the H.264 data does not decode into a picture.
    data = bytearray(speech_clip.path.read_bytes())
    mdat = data.find(b"mdat")
    for i in range(mdat + 8, len(data)):
        data[i] = 0xFF
    broken = tmp_path / "scrambled.mp4"
    broken.write_bytes(bytes(data))
    with pytest.raises(VideoRejected) as refused:
        probe(broken, settings)
    assert refused.value.code in {"unreadable", "not_a_video"}
    assert refused.value.reason.startswith("scrambled.mp4")
