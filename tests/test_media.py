"""The generated test media are what they claim: codecs, lengths, cuts, sound, faces, bad files."""

from __future__ import annotations

import itertools
import json
import time
from pathlib import Path

import av
import av.error
import cv2
import numpy as np
import pytest

from tests.media import (
    AUDIO_RATE,
    FACE_PATH,
    LOOKS,
    SPEECH_DIR,
    Clip,
    SceneSpec,
    benchmark_scenes,
    build_benchmark_clip,
    caption_band,
    clip_seconds,
    cut_times,
    draw_look,
    face_image,
    make_clip,
    scene_frames,
    sentences,
    speech_seconds,
    speech_spans,
    speech_text,
)

CLIPS = [
    "speech_clip",
    "snow_clip",
    "beach_clip",
    "autumn_clip",
    "spring_clip",
    "indoor_clip",
    "silent_clip",
    "tone_clip",
    "rotated_clip",
]
FORMATS = {".mp4": "mp4", ".mov": "mov", ".webm": "webm"}


def _cascade() -> cv2.CascadeClassifier:
    return cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_frontalface_default.xml")


def count_faces(rgb: np.ndarray) -> int:
    gray = cv2.equalizeHist(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY))
    return len(_cascade().detectMultiScale(gray, scaleFactor=1.1, minNeighbors=6, minSize=(30, 30)))


def decode_video(path: Path, width: int = 160) -> tuple[list[np.ndarray], list[float], int]:
    """Small RGB frames, their times, and the display rotation."""
    frames, times, rotation = [], [], 0
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            rotation = frame.rotation
            height = round(frame.height * width / frame.width / 2) * 2
            frames.append(frame.to_ndarray(format="rgb24", width=width, height=height))
            times.append(float(frame.time))
    return frames, times, rotation


def decode_audio(path: Path) -> np.ndarray:
    """Mono float samples at AUDIO_RATE."""
    resampler = av.AudioResampler(format="flt", layout="mono", rate=AUDIO_RATE)
    chunks: list[np.ndarray] = []
    with av.open(str(path)) as container:
        for frame in container.decode(audio=0):
            chunks.extend(f.to_ndarray().reshape(-1) for f in resampler.resample(frame))
    return np.concatenate(chunks)


def frame_at(clip: Clip, t: float) -> np.ndarray:
    """The full-size RGB frame shown at `t`, turned upright."""
    with av.open(str(clip.path)) as container:
        for frame in container.decode(video=0):
            if frame.time is not None and frame.time >= t - 1e-6:
                rgb = frame.to_ndarray(format="rgb24")
                return np.ascontiguousarray(np.rot90(rgb, k=round(frame.rotation / 90) % 4))
    raise AssertionError(f"no frame at {t}")


# --------------------------------------------------------------------------- assets


def test_speech_assets_are_short_clear_sentences_and_one_long_passage() -> None:
    table = sentences()
    assert len(table) >= 6
    for name, text in table.items():
        path = SPEECH_DIR / name
        with av.open(str(path)) as container:
            stream = container.streams.audio[0]
            assert (stream.codec_context.name, stream.rate, stream.channels) == ("flac", 16000, 1)
        seconds = speech_seconds(name)
        if name == "passage.flac":
            assert 55.0 <= seconds <= 60.0
            assert len(text.split()) > 120
        else:
            assert 2.0 <= seconds <= 5.0, name
            assert text.endswith(".") and 6 <= len(text.split()) <= 12
    assert set(json.loads((SPEECH_DIR / "sentences.json").read_text())) == set(table)
    assert speech_text(["marathon", "kitten.flac"]) == (
        "The city marathon starts at nine tomorrow morning. "
        "Firefighters rescued a kitten from the old library roof."
    )


