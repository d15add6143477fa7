"""The look stage: light, colour and outdoor signals per scene, and a season guess."""

from __future__ import annotations

import cv2
import numpy as np

from storyteller.pipeline.evidence import Look, SeasonGuess
from storyteller.pipeline.stage import Context
from storyteller.story.season import Season

# OpenCV HSV: hue 0..180, saturation and value 0..255.
_COLOUR_NAMES = (  # (name, hue from, hue to) for saturated, not-too-dark pixels
    ("red", 0, 8),
    ("orange", 8, 20),
    ("yellow", 20, 34),
    ("green", 34, 85),
    ("teal", 85, 100),
    ("blue", 100, 130),
    ("purple", 130, 150),
    ("pink", 150, 170),
    ("red", 170, 181),
)


def _fraction(mask: np.ndarray) -> float:
    return float(mask.mean()) if mask.size else 0.0


def _rows(count: int, part: slice) -> np.ndarray:
    """A column mask of the rows in `part`, to combine with whole-picture masks."""
    mask = np.zeros((count, 1), bool)
    mask[part] = True
    return mask


def _ramp(value: float, low: float, high: float) -> float:
    """0 at `low`, 1 at `high`, straight in between (either direction)."""
    if high == low:
        return float(value >= high)
    return float(np.clip((value - low) / (high - low), 0.0, 1.0))


