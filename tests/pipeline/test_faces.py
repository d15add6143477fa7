"""The face stage counts faces per scene on real frames, and only counts."""

from __future__ import annotations

import numpy as np

from storyteller.config import Settings
from storyteller.pipeline.faces import FaceStage, count_faces
from storyteller.pipeline.probe import ProbeStage
from storyteller.pipeline.scenes import SceneStage
from storyteller.pipeline.stage import Context
from tests.media import Clip, face_image


def faces_per_scene(clip: Clip, settings: Settings) -> list[int]:
    ctx = Context(path=clip.path, settings=settings)
    for stage in (ProbeStage(), SceneStage(), FaceStage()):
        stage.run(ctx)
    return [scene.faces for scene in ctx.scenes]


def test_counts_the_face_in_the_scene_that_shows_one(indoor_clip: Clip, settings: Settings) -> None:
    assert faces_per_scene(indoor_clip, settings) == [1, 0]


def test_finds_a_face_only_once_the_video_is_turned_upright(
    rotated_clip: Clip, settings: Settings
) -> None:
    assert faces_per_scene(rotated_clip, settings) == [0, 1]


def test_two_faces_side_by_side() -> None:
    face = face_image()
    canvas = np.full((480, 960, 3), 90, dtype=np.uint8)
    h, w = face.shape[:2]
    canvas[100 : 100 + h, 120 : 120 + w] = face
    canvas[100 : 100 + h, 560 : 560 + w] = face
    assert count_faces(canvas) == 2


def test_no_face_in_an_empty_wall() -> None:
    assert count_faces(np.full((360, 640, 3), 128, dtype=np.uint8)) == 0