def test_assets_stay_small() -> None:
    """The made assets (speech, the face) stay under 3 MB; the real footage of the
    evaluation set (tests/assets/real, cut small from registry packages) has its own 5 MB."""
    assets = FACE_PATH.parent
    real = assets / "real"

    def size(files: object) -> int:
        return sum(p.stat().st_size for p in files if p.is_file())  # type: ignore[attr-defined]

    made = [p for p in assets.rglob("*") if real not in p.parents]
    assert size(made) < 3_000_000
    assert size(real.rglob("*")) < 5_000_000
    assert FACE_PATH.stat().st_size < 40_000


def test_face_picture_shows_exactly_one_face() -> None:
    face = face_image()
    assert face.shape == (256, 256, 3)
    assert count_faces(face) == 1


def test_every_look_can_be_drawn_at_any_size() -> None:
    for look in LOOKS:
        for size in ((160, 90), (360, 640)):
            img = draw_look(look, size, variant=1)
            assert img.shape == (size[1], size[0], 3) and img.dtype == np.uint8
    with pytest.raises(ValueError, match="unknown look"):
        SceneSpec(1.0, "desert")


def test_caption_band_is_about_a_tenth_of_the_picture_high() -> None:
    top, band = caption_band("CITY MARATHON", 640, 360)
    assert 50 <= band.shape[0] <= 90 and top + band.shape[0] <= 360
    white = (band.min(axis=2) > 200).any(axis=1)
    rows = np.flatnonzero(white)
    assert 30 <= rows[-1] - rows[0] + 1 <= 45  # the letters' height, about 36 px


# --------------------------------------------------------------------------- timing facts


def test_cut_times_fall_on_whole_frames() -> None:
    scenes = [SceneSpec(2.0), SceneSpec(2.5), SceneSpec(2.5)]
    assert scene_frames(scenes, 25) == [0, 50, 113, 175]  # 112.5 frames rounds up
    assert cut_times(scenes, 25) == [2.0, 4.52]
    assert clip_seconds(scenes, 25) == 7.0
    assert cut_times([SceneSpec(1.0)]) == []
    spans = speech_spans(["marathon", "kitten"], start_s=0.3)
    assert spans[0][1] == 0.3 and spans[1][1] == pytest.approx(spans[0][2] + 0.4, abs=1e-3)


# --------------------------------------------------------------------------- clips


@pytest.mark.parametrize("fixture", CLIPS)
def test_clip_decodes_with_the_promised_streams(
    fixture: str, request: pytest.FixtureRequest
) -> None:
    clip: Clip = request.getfixturevalue(fixture)
    with av.open(str(clip.path)) as container:
        assert FORMATS[clip.path.suffix] in container.format.name.split(",")
        assert len(container.streams.video) == 1
        assert len(container.streams.audio) == (1 if clip.audio else 0)
        video = container.streams.video[0]
        assert video.codec_context.name == clip.video_codec
        assert (video.codec_context.width, video.codec_context.height) == clip.size
        assert video.average_rate == clip.fps
        if clip.audio:
            stream = container.streams.audio[0]
            assert stream.codec_context.name == clip.audio_codec
            assert stream.rate == AUDIO_RATE
    frames, times, rotation = decode_video(clip.path)
    assert len(frames) == clip.frames
    assert times[-1] + 1 / clip.fps == pytest.approx(clip.duration, abs=1 / clip.fps)
    assert rotation == clip.rotation


@pytest.mark.parametrize("fixture", CLIPS)
def test_cuts_are_hard_and_scenes_move_smoothly(
    fixture: str, request: pytest.FixtureRequest
) -> None:
    clip: Clip = request.getfixturevalue(fixture)
    frames, _, _ = decode_video(clip.path)
    hsv = [cv2.cvtColor(f, cv2.COLOR_RGB2HSV).astype(np.int16) for f in frames]
    change = np.array([np.abs(b - a).mean() for a, b in itertools.pairwise(hsv)])
    cuts = [round(t * clip.fps) - 1 for t in clip.cut_times]  # change into frame index + 1
    within = np.delete(change, cuts)
    assert within.max() < 6.0, "a scene jumps inside itself"
    for i in cuts:
        assert change[i] > 15.0 and change[i] > 4 * within.max(), f"weak cut at frame {i + 1}"
    assert within.mean() > 0.3, "the picture should move a little inside a scene"


