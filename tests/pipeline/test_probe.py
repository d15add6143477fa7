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


# --- the service's media limits (settings) ----------------------------------------


def _remux(source: Path, target: Path, container_format: str) -> Path:
    """The same streams in another container, packet for packet."""
    import av

    with av.open(str(source)) as given, av.open(str(target), "w", format=container_format) as out:
        streams = {s.index: out.add_stream_from_template(s) for s in given.streams.video}
        for packet in given.demux(*given.streams.video):
            if packet.dts is None:
                continue
            packet.stream = streams[packet.stream.index]
            out.mux(packet)
    return target


def test_a_container_not_in_the_list_is_refused(
    speech_clip: Clip, settings: Settings, tmp_path: Path
) -> None:
    transport = _remux(speech_clip.path, tmp_path / "broadcast.mp4", "mpegts")
    with pytest.raises(VideoRejected) as refused:
        probe(transport, settings)
    assert refused.value.code == "format_refused"
    assert refused.value.reason == (
        "broadcast.mp4 is in a format this service does not take (mpegts); "
        "accepted: avi, matroska, mov, mp4, webm"
    )
    # The list is a setting.
    only_avi = settings.model_copy(update={"video_formats": ["avi"]})
    with pytest.raises(VideoRejected, match=r"\(mov,mp4,m4a,3gp,3g2,mj2\); accepted: avi$"):
        probe(speech_clip.path, only_avi)


def test_webm_and_mov_are_in_the_default_list(
    snow_clip: Clip, beach_clip: Clip, settings: Settings
) -> None:
    assert probe(snow_clip.path, settings).media is not None
    assert probe(beach_clip.path, settings).media is not None


def test_a_picture_over_the_pixel_limit_is_refused(speech_clip: Clip, settings: Settings) -> None:
    capped = settings.model_copy(update={"max_video_pixels": 640 * 360 - 1})
    with pytest.raises(VideoRejected) as refused:
        probe(speech_clip.path, capped)
    assert refused.value.code == "too_many_pixels"
    assert refused.value.reason == (
        "speech.mp4 is 640 × 360 pixels; at most 230,399 pixels (width × height) are accepted"
    )
    assert probe(speech_clip.path, settings.model_copy(update={"max_video_pixels": 640 * 360}))


def test_a_frame_rate_over_the_limit_is_refused(speech_clip: Clip, settings: Settings) -> None:
    with pytest.raises(VideoRejected) as refused:
        probe(speech_clip.path, settings.model_copy(update={"max_video_fps": 24}))
    assert refused.value.code == "frame_rate_too_high"
    assert refused.value.reason == (
        "speech.mp4 runs at 25 frames a second; at most 24 are accepted"
    )