def look_of(rgb: np.ndarray) -> Look:
    """Signals of one small RGB picture: each label a confidence (0..1) from several cues.

    Colour alone misleads on real footage (a white wall is not snow, a warm dim room is not
    autumn foliage, a blue title card is not the sea), so every label also needs what its
    thing looks like around it: snow is a textured, cool white ground lit brighter than what
    is above it; foliage is warm colour with the busy edges of leaves, in daylight; sky is a
    smooth band at the top; indoors is warm, dim, calm light with no outdoor sign. The
    weights were fitted by hand on the real clips of tests/assets/real and the drawn looks
    of tests/media.py (see docs/benchmarks.md)."""
    hsv = cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV)
    h, s, v = (hsv[..., i].astype(np.int16) for i in range(3))
    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float32)
    rows = rgb.shape[0]
    top, middle, lower = (
        slice(0, rows // 3),
        slice(rows // 3, 2 * rows // 3),
        slice(rows // 3, rows),
    )
    detail = np.abs(cv2.Laplacian(gray, cv2.CV_32F))
    gx, gy = cv2.Sobel(gray, cv2.CV_32F, 1, 0), cv2.Sobel(gray, cv2.CV_32F, 0, 1)
    busy = _fraction(np.hypot(gx, gy) > 40)  # share of strong edges: leaves, streets, crowds
    red, blue = rgb[..., 0].astype(np.float32), rgb[..., 2].astype(np.float32)
    warm = float((red - blue).mean())  # lamp light and skin are warm; snow and sky are cool
    brightness = float(v.mean()) / 255.0
    lit_below = float(v[lower].mean() - v[top].mean())  # ground brighter than what is above

    white = (v > 195) & (s < 40)
    blue_sky = (h >= 92) & (h <= 128) & (s > 35) & (v > 100)
    pale = (v > 200) & (s < 30)
    sand = (h >= 8) & (h <= 30) & (s > 40) & (s < 150) & (v > 140)
    green = (h >= 34) & (h <= 85) & (s > 60) & (v > 50)
    autumn = (((h <= 20) | (h >= 172)) & (s > 120) & (v > 60)) | (
        (h <= 20) & (s > 90) & (v > 40) & (v < 150)
    )
    water = (h >= 85) & (h <= 112) & (s > 70) & (v > 90)

    def detail_in(mask: np.ndarray) -> float:
        return float(detail[mask].mean()) if mask.any() else 0.0

    snow_white = white[lower]
    snow = _ramp(_fraction(snow_white), 0.15, 0.6) * (
        0.45 * _ramp(lit_below, 0.0, 25.0)
        + 0.3 * _ramp(detail_in(white & _rows(rows, lower)), 3.0, 10.0)
        + 0.25 * _ramp(float((blue - red)[white].mean()) if white.any() else -99.0, -25.0, 5.0)
    )
    top_smooth = 1.0 - _ramp(float(detail[top].mean()), 8.0, 25.0)
    sky_blue = _ramp(_fraction(blue_sky[top]), 0.1, 0.5) * top_smooth
    greenery = _ramp(_fraction(green), 0.1, 0.35) * _ramp(busy, 0.1, 0.3)
    # Leaves are busy with edges inside the warm area; skin, walls and lamplight are smooth.
    foliage = (
        _ramp(_fraction(autumn), 0.1, 0.3)
        * _ramp(detail_in(autumn), 10.0, 20.0)
        * _ramp(brightness, 0.3, 0.45)
    )
    sand_conf = _ramp(_fraction(sand[lower]), 0.1, 0.3) * _ramp(
        max(sky_blue, lit_below / 40), 0.0, 0.5
    )
    # Water lies below something else: a picture blue from top to bottom is sky (or a card).
    # Water moves and glints; a smooth blue is sky or a painted card.
    water_conf = _ramp(_fraction(water[middle]) - 0.7 * _fraction(blue_sky[top]), 0.1, 0.35) * (
        _ramp(detail_in(water & _rows(rows, middle)), 4.0, 12.0)
    )
    outdoor_signs = max(sky_blue, greenery, snow, sand_conf, water_conf, foliage)
    # Overcast sky: a pale smooth top only counts beside another outdoor sign.
    sky = max(sky_blue, _ramp(_fraction(pale[top]), 0.3, 0.7) * top_smooth * outdoor_signs)
    indoor_cues = 0.3 + 0.03 * (warm - 8.0) + 0.6 * (0.6 - brightness) - max(0.0, busy - 0.35)
    indoor = float(np.clip(indoor_cues, 0.0, 1.0)) * (1.0 - outdoor_signs)
    if brightness < 0.2:
        indoor = min(indoor, 0.5)  # in the dark, indoors and a night street look alike
    outdoor = outdoor_signs * (1.0 - indoor)
    night = _ramp(0.25 - brightness, 0.0, 0.1) * (1.0 - indoor) * _ramp(outdoor, 0.3, 0.6)
    return Look(
        brightness=round(brightness, 3),
        saturation=round(float(s.mean()) / 255.0, 3),
        colours=_colour_names(h, s, v),
        snow=round(snow, 3),
        sky=round(sky, 3),
        sand=round(sand_conf, 3),
        green=round(greenery, 3),
        foliage=round(foliage, 3),
        water=round(water_conf, 3),
        indoor=round(indoor, 3),
        outdoor=round(outdoor, 3),
        night=round(night, 3),
        busy=round(busy, 3),
    )


def _colour_names(h: np.ndarray, s: np.ndarray, v: np.ndarray) -> list[str]:
    shares: dict[str, float] = {}
    dark = v < 50
    bright_grey = (s < 40) & ~dark
    shares["black"] = _fraction(dark)
    shares["white"] = _fraction(bright_grey & (v > 200))
    shares["grey"] = _fraction(bright_grey & (v <= 200))
    coloured = (s >= 40) & ~dark
    brown = coloured & (h < 25) & (v < 140)
    shares["brown"] = _fraction(brown)
    for name, low, high in _COLOUR_NAMES:
        shares[name] = shares.get(name, 0.0) + _fraction(
            coloured & ~brown & (h >= low) & (h < high)
        )
    ranked = sorted(shares.items(), key=lambda item: item[1], reverse=True)
    return [name for name, share in ranked if share >= 0.08][:3]


def mean_look(looks: list[Look], weights: list[float] | None = None) -> Look:
    """The weighted average of several looks; colour names by how often they lead."""
    weights = weights or [1.0] * len(looks)
    total = sum(weights) or 1.0
    fields = (
        "brightness",
        "saturation",
        "snow",
        "sky",
        "sand",
        "green",
        "foliage",
        "water",
        "indoor",
        "outdoor",
        "night",
        "busy",
    )
    values = {
        f: round(sum(getattr(lk, f) * w for lk, w in zip(looks, weights, strict=True)) / total, 3)
        for f in fields
    }
    votes: dict[str, float] = {}
    for lk, w in zip(looks, weights, strict=True):
        for rank, name in enumerate(lk.colours):
            votes[name] = votes.get(name, 0.0) + w / (rank + 1)
    colours = [n for n, _ in sorted(votes.items(), key=lambda item: item[1], reverse=True)][:3]
    return Look(colours=colours, **values)


def guess_season(look: Look) -> SeasonGuess:
    """The season the footage shows, from its overall look, with how sure we are."""
    if look.indoor >= 0.6:
        return SeasonGuess(
            season=Season.NEUTRAL,
            confidence=round(look.indoor, 2),
            reasons=["the footage looks indoors"],
        )
    if look.brightness < 0.3:
        # Street lights and shadows take on every colour at night: none of it is foliage.
        return SeasonGuess(
            season=Season.NEUTRAL,
            confidence=round(1.0 - look.brightness, 2),
            reasons=["the footage is too dark to tell the season"],
        )
    # The labels are confidences already: the season is as sure as what shows it.
    scores = {
        Season.WINTER: look.snow,
        Season.SUMMER: max(look.sand, 0.8 * look.water * look.sky),
        Season.AUTUMN: look.foliage,
        Season.SPRING: 0.8 * look.green,
    }
    ranked = sorted(scores.items(), key=lambda item: item[1], reverse=True)
    (best, top), (_, second) = ranked[0], ranked[1]
    if top < 0.3:
        return SeasonGuess(
            season=Season.NEUTRAL,
            confidence=round(1.0 - top, 2),
            reasons=["nothing in the picture tells the season"],
        )
    margin = (top - second) / top
    confidence = min(1.0, top) * (0.6 + 0.4 * margin)
    reasons = {
        Season.WINTER: f"snow on the ground (confidence {look.snow:.0%})",
        Season.SUMMER: f"sand ({look.sand:.0%}) or water ({look.water:.0%}) under open sky",
        Season.AUTUMN: f"autumn-coloured leaves (confidence {look.foliage:.0%})",
        Season.SPRING: f"fresh green growth (confidence {look.green:.0%})",
    }
    return SeasonGuess(season=best, confidence=round(confidence, 2), reasons=[reasons[best]])


class LookStage:
    """Measures the look of every scene from the samples of the scene pass, then of the
    whole video (scenes weighted by length), and guesses the season."""

    name = "look"

    def run(self, ctx: Context) -> None:
        looks = [(t, look_of(frame)) for t, frame in ctx.samples]
        for scene in ctx.scenes:
            inside = [lk for t, lk in looks if scene.start_s <= t < scene.end_s]
            if not inside and scene.index in ctx.keyframes:
                inside = [look_of(cv2.resize(ctx.keyframes[scene.index], (160, 90)))]
            if inside:
                scene.look = mean_look(inside)
        scored = [s for s in ctx.scenes if s.look is not None]
        if scored:
            ctx.look = mean_look(
                [s.look for s in scored if s.look], [max(s.duration_s, 0.1) for s in scored]
            )
            ctx.season = guess_season(ctx.look)
        ctx.progress(self.name, 1.0)
