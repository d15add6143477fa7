"""The scene pass on real clips: cuts where they are, keyframes inside their scenes."""

from __future__ import annotations

import pytest

from storyteller.config import Settings
from storyteller.pipeline.probe import ProbeStage
from storyteller.pipeline.scenes import SceneStage
from storyteller.pipeline.stage import Context
from tests.media import Clip, SceneSpec


def scenes_of(clip: Clip, settings: Settings) -> Context:
    ctx = Context(path=clip.path, settings=settings)
    ProbeStage().run(ctx)
    SceneStage().run(ctx)
    return ctx


@pytest.mark.parametrize(
    "fixture", ["speech_clip", "snow_clip", "beach_clip", "silent_clip", "rotated_clip"]
)
def test_finds_every_hard_cut_within_a_fifth_of_a_second(
    fixture: str, request: pytest.FixtureRequest, settings: Settings
) -> None:
    clip: Clip = request.getfixturevalue(fixture)
    ctx = scenes_of(clip, settings)
    found = [scene.start_s for scene in ctx.scenes[1:]]
    assert len(found) == len(clip.cut_times), f"cuts {found}, expected {clip.cut_times}"
    for got, expected in zip(found, clip.cut_times, strict=True):
        assert got == pytest.approx(expected, abs=0.2)


def test_cuts_between_different_looks(make_media, settings: Settings) -> None:  # type: ignore[no-untyped-def]
    clip = make_media(
        "five-looks.mp4",
        [SceneSpec(3.0, "autumn"), SceneSpec(2.0, "spring"), SceneSpec(2.5, "indoor"),
         SceneSpec(1.0, "beach"), SceneSpec(2.0, "snow")],
    )  # fmt: skip
    ctx = scenes_of(clip, settings)
    found = [scene.start_s for scene in ctx.scenes[1:]]
    assert found == pytest.approx(clip.cut_times, abs=0.2)


def test_scenes_cover_the_video_and_keyframes_sit_inside(
    speech_clip: Clip, settings: Settings
) -> None:
    ctx = scenes_of(speech_clip, settings)
    assert ctx.media is not None
    assert ctx.scenes[0].start_s == 0.0
    assert ctx.scenes[-1].end_s == pytest.approx(speech_clip.duration, abs=0.05)
    for before, after in zip(ctx.scenes, ctx.scenes[1:], strict=False):
        assert before.end_s == after.start_s
    for scene in ctx.scenes:
        assert scene.start_s <= scene.keyframe_s < scene.end_s
        assert ctx.keyframes[scene.index].shape == (360, 640, 3)
    assert ctx.media.frame_count == speech_clip.frames


def test_keyframes_and_samples_are_upright(rotated_clip: Clip, settings: Settings) -> None:
    ctx = scenes_of(rotated_clip, settings)
    assert all(frame.shape == (640, 360, 3) for frame in ctx.keyframes.values())
    assert ctx.samples and all(frame.shape[0] > frame.shape[1] for _, frame in ctx.samples)


def test_samples_are_spread_through_the_video(speech_clip: Clip, settings: Settings) -> None:
    ctx = scenes_of(speech_clip, settings)
    times = [t for t, _ in ctx.samples]
    assert times == sorted(times)
    assert times[0] < 0.1 and times[-1] > speech_clip.duration - 1.0
    assert all(frame.shape[1] <= 160 for _, frame in ctx.samples)


def test_a_truncated_file_yields_the_scenes_it_holds(bad_inputs, settings: Settings) -> None:  # type: ignore[no-untyped-def]
    ctx = Context(path=bad_inputs["truncated"], settings=settings)
    ProbeStage().run(ctx)
    SceneStage().run(ctx)
    assert ctx.media is not None and ctx.scenes
    assert ctx.scenes[-1].end_s <= ctx.media.duration_s + 1e-6 < 3.0