@pytest.mark.parametrize("fixture", ["speech_clip", "snow_clip", "indoor_clip"])
def test_speech_is_loud_where_it_was_placed(fixture: str, request: pytest.FixtureRequest) -> None:
    clip: Clip = request.getfixturevalue(fixture)
    samples = decode_audio(clip.path)
    assert len(samples) / AUDIO_RATE == pytest.approx(clip.duration, abs=0.1)

    def rms(a: float, b: float) -> float:
        part = samples[int(a * AUDIO_RATE) : int(b * AUDIO_RATE)]
        return float(np.sqrt(np.mean(part**2)))

    for _, start, end in clip.speech_spans:
        assert rms(start + 0.1, end - 0.1) > 0.05
    assert rms(0.0, clip.speech_start_s - 0.1) < 0.005
    assert clip.transcript and clip.sentences


def test_tone_clip_sounds_throughout_and_silent_clip_has_no_audio(
    tone_clip: Clip, silent_clip: Clip
) -> None:
    samples = decode_audio(tone_clip.path)
    seconds = np.array_split(samples, int(tone_clip.duration))
    assert all(float(np.sqrt(np.mean(s**2))) > 0.03 for s in seconds)
    assert tone_clip.transcript == ""
    with av.open(str(silent_clip.path)) as container:
        assert not container.streams.audio


def test_faces_show_where_promised(indoor_clip: Clip) -> None:
    assert indoor_clip.faces == [1, 0]
    for (start, end), faces in zip(indoor_clip.scene_spans, indoor_clip.faces, strict=True):
        for t in (start, (start + end) / 2, end - 0.1):
            frame = frame_at(indoor_clip, t)
            assert count_faces(frame) == faces
            small = cv2.resize(frame, (320, 180), interpolation=cv2.INTER_AREA)
            assert count_faces(small) == faces


def test_rotated_clip_is_a_portrait_phone_video(rotated_clip: Clip) -> None:
    assert rotated_clip.rotation == -90 and rotated_clip.display_size == (360, 640)
    with av.open(str(rotated_clip.path)) as container:
        frame = next(container.decode(video=0))
        assert frame.rotation == -90
        assert (frame.width, frame.height) == (640, 360)
    start, end = rotated_clip.scene_spans[1]
    upright = frame_at(rotated_clip, (start + end) / 2)
    assert upright.shape == (640, 360, 3)
    assert count_faces(upright) == 1
    first, _ = rotated_clip.scene_spans[0]
    assert count_faces(frame_at(rotated_clip, first)) == 0


def test_caption_is_burned_in_its_scene_only(speech_clip: Clip) -> None:
    assert speech_clip.captions == ["CITY MARATHON"]
    top, band = caption_band("CITY MARATHON", *speech_clip.display_size)
    for (start, end), scene in zip(speech_clip.scene_spans, speech_clip.scenes, strict=True):
        rows = frame_at(speech_clip, (start + end) / 2)[top : top + band.shape[0]]
        has_band = float(np.abs(rows.astype(int) - band.astype(int)).mean()) < 6.0
        assert has_band == (scene.caption is not None)


