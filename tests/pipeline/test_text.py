"""The on-screen text stage on real clips: captions read once, junk and doubt left out, offline."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from storyteller.config import Settings
from storyteller.pipeline import text as text_module
from storyteller.pipeline.evidence import Scene
from storyteller.pipeline.frames import read_frames
from storyteller.pipeline.stage import Context
from storyteller.pipeline.text import (
    OCR_WIDTH,
    ScreenTextCollector,
    ScreenTextStage,
    clean,
    frame_times,
    ocr_engine,
    read_lines,
)
from tests.media import Clip, SceneSpec, caption_band, draw_look


@pytest.fixture(autouse=True)
def offline(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """RapidOCR may not download anything: its downloader and sockets refuse."""
    from rapidocr.utils.download_file import DownloadFile

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("a download or network connection was attempted")

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(DownloadFile, "run", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    yield


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[str, float]] = []

    def __call__(self, stage: str, fraction: float) -> None:
        self.calls.append((stage, fraction))


def scenes_of(clip: Clip) -> list[Scene]:
    """The scenes the scene stage would find, with a keyframe in the middle of each."""
    return [
        Scene(index=i, start_s=start, end_s=end, keyframe_s=round((start + end) / 2, 3))
        for i, (start, end) in enumerate(clip.scene_spans)
    ]


def read_clip(clip: Clip, settings: Settings, progress: Recorder | None = None) -> Context:
    ctx = Context(path=clip.path, settings=settings, progress=progress or Recorder())
    ctx.scenes = scenes_of(clip)
    ctx.keyframes = {s.index: read_frames(clip.path, [s.keyframe_s])[0][1] for s in ctx.scenes}
    ScreenTextStage().run(ctx)
    return ctx


def test_reads_the_caption_once_across_frames(speech_clip: Clip, settings: Settings) -> None:
    progress = Recorder()
    ctx = read_clip(speech_clip, settings, progress)
    assert [line.text for line in ctx.on_screen_text] == ["CITY MARATHON"]
    line = ctx.on_screen_text[0]
    start, end = speech_clip.scene_spans[1]  # only the second shot is captioned
    assert line.frames == settings.ocr_frames_per_scene
    assert start <= line.first_seen_s < line.last_seen_s <= end
    assert settings.ocr_min_confidence <= line.confidence <= 1.0
    fractions = [f for stage, f in progress.calls if stage == "text"]
    total = settings.ocr_frames_per_scene * len(ctx.scenes)
    assert fractions == sorted(fractions) and fractions[-1] == 1.0 and len(fractions) >= total


def test_reads_the_caption_of_a_portrait_video_upright(
    rotated_clip: Clip, settings: Settings
) -> None:
    ctx = read_clip(rotated_clip, settings)
    assert [line.text for line in ctx.on_screen_text] == ["TOWN HALL"]
    assert ctx.on_screen_text[0].last_seen_s <= rotated_clip.scene_spans[0][1]


def test_busy_pictures_without_text_give_no_lines(
    make_media: Callable[..., Clip], settings: Settings
) -> None:
    # Lit windows at night, autumn leaves and flowers are what an OCR detector mistakes
    # for letters; none of it may come out as text.
    clip = make_media(
        "busy.mp4", [SceneSpec(1.5, "night"), SceneSpec(1.5, "autumn"), SceneSpec(1.5, "spring")]
    )
    assert read_clip(clip, settings).on_screen_text == []


def test_a_video_with_no_scenes_has_no_text(speech_clip: Clip, settings: Settings) -> None:
    ctx = Context(path=speech_clip.path, settings=settings)
    ScreenTextStage().run(ctx)
    assert ctx.on_screen_text == []


def test_reads_lines_top_to_bottom_on_a_picture() -> None:
    picture = draw_look("beach", (OCR_WIDTH, 540)).copy()
    for text, top in (("HARBOR FESTIVAL", 40), ("Fireworks tonight", 380)):
        _, band = caption_band(text, OCR_WIDTH, 540)
        picture[top : top + band.shape[0]] = band
    lines = read_lines(picture)
    assert [text for text, _ in lines] == ["HARBOR FESTIVAL", "Fireworks tonight"]
    assert all(confidence > 0.9 for _, confidence in lines)


def test_a_blank_picture_has_no_lines() -> None:
    assert read_lines(np.full((540, OCR_WIDTH, 3), 120, np.uint8)) == []


def test_engine_loads_the_models_inside_the_package_without_downloading() -> None:
    ocr_engine.cache_clear()  # a fresh engine, its models loaded here, under the guard above
    picture = draw_look("plain", (OCR_WIDTH, 540)).copy()
    top, band = caption_band("TOWN HALL", OCR_WIDTH, 540)
    picture[top : top + band.shape[0]] = band
    assert [text for text, _ in read_lines(picture)] == ["TOWN HALL"]
    engine = ocr_engine(1)
    assert engine.cfg.Det.model_path.endswith("rapidocr/models/PP-OCRv6_det_small.onnx")
    assert engine.cfg.Rec.model_path.endswith("rapidocr/models/PP-OCRv6_rec_small.onnx")
    assert engine.cfg.Global.use_cls is False
    assert ocr_engine(1) is engine


# --------------------------------------------------------------------------- merging


def test_near_identical_readings_become_one_line() -> None:
    collector = ScreenTextCollector(min_confidence=0.75)
    collector.add(1.0, "CITY MARATH0N", 0.86)
    collector.add(2.0, "CITY  MARATHON ", 0.99)
    collector.add(2.0, "City Marathon", 0.90)  # the same frame again: still one frame
    collector.add(3.0, "CITY MARATHON", 0.95)
    [line] = collector.result()
    assert (line.text, line.confidence) == ("CITY MARATHON", 0.99)
    assert (line.first_seen_s, line.last_seen_s, line.frames) == (1.0, 3.0, 3)


def test_different_lines_stay_apart_in_order_of_appearance() -> None:
    collector = ScreenTextCollector(min_confidence=0.75)
    collector.add(4.0, "Main Street", 0.9)
    collector.add(1.0, "CITY MARATHON", 0.9)
    collector.add(5.0, "CITY", 0.9)
    assert [(s.text, s.first_seen_s) for s in collector.result()] == [
        ("CITY MARATHON", 1.0),
        ("Main Street", 4.0),
        ("CITY", 5.0),
    ]


def test_junk_and_doubtful_readings_are_dropped() -> None:
    collector = ScreenTextCollector(min_confidence=0.75)
    for junk in ("■", "ab", "|-", " - ", "1 ."):
        collector.add(1.0, junk, 0.99)
    collector.add(1.0, "Snow closes the road", 0.6)  # below the threshold
    collector.add(1.0, "OPEN 9-5", 0.8)
    assert [s.text for s in collector.result()] == ["OPEN 9-5"]


def test_clean_makes_spacing_regular() -> None:
    assert clean("  CITY \t MARATHON  ") == "CITY MARATHON"
    assert clean("24") is None


# --------------------------------------------------------------------------- frames


def test_frames_spread_inside_the_scene_around_the_keyframe() -> None:
    scene = Scene(index=0, start_s=2.0, end_s=8.0, keyframe_s=4.6)
    assert frame_times(scene, 3) == [3.0, 4.6, 7.0]
    assert frame_times(scene, 1) == [4.6]
    short = Scene(index=1, start_s=0.0, end_s=0.3, keyframe_s=0.15)
    assert frame_times(short, 3) == [0.15]  # three frames 0.1 s apart would show one picture


def test_still_shots_are_read_once(monkeypatch: pytest.MonkeyPatch, settings: Settings) -> None:
    picture = draw_look("plain", (OCR_WIDTH, 540)).copy()
    row, band = caption_band("TOWN HALL", OCR_WIDTH, 540)
    picture[row : row + band.shape[0]] = band
    calls: list[float] = []

    def same_picture_everywhere(
        path: Path, times: list[float], *, width: int | None = None
    ) -> list[tuple[float, np.ndarray]]:
        return [(t, picture.copy()) for t in sorted(times)]

    def counting_read_lines(image: np.ndarray, threads: int = 1) -> list[tuple[str, float]]:
        calls.append(1.0)
        return read_lines(image, threads)

    monkeypatch.setattr(text_module, "read_frames", same_picture_everywhere)
    monkeypatch.setattr(text_module, "read_lines", counting_read_lines)
    three_frames = settings.model_copy(update={"ocr_frames_per_scene": 3})
    ctx = Context(path=Path("still.mp4"), settings=three_frames)
    ctx.scenes = [Scene(index=0, start_s=0.0, end_s=6.0, keyframe_s=3.0)]
    ctx.keyframes = {0: picture}
    ScreenTextStage().run(ctx)
    assert len(calls) == 1
    [line] = ctx.on_screen_text
    assert (line.text, line.frames, line.first_seen_s, line.last_seen_s) == (
        "TOWN HALL",
        3,
        1.0,
        5.0,
    )
