"""The face stage: how many faces each scene shows. Counting only, never identifying."""

from __future__ import annotations

import threading

import cv2
import numpy as np

from storyteller.pipeline.evidence import Scene
from storyteller.pipeline.stage import Context, SceneWork

FACE_WIDTH = 640  # keyframes are scaled to this width: faces of a few % of the frame still show
_local = threading.local()


def _cascade() -> cv2.CascadeClassifier:
    # One classifier per thread: OpenCV's cascade keeps scratch state while detecting.
    cascade = getattr(_local, "cascade", None)
    if cascade is None:
        path = cv2.data.haarcascades + "haarcascade_frontalface_default.xml"  # type: ignore[attr-defined]
        cascade = cv2.CascadeClassifier(path)
        if cascade.empty():
            raise RuntimeError(f"OpenCV's face model is missing: {path}")
        _local.cascade = cascade
    return cascade


def count_faces(rgb: np.ndarray) -> int:
    """Frontal faces in an RGB picture."""
    height, width = rgb.shape[:2]
    if width > FACE_WIDTH:
        rgb = cv2.resize(
            rgb,
            (FACE_WIDTH, max(1, round(height * FACE_WIDTH / width))),
            interpolation=cv2.INTER_AREA,
        )
    gray = cv2.equalizeHist(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY))
    side = min(gray.shape[:2])
    found = _cascade().detectMultiScale(
        gray, scaleFactor=1.15, minNeighbors=5, minSize=(max(24, side // 12),) * 2
    )
    return len(found)


class FaceStage(SceneWork):
    """How many frontal faces each scene's keyframe shows."""

    name = "faces"

    def scene(self, ctx: Context, scene: Scene) -> None:
        keyframe = ctx.keyframes.get(scene.index)
        scene.faces = count_faces(keyframe) if keyframe is not None else 0
