"""The people stage: whole figures in each scene, not only frontal faces (OpenCV's HOG
people detector), how many, and roughly where. Counting only, never identifying.

OpenCV's built-in HOG + linear SVM people detector was chosen over a neural detector
shipped in a registry package: it is already installed (opencv-python-headless), needs no
weights from anywhere, and takes 20-40 ms a keyframe at 800 px on this machine; on the real
clips it finds the walkers of a fixed street shot and stays silent on close-ups, where the
face detector counts the person instead (see docs/benchmarks.md)."""

from __future__ import annotations

import threading

import cv2
import numpy as np

from storyteller.pipeline.evidence import Scene
from storyteller.pipeline.stage import Context, SceneWork

# Keyframes are scaled to this width: walkers of a wide shot are then tall enough for the
# detector's 64x128 window, at 20-40 ms a frame.
PEOPLE_WIDTH = 800
# The SVM's margin a detection needs to count: below it, railings and bollards pass.
MIN_WEIGHT = 0.9
# A face this tall (share of the picture's height) makes a close-up: no body fits below it.
CLOSE_UP_FACE = 0.12
_local = threading.local()


def _detector() -> cv2.HOGDescriptor:
    hog = getattr(_local, "hog", None)
    if hog is None:
        hog = cv2.HOGDescriptor()
        hog.setSVMDetector(cv2.HOGDescriptor_getDefaultPeopleDetector())  # type: ignore[attr-defined]
        _local.hog = hog
    return hog


def find_people(rgb: np.ndarray) -> list[tuple[float, float, float, float]]:
    """Standing or walking people in an RGB picture, as boxes (x, y, w, h) in 0..1."""
    height, width = rgb.shape[:2]
    # Grey (turned grey first, then scaled): a third less time than colour, and the same
    # walkers found on the real clips.
    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    image = cv2.resize(gray, (PEOPLE_WIDTH, max(1, round(height * PEOPLE_WIDTH / width))))
    rects, weights = _detector().detectMultiScale(
        image, winStride=(8, 8), padding=(8, 8), scale=1.15
    )
    kept = [
        (float(x), float(y), float(w), float(h))
        for (x, y, w, h), weight in zip(rects, np.ravel(weights), strict=False)
        if float(weight) >= MIN_WEIGHT
    ]
    iw, ih = image.shape[1], image.shape[0]
    return [(x / iw, y / ih, w / iw, h / ih) for x, y, w, h in _suppress(kept)]


def _suppress(
    boxes: list[tuple[float, float, float, float]],
) -> list[tuple[float, float, float, float]]:
    """One box per person: a box mostly inside a kept one is the same person."""
    kept: list[tuple[float, float, float, float]] = []
    for box in sorted(boxes, key=lambda b: -b[2] * b[3]):
        x, y, w, h = box
        if all(
            max(0.0, min(x + w, kx + kw) - max(x, kx)) * max(0.0, min(y + h, ky + kh) - max(y, ky))
            < 0.4 * w * h
            for kx, ky, kw, kh in kept
        ):
            kept.append(box)
    return kept


def where(boxes: list[tuple[float, float, float, float]]) -> str | None:
    """Roughly where in the frame: left, centre, right, or across it."""
    if not boxes:
        return None
    centres = [x + w / 2 for x, _, w, _ in boxes]
    if len(boxes) > 2 and max(centres) - min(centres) > 0.5:
        return "across"
    mean = sum(centres) / len(centres)
    return "left" if mean < 0.38 else "right" if mean > 0.62 else "centre"


class PeopleStage(SceneWork):
    """People per scene from its keyframe: whole figures (HOG), or the faces seen, whichever
    is more; where they are. Whether they move is told by the motion stage."""

    name = "people"

    def scene(self, ctx: Context, scene: Scene) -> None:
        keyframe = ctx.keyframes.get(scene.index)
        if keyframe is None:
            return
        if ctx.largest_face.get(scene.index, 0.0) >= CLOSE_UP_FACE:
            # A close-up: whoever is there is counted by their face, and no whole figure
            # fits in the frame for the detector to find.
            scene.people = scene.faces
            return
        boxes = find_people(keyframe)
        scene.people = max(len(boxes), scene.faces)
        scene.people_where = where(boxes)
