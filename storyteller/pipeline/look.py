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


def look_of(rgb: np.ndarray) -> Look:
    """Signals of one small RGB picture."""
    hsv = cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV)
    h, s, v = (hsv[..., i].astype(np.int16) for i in range(3))
    rows = rgb.shape[0]
    top, middle, lower = (
        slice(0, rows // 3),
        slice(rows // 3, 2 * rows // 3),
        slice(rows // 3, rows),
    )

    white = (v > 195) & (s < 40)
    blue_sky = (h >= 92) & (h <= 128) & (s > 35) & (v > 120)
    pale_sky = (v > 200) & (s < 30)  # overcast
    sand = (h >= 8) & (h <= 30) & (s > 40) & (s < 150) & (v > 140)
    green = (h >= 34) & (h <= 85) & (s > 60) & (v > 50)
    autumn = (((h <= 20) | (h >= 172)) & (s > 120) & (v > 60)) | (
        (h <= 20) & (s > 90) & (v > 40) & (v < 150)
    )
    water = (h >= 85) & (h <= 112) & (s > 70) & (v > 90)

    snow = _fraction(white[lower])
    # A pale top counts as overcast sky only above ground that is not itself white.
    sky_mask = blue_sky[top] if snow > 0.3 else blue_sky[top] | pale_sky[top]
    sky = _fraction(sky_mask)
    colours = _colour_names(h, s, v)
    brightness = float(v.mean()) / 255.0
    signals = {
        "snow": snow,
        "sky": sky,
        "sand": _fraction(sand[lower]),
        "green": _fraction(green),
        "foliage": _fraction(autumn),
        "water": _fraction(water[middle]),
    }
    outdoor = max(
        sky * 1.3,
        snow,
        signals["sand"],
        signals["green"] * 0.9,
        signals["foliage"] * 0.9,
        signals["water"],
    )
    # Indoors: no sky, nothing of nature, usually dimmer than daylight.
    indoor = float(np.clip(0.85 - 1.4 * outdoor + 0.4 * (0.45 - brightness), 0.0, 1.0))
    if brightness < 0.2:
        indoor = min(indoor, 0.5)  # in the dark, indoors and a night street look alike
    return Look(
        brightness=round(brightness, 3),
        saturation=round(float(s.mean()) / 255.0, 3),
        colours=colours,
        indoor=round(indoor, 3),
        **{k: round(val, 3) for k, val in signals.items()},
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
    scores = {
        Season.WINTER: 2.2 * look.snow,
        Season.SUMMER: 1.6 * look.sand
        + 1.0 * look.water
        + 0.4 * look.sky * (look.brightness > 0.5),
        Season.AUTUMN: 2.2 * look.foliage,
        Season.SPRING: 1.0 * look.green,
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
    confidence = min(1.0, top) * (0.5 + 0.5 * margin)
    if best is Season.SPRING:
        confidence *= 0.75  # green alone could be early summer too
    reasons = {
        Season.WINTER: f"snow or ice covers {look.snow:.0%} of the ground",
        Season.SUMMER: f"sand ({look.sand:.0%}), water ({look.water:.0%}) and bright sky",
        Season.AUTUMN: f"autumn-coloured leaves fill {look.foliage:.0%} of the picture",
        Season.SPRING: f"fresh green fills {look.green:.0%} of the picture",
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
