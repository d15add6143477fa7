"""The look stage: seasons and light read from real clips, and from single pictures."""

from __future__ import annotations

import cv2
import pytest

from storyteller.config import Settings
from storyteller.pipeline.evidence import dateline_season
from storyteller.pipeline.look import LookStage, guess_season, look_of
from storyteller.pipeline.probe import ProbeStage
from storyteller.pipeline.scenes import SceneStage
from storyteller.pipeline.stage import Context
from storyteller.story.season import Season
from tests.media import Clip, draw_look


def looked(clip: Clip, settings: Settings) -> Context:
    ctx = Context(path=clip.path, settings=settings)
    for stage in (ProbeStage(), SceneStage(), LookStage()):
        stage.run(ctx)
    return ctx


@pytest.mark.parametrize(
    ("fixture", "season"),
    [
        ("snow_clip", Season.WINTER),
        ("beach_clip", Season.SUMMER),
        ("autumn_clip", Season.AUTUMN),
        ("spring_clip", Season.SPRING),
        ("indoor_clip", Season.NEUTRAL),
    ],
)
def test_guesses_the_season_the_clip_shows(
    fixture: str, season: Season, request: pytest.FixtureRequest, settings: Settings
) -> None:
    ctx = looked(request.getfixturevalue(fixture), settings)
    assert ctx.season is not None
    assert ctx.season.season is season
    assert dateline_season(ctx.season) is season, "confident enough to set the dateline month"
    assert ctx.season.reasons


def test_each_scene_gets_its_own_look(make_media, settings: Settings) -> None:  # type: ignore[no-untyped-def]
    from tests.media import SceneSpec

    clip = make_media("snow-then-indoor.mp4", [SceneSpec(2.0, "snow"), SceneSpec(2.0, "indoor")])
    ctx = looked(clip, settings)
    first, second = (scene.look for scene in ctx.scenes)
    assert first is not None and second is not None
    assert first.snow > 0.5 > second.snow
    assert second.indoor > 0.6 > first.indoor
    assert first.brightness > second.brightness
    assert "white" in first.colours


def test_night_is_dark_and_not_called_indoors() -> None:
    look = look_of(cv2.resize(draw_look("night", (640, 360)), (160, 90)))
    assert look.brightness < 0.25
    assert look.indoor <= 0.5
    assert guess_season(look).season is Season.NEUTRAL


def test_a_plain_picture_tells_no_season() -> None:
    guess = guess_season(look_of(cv2.resize(draw_look("plain", (640, 360)), (160, 90))))
    assert dateline_season(guess) is Season.NEUTRAL