def test_looks_have_their_colours(
    snow_clip: Clip, beach_clip: Clip, autumn_clip: Clip, spring_clip: Clip, indoor_clip: Clip
) -> None:
    def hsv_at(clip: Clip) -> np.ndarray:
        return cv2.cvtColor(frame_at(clip, 1.0), cv2.COLOR_RGB2HSV).astype(int)

    h, s, v = np.moveaxis(hsv_at(snow_clip), 2, 0)
    lower = slice(h.shape[0] // 3, None)
    assert ((v[lower] > 195) & (s[lower] < 40)).mean() > 0.7
    h, s, v = np.moveaxis(hsv_at(beach_clip), 2, 0)
    third = h.shape[0] // 3
    assert ((h[:third] >= 95) & (h[:third] <= 125) & (s[:third] > 40)).mean() > 0.6  # sky
    assert ((h[2 * third :] >= 8) & (h[2 * third :] <= 30) & (v[2 * third :] > 140)).mean() > 0.7
    h, s, v = np.moveaxis(hsv_at(autumn_clip), 2, 0)
    assert (((h <= 20) | (h >= 170)) & (s > 90)).mean() > 0.6
    h, s, v = np.moveaxis(hsv_at(spring_clip), 2, 0)
    assert ((h >= 34) & (h <= 85) & (s > 60)).mean() > 0.5
    h, s, v = np.moveaxis(hsv_at(indoor_clip), 2, 0)
    assert v.mean() < 130 and ((h >= 92) & (h <= 128) & (s > 35) & (v > 120)).mean() < 0.05


def test_clips_are_deterministic(tmp_path: Path) -> None:
    scenes = [SceneSpec(0.6, "beach", caption="SURF"), SceneSpec(0.6, "night")]
    a = make_clip(tmp_path / "a.mp4", scenes, speech_start_s=0.0, tone=True)
    b = make_clip(tmp_path / "b.mp4", scenes, speech_start_s=0.0, tone=True)
    fa, _, _ = decode_video(a)
    fb, _, _ = decode_video(b)
    assert all(np.array_equal(x, y) for x, y in zip(fa, fb, strict=True))


def test_speech_that_does_not_fit_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="after the clip"):
        make_clip(tmp_path / "short.mp4", [SceneSpec(1.0)], speech=["marathon"])


# --------------------------------------------------------------------------- bad inputs


def test_bad_inputs_are_what_they_claim(bad_inputs: dict[str, Path]) -> None:
    assert set(bad_inputs) == {
        "empty", "text", "image", "audio_only", "truncated", "garbage", "no_moov"
    }  # fmt: skip
    assert all(p.suffix == ".mp4" and p.exists() for p in bad_inputs.values())
    assert bad_inputs["empty"].stat().st_size == 0
    assert bad_inputs["text"].read_text().startswith("This is not a video")
    assert bad_inputs["image"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    for kind in ("empty", "text", "garbage", "no_moov"):
        with pytest.raises(av.error.FFmpegError), av.open(str(bad_inputs[kind])) as container:
            next(container.decode(video=0))
    with av.open(str(bad_inputs["audio_only"])) as container:
        assert not container.streams.video
        assert container.streams.audio[0].codec_context.name == "aac"
    with av.open(str(bad_inputs["truncated"])) as container:
        header_s = container.duration / 1_000_000
        frames = 0
        try:
            for _ in container.decode(video=0):
                frames += 1
        except av.error.FFmpegError:
            pass
    assert header_s == pytest.approx(4.0, abs=0.1)
    assert 0 < frames / 25 < header_s * 0.75


# --------------------------------------------------------------------------- benchmark


@pytest.mark.slow
def test_benchmark_clip_builds_in_well_under_a_minute(tmp_path: Path) -> None:
    started = time.perf_counter()
    clip = build_benchmark_clip(tmp_path / "bench.mp4")
    assert time.perf_counter() - started < 45
    assert clip.duration == 60.0 and len(clip.scenes) == 8
    assert clip.captions == ["HARBOR TOWN MARATHON"] and clip.faces.count(1) == 1
    assert clip.speech_spans[0][2] < 60.0
    with av.open(str(clip.path)) as container:
        video = container.streams.video[0]
        assert (video.width, video.height) == (1280, 720)
        assert container.duration / 1_000_000 == pytest.approx(60.0, abs=0.05)


def test_ten_minute_benchmark_plan() -> None:
    scenes = benchmark_scenes(600.0)
    assert len(scenes) == 80 and sum(s.seconds for s in scenes) == pytest.approx(600.0)
    assert len(cut_times(scenes)) == 79
