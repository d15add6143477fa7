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
    return len(find_faces(rgb))


def find_faces(rgb: np.ndarray) -> list[tuple[float, float, float, float]]:
    """Frontal faces in an RGB picture, as boxes (x, y, w, h) in shares of its size."""
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
    rows, cols = gray.shape[:2]
    return [(x / cols, y / rows, w / cols, h / rows) for x, y, w, h in found]


class FaceStage(SceneWork):
    """How many frontal faces each scene's keyframe shows."""

    name = "faces"

    def scene(self, ctx: Context, scene: Scene) -> None:
        keyframe = ctx.keyframes.get(scene.index)
        faces = find_faces(keyframe) if keyframe is not None else []
        scene.faces = len(faces)
        ctx.largest_face[scene.index] = max((h for *_, h in faces), default=0.0)
