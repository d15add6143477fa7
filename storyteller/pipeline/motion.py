"""The motion stage: what the camera does in each scene (still, pan, zoom, handheld) and how
much of the picture moves by itself, from optical flow on the scene pass's small samples."""

from __future__ import annotations

import itertools

import cv2
import numpy as np

from storyteller.pipeline.evidence import Scene
from storyteller.pipeline.stage import Context, SceneWork

# Two samples further apart than this are not compared (a gap in the samples).
MAX_PAIR_GAP_S = 1.2
# The camera pans when the whole picture shifts steadily one way by this share of its
# width a second...
PAN_SPEED = 0.02
# ...zooms when it spreads out or draws in by this share a second...
ZOOM_SPEED = 0.03
# ...and is handheld when it shakes this much without going anywhere. It is still only
# when it is much steadier than that: between the two (a camera braced in a moving car,
# a tripod on a soft floor, corners thrown off by much moving in the frame) what it does
# is not told, as a story must not call a camera fixed that the footage shows moving.
SHAKE = 0.02
STEADY = 0.008
# A pixel moves by itself when, the camera's motion undone, it still differs by this much
# (grey levels 0-255).
OWN_DIFFERENCE = 24
# Corners that agree on a motion must spread over this share of the width and height to be
# the camera's motion: a box or a hand filling part of a plain wall's frame is not.
SPREAD = 0.6
# Some of the frame moves (people walking, a hand) from this share of the picture.
MOVING_SHARE = 0.01


def _gray(rgb: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)


def pair_motion(a: np.ndarray, b: np.ndarray, seconds: float) -> tuple[float, float, float, float]:
    """Between two small RGB frames: the camera's shift (x, y) and zoom, as shares of the
    width a second, and the share of the picture that moves by itself.

    The camera's motion is the similarity transform that most tracked corners agree on
    (Lucas-Kanade flow, RANSAC); what still differs once the first frame is moved that way
    is what moves by itself."""
    first, second = _gray(a), _gray(b)
    height, width = first.shape[:2]
    per_s = max(seconds, 1e-3) * width
    corners = cv2.goodFeaturesToTrack(first, maxCorners=150, qualityLevel=0.01, minDistance=4)
    model = None
    if corners is not None and len(corners) >= 6:
        moved, status, _ = cv2.calcOpticalFlowPyrLK(  # type: ignore[call-overload]
            first, second, corners, None, winSize=(15, 15), maxLevel=3
        )
        found = status.reshape(-1) == 1
        if found.sum() >= 6:
            model, inliers = cv2.estimateAffinePartial2D(
                corners[found], moved[found], ransacReprojThreshold=1.5
            )
            if model is not None and not _spread(
                corners[found][inliers.reshape(-1) == 1], width, height
            ):
                model = None  # the corners that agree sit on one object: it moves, not the camera
    if model is None:
        model = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    centre = np.array([width / 2, height / 2, 1.0])
    dx, dy = (model @ centre) - centre[:2]
    zoom = float(np.hypot(model[0, 0], model[1, 0])) - 1.0  # growth of the picture
    warped = cv2.warpAffine(first, model, (width, height), borderMode=cv2.BORDER_REPLICATE)
    differs = cv2.absdiff(cv2.GaussianBlur(warped, (3, 3), 0), cv2.GaussianBlur(second, (3, 3), 0))
    margin = 4  # the edges are filled in by the warp
    own = float((differs[margin:-margin, margin:-margin] > OWN_DIFFERENCE).mean())
    return float(dx) / per_s, float(dy) / per_s, zoom * width / 2 / per_s, own


def _spread(points: np.ndarray, width: int, height: int) -> bool:
    """The points cover the picture widely enough to stand for the background."""
    if len(points) < 6:
        return False
    xs, ys = points.reshape(-1, 2).T
    return float(np.ptp(xs)) >= SPREAD * width and float(np.ptp(ys)) >= SPREAD * height


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
    if mean_shift >= PAN_SPEED and mean_shift >= 1.5 * shake:  # steadily one way
        camera = "pan"
    elif abs(float(zooms.mean())) >= ZOOM_SPEED:
        camera = "zoom"
    elif shake >= SHAKE:
        camera = "handheld"
    elif shake < STEADY and mean_shift < STEADY:
        camera = "still"
    else:
        camera = None
    return camera, round(moving, 3)


class MotionStage(SceneWork):
    """Fills each scene's `camera` and `movement`, and whether its people move (after the
    people stage has counted them), from the samples the scene pass took inside it."""

    name = "motion"

    def scene(self, ctx: Context, scene: Scene) -> None:
        # The scene pass appends samples as it goes: those of a closed scene are all there.
        inside = [(t, f) for t, f in list(ctx.samples) if scene.start_s <= t < scene.end_s]
        scene.camera, scene.movement = scene_motion(inside)
        measured = any(
            0 < tb - ta <= MAX_PAIR_GAP_S for (ta, _), (tb, _) in itertools.pairwise(inside)
        )
        _people_moving(scene, measured)


def _people_moving(scene: Scene, measured: bool) -> None:
    """Whether its people move: unknown without two samples to compare."""
    people = max(scene.people, scene.faces)
    if not people or not measured:
        scene.people_moving = None
    else:
        scene.people_moving = scene.movement >= MOVING_SHARE
