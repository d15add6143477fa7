"""The motion stage: what the camera does in each scene (still, pan, zoom, handheld) and how
much of the picture moves by itself, from optical flow on the scene pass's small samples."""

from __future__ import annotations

import itertools

import cv2
import numpy as np

from storyteller.pipeline.evidence import Scene
from storyteller.pipeline.stage import Context

# Two samples further apart than this are not compared (a gap in the samples).
MAX_PAIR_GAP_S = 1.2
# The camera pans when the whole picture shifts by this share of its width a second...
PAN_SPEED = 0.04
# ...zooms when it spreads out or draws in by this share a second...
ZOOM_SPEED = 0.03
# ...and is handheld when it shakes this much without going anywhere.
SHAKE = 0.015
# A pixel moves by itself when its flow differs from the camera's by this many pixels a
# second at the samples' width (about 160 px).
OWN_MOTION_PX_S = 3.0
# Some of the frame moves (people walking, a hand) from this share of the picture.
MOVING_SHARE = 0.01


def _gray(rgb: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)


def pair_motion(a: np.ndarray, b: np.ndarray, seconds: float) -> tuple[float, float, float, float]:
    """Between two small RGB frames: the camera's shift (x, y) and zoom, as shares of the
    width a second, and the share of the picture that moves by itself."""
    flow = np.asarray(
        cv2.calcOpticalFlowFarneback(_gray(a), _gray(b), None, 0.5, 3, 9, 3, 5, 1.1, 0)  # type: ignore[call-overload]
    )
    height, width = flow.shape[:2]
    dx, dy = float(np.median(flow[..., 0])), float(np.median(flow[..., 1]))
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    rx, ry = xs - width / 2, ys - height / 2
    radius = np.hypot(rx, ry) + 1e-3
    outward = (flow[..., 0] - dx) * rx / radius + (flow[..., 1] - dy) * ry / radius
    zoom = float(np.median(outward / radius * (width / 2)))  # px at the edge
    residual = np.hypot(flow[..., 0] - dx, flow[..., 1] - dy)
    own = float((residual > OWN_MOTION_PX_S * seconds).mean())
    per_s = seconds * width
    return dx / per_s, dy / per_s, zoom / per_s, own


def scene_motion(samples: list[tuple[float, np.ndarray]]) -> tuple[str | None, float]:
    """What the camera does over a scene's samples, and the share of the frame that moves."""
    pairs = [
        pair_motion(a, b, tb - ta)
        for (ta, a), (tb, b) in itertools.pairwise(samples)
        if 0 < tb - ta <= MAX_PAIR_GAP_S
    ]
    if not pairs:
        return None, 0.0
    shifts = np.array([(dx, dy) for dx, dy, _, _ in pairs])
    zooms = np.array([z for _, _, z, _ in pairs])
    moving = float(np.median([own for *_, own in pairs]))
    mean_shift = float(np.hypot(*shifts.mean(axis=0)))
    shake = float(np.hypot(*shifts.std(axis=0))) if len(pairs) > 1 else 0.0
    if mean_shift >= PAN_SPEED:
        camera = "pan"
    elif abs(float(zooms.mean())) >= ZOOM_SPEED:
        camera = "zoom"
    elif shake >= SHAKE or float(np.abs(shifts).mean()) >= SHAKE:
        camera = "handheld"
    else:
        camera = "still"
    return camera, round(moving, 3)


class MotionStage:
    """Fills each scene's `camera` and `movement`, and whether its people move."""

    name = "motion"

    def run(self, ctx: Context) -> None:
        for scene in ctx.scenes:
            inside = [(t, f) for t, f in ctx.samples if scene.start_s <= t < scene.end_s]
            scene.camera, scene.movement = scene_motion(inside)
            _people_moving(scene)
        ctx.progress(self.name, 1.0)


def _people_moving(scene: Scene) -> None:
    people = max(scene.people, scene.faces)
    if not people or scene.camera is None:
        scene.people_moving = None
    else:
        scene.people_moving = scene.movement >= MOVING_SHARE
