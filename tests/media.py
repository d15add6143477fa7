"""Real test videos made by code with PyAV: looks, cuts, captions, a face, speech, bad files."""

from __future__ import annotations

import itertools
import json
import math
import re
import shutil
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from functools import lru_cache
from pathlib import Path

import av
import cv2
import numpy as np

ASSETS = Path(__file__).resolve().parent / "assets"
SPEECH_DIR = ASSETS / "speech"
FACE_PATH = ASSETS / "face.jpg"

LOOKS = ("snow", "beach", "autumn", "spring", "indoor", "plain", "night")
AUDIO_RATE = 48_000
SPEECH_GAP_S = 0.4  # silence between two speech assets
SPEECH_PEAK = 0.7  # speech is normalised to this peak (full scale 1.0)
GOP_SECONDS = 2.0  # a keyframe every 2 s, like phone footage
SEED = 20_240_601
WARM = (1.05, 1.0, 0.9)  # colour grade of the closer shots
FACE_BORDER = 0.06  # dark frame around the face picture, as a share of its side
FACE_HEIGHT = 0.7  # face picture side as a share of the picture height
CLOSE_UP = 1.8  # odd scene variants are closer shots, so same-look scenes cut visibly

Size = tuple[int, int]
RGB = tuple[int, int, int]


@dataclass(frozen=True)
class SceneSpec:
    """One shot: how long, what it looks like, and what is burned into it."""

    seconds: float
    look: str = "plain"  # one of LOOKS
    caption: str | None = None  # large burned-in text (white on a dark band)
    face: bool = False  # paste tests/assets/face.jpg (one face, big enough to detect)

    def __post_init__(self) -> None:
        if self.look not in LOOKS:
            raise ValueError(f"unknown look {self.look!r}; use one of {LOOKS}")
        if not self.seconds > 0:
            raise ValueError("a scene lasts more than 0 seconds")


# --------------------------------------------------------------------------- speech assets


@lru_cache
def sentences() -> dict[str, str]:
    """Speech asset file name -> the exact text spoken in it."""
    return dict(json.loads((SPEECH_DIR / "sentences.json").read_text()))


def speech_key(name: str) -> str:
    """The sentences.json key of a speech asset named with or without `.flac`."""
    table = sentences()
    for key in (name, f"{name}.flac"):
        if key in table:
            return key
    raise KeyError(f"no speech asset {name!r}; have {sorted(table)}")


def speech_texts(names: Sequence[str]) -> list[str]:
    """The texts of the named speech assets, in order."""
    return [sentences()[speech_key(n)] for n in names]


def speech_text(names: Sequence[str]) -> str:
    """Everything said by the named speech assets, as one string."""
    return " ".join(speech_texts(names))


@lru_cache
def _speech_samples(key: str) -> np.ndarray:
    """A speech asset as float32 mono at AUDIO_RATE, normalised to SPEECH_PEAK."""
    resampler = av.AudioResampler(format="flt", layout="mono", rate=AUDIO_RATE)
    chunks: list[np.ndarray] = []
    with av.open(str(SPEECH_DIR / key)) as container:
        for frame in container.decode(audio=0):
            chunks.extend(f.to_ndarray().reshape(-1) for f in resampler.resample(frame))
    chunks.extend(f.to_ndarray().reshape(-1) for f in resampler.resample(None))
    samples = np.concatenate(chunks).astype(np.float32)
    peak = float(np.abs(samples).max()) or 1.0
    samples *= SPEECH_PEAK / peak
    samples.flags.writeable = False
    return samples


def speech_seconds(name: str) -> float:
    """How long a speech asset lasts."""
    return len(_speech_samples(speech_key(name))) / AUDIO_RATE


def speech_spans(
    names: Sequence[str], start_s: float = 0.3, gap_s: float = SPEECH_GAP_S
) -> list[tuple[str, float, float]]:
    """(key, start, end) in seconds of each speech asset as make_clip places them."""
    spans, t = [], start_s
    for name in names:
        key = speech_key(name)
        end = t + speech_seconds(key)
        spans.append((key, round(t, 4), round(end, 4)))
        t = end + gap_s
    return spans


# --------------------------------------------------------------------------- timing facts


def scene_frames(scenes: Sequence[SceneSpec], fps: int = 25) -> list[int]:
    """Frame index of every scene start, plus the total frame count at the end."""
    bounds, total = [0], 0.0
    for scene in scenes:
        total += scene.seconds
        bounds.append(math.floor(total * fps + 0.5 + 1e-9))  # half a frame rounds up
    if any(b <= a for a, b in itertools.pairwise(bounds)):
        raise ValueError("every scene needs at least one frame")
    return bounds


def cut_times(scenes: Sequence[SceneSpec], fps: int = 25) -> list[float]:
    """Seconds of each hard cut (the first frame of every scene after the first)."""
    return [b / fps for b in scene_frames(scenes, fps)[1:-1]]


def clip_seconds(scenes: Sequence[SceneSpec], fps: int = 25) -> float:
    """The video's length: frame count / fps."""
    return scene_frames(scenes, fps)[-1] / fps


# --------------------------------------------------------------------------- drawing


def _noise(rng: np.random.Generator, h: int, w: int, cell: int) -> np.ndarray:
    """Smooth noise in about -1..1 with features of about `cell` pixels."""
    small = rng.standard_normal((max(2, h // cell + 2), max(2, w // cell + 2))).astype(np.float32)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)


def _vgradient(h: int, w: int, top: RGB, bottom: RGB) -> np.ndarray:
    ramp = np.linspace(0.0, 1.0, h, dtype=np.float32)[:, None, None]
    colour = np.array(top, np.float32) * (1 - ramp) + np.array(bottom, np.float32) * ramp
    return np.broadcast_to(colour, (h, w, 3)).copy()


def _textured(img: np.ndarray, rng: np.random.Generator, amp: float, cell: int) -> np.ndarray:
    """Add smooth luminance texture plus fine grain (float image in, float image out)."""
    h, w = img.shape[:2]
    tex = _noise(rng, h, w, cell) * amp + rng.standard_normal((h, w)).astype(np.float32) * amp / 3
    return img + tex[..., None]


def _u8(img: np.ndarray) -> np.ndarray:
    return np.clip(img, 0, 255).astype(np.uint8)


def _scale(w: int, h: int) -> float:
    """Drawing scale: 1.0 for a 640x360 picture."""
    return math.sqrt(w * h / (640 * 360))


def _draw_snow(w: int, h: int, rng: np.random.Generator, variant: int) -> np.ndarray:
    horizon = int(h * (0.30 + 0.05 * (variant % 2)))
    img = _vgradient(h, w, (196, 208, 224), (226, 232, 240))
    ground = _vgradient(h - horizon, w, (218, 226, 238), (252, 252, 254))
    img[horizon:] = ground
    img = _textured(img, rng, 4.0, max(8, w // 20))
    out = _u8(img)
    s = _scale(w, h)
    # A far treeline at the horizon, then bluish drifts on the snow.
    xs = np.arange(0, w + 20, max(4, int(10 * s)))
    top = horizon - (rng.random(len(xs)) * 0.05 * h + 0.02 * h).astype(int)
    poly = np.array(
        [[0, horizon]] + [[x, y] for x, y in zip(xs, top, strict=True)] + [[w, horizon]]
    )
    cv2.fillPoly(out, [poly.astype(np.int32)], (70, 84, 80), lineType=cv2.LINE_AA)
    for _ in range(6):
        cx, cy = int(rng.random() * w), int(horizon + rng.random() * (h - horizon))
        axes = (int((0.15 + 0.2 * rng.random()) * w), int((0.02 + 0.03 * rng.random()) * h))
        cv2.ellipse(out, (cx, cy), axes, 0, 0, 360, (222, 230, 242), -1, cv2.LINE_AA)
    # Bare trees: dark trunks standing in the snow, a few branches.
    for _ in range(4 + variant % 3):
        x = int(rng.random() * w)
        foot = int(horizon + (0.15 + 0.6 * rng.random()) * (h - horizon))
        height = int((0.35 + 0.3 * rng.random()) * h)
        thick = max(2, int((3 + 5 * rng.random()) * s))
        cv2.line(out, (x, foot), (x, foot - height), (52, 44, 40), thick, cv2.LINE_AA)
        for k in range(4):
            y = foot - int(height * (0.45 + 0.13 * k))
            dx = int((0.04 + 0.04 * rng.random()) * w) * (1 if k % 2 else -1)
            cv2.line(out, (x, y), (x + dx, y - abs(dx) // 2), (60, 52, 48), max(1, thick // 2))
    return out


def _draw_beach(w: int, h: int, rng: np.random.Generator, variant: int) -> np.ndarray:
    sea_top = int(h * (0.34 + 0.03 * (variant % 2)))
    shore = int(h * 0.58)
    img = _vgradient(h, w, (64, 136, 214), (150, 196, 236))
    img[sea_top:shore] = _vgradient(shore - sea_top, w, (18, 120, 160), (40, 178, 186))
    img[shore:] = _vgradient(h - shore, w, (226, 204, 160), (214, 186, 138))
    img = _textured(img, rng, 5.0, max(6, w // 40))
    out = _u8(img)
    s = _scale(w, h)
    for _ in range(3):  # clouds
        cx, cy = int(rng.random() * w), int((0.05 + 0.18 * rng.random()) * h)
        for k in range(4):
            r = int((18 + 14 * rng.random()) * s)
            cv2.circle(
                out,
                (cx + int(k * 22 * s), cy + int(rng.random() * 8 * s)),
                r,
                (244, 246, 250),
                -1,
                cv2.LINE_AA,
            )
    for k in range(3):  # foam where the waves break
        y = shore - int((4 + 9 * k) * s)
        xs = np.arange(0, w + 10, max(4, int(8 * s)))
        ys = y + (np.sin(xs / (30 * s) + k + variant) * 3 * s).astype(int)
        pts = np.stack([xs, ys], axis=1).astype(np.int32)
        cv2.polylines(out, [pts], False, (236, 246, 248), max(1, int(2 * s)), cv2.LINE_AA)
    for _ in range(2 + variant % 2):  # parasols and towels on the sand
        x = int((0.1 + 0.8 * rng.random()) * w)
        y = int(shore + (0.25 + 0.5 * rng.random()) * (h - shore))
        r = int((26 + 12 * rng.random()) * s)
        colour = [(220, 40, 40), (250, 200, 30), (30, 90, 200)][int(rng.integers(3))]
        cv2.line(out, (x, y), (x, y - int(1.6 * r)), (90, 80, 70), max(1, int(2 * s)))
        cv2.ellipse(out, (x, y - int(1.6 * r)), (r, r // 2), 0, 180, 360, colour, -1, cv2.LINE_AA)
        tw, th = int(r * 1.4), int(r * 0.5)
        cv2.rectangle(
            out, (x + r // 2, y - th // 2), (x + r // 2 + tw, y + th // 2), colour[::-1], -1
        )
    return out


def _draw_autumn(w: int, h: int, rng: np.random.Generator, variant: int) -> np.ndarray:
    img = _vgradient(h, w, (150, 78, 34), (120, 64, 30))
    img[: int(0.1 * h)] = _vgradient(int(0.1 * h), w, (176, 196, 214), (196, 206, 214))
    img = _textured(img, rng, 6.0, max(6, w // 30))
    out = _u8(img)
    s = _scale(w, h)
    palette = [
        (232, 118, 28),
        (196, 44, 30),
        (150, 32, 24),
        (170, 84, 36),
        (214, 92, 24),
        (226, 150, 40),
    ]
    for x in rng.random(5 + variant % 3) * w:  # trunks behind the leaves
        cv2.line(
            out, (int(x), h), (int(x), int(0.1 * h)), (58, 42, 34), max(3, int(9 * s)), cv2.LINE_AA
        )
    for _ in range(260):
        cx, cy = int(rng.random() * w), int((0.05 + 0.8 * rng.random()) * h)
        r = int((6 + 22 * rng.random()) * s)
        colour = palette[int(rng.integers(len(palette)))]
        jitter = rng.integers(-14, 15, 3)
        cv2.circle(
            out,
            (cx, cy),
            r,
            tuple(int(np.clip(c + j, 0, 255)) for c, j in zip(colour, jitter, strict=True)),
            -1,
            cv2.LINE_AA,
        )
    # A path covered with fallen leaves.
    path_top = int(0.86 * h)
    out[path_top:] = _u8(
        _textured(
            _vgradient(h - path_top, w, (150, 86, 40), (124, 70, 34)), rng, 12.0, max(3, w // 120)
        )
    )
    return out


def _draw_spring(w: int, h: int, rng: np.random.Generator, variant: int) -> np.ndarray:
    horizon = int(h * (0.24 + 0.04 * (variant % 2)))
    img = _vgradient(h, w, (138, 192, 238), (186, 216, 240))
    img[horizon:] = _vgradient(h - horizon, w, (104, 178, 78), (92, 196, 70))
    img = _textured(img, rng, 4.0, max(6, w // 30))
    out = _u8(img)
    s = _scale(w, h)
    for _ in range(5):  # bushes and young trees along the horizon
        cx = int(rng.random() * w)
        r = int((24 + 30 * rng.random()) * s)
        cv2.circle(out, (cx, horizon), r, (70, 150, 60), -1, cv2.LINE_AA)
    blossom = int(rng.random() * w)  # one blossoming tree
    cv2.line(
        out,
        (blossom, horizon + int(60 * s)),
        (blossom, horizon - int(10 * s)),
        (90, 70, 56),
        max(2, int(6 * s)),
    )
    cv2.circle(out, (blossom, horizon - int(20 * s)), int(40 * s), (240, 178, 206), -1, cv2.LINE_AA)
    colours = [(244, 150, 190), (250, 222, 60), (252, 252, 246), (236, 110, 160)]
    dense = 1 + variant % 2  # the closer shots look into a flower bed
    for _ in range(520 * dense):
        x, y = int(rng.random() * w), int(horizon + rng.random() * (h - horizon))
        r = max(1, int((1.5 + 2.5 * dense * rng.random() * (y / h)) * s))
        cv2.circle(out, (x, y), r, colours[int(rng.integers(len(colours)))], -1, cv2.LINE_AA)
    return out


def _draw_indoor(w: int, h: int, rng: np.random.Generator, variant: int) -> np.ndarray:
    floor = int(h * 0.68)
    wall = [(126, 106, 86), (112, 100, 92), (120, 108, 80)][variant % 3]
    img = _vgradient(h, w, wall, tuple(int(c * 0.85) for c in wall))
    img[floor:] = _vgradient(h - floor, w, (82, 70, 62), (66, 56, 50))
    # Lamp light: brighter near one side, dim corners.
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    lx = w * (0.2 + 0.6 * rng.random())
    glow = np.exp(-(((xx - lx) / (0.5 * w)) ** 2 + ((yy - 0.3 * h) / (0.7 * h)) ** 2))
    img *= (0.7 + 0.45 * glow)[..., None]
    img = _textured(img, rng, 3.0, max(8, w // 16))
    out = _u8(img)
    s = _scale(w, h)
    # Skirting board, a sofa, a low table, a bookshelf, a framed picture and a lamp.
    cv2.rectangle(out, (0, floor - int(6 * s)), (w, floor), (70, 62, 56), -1)
    sx = int(w * (0.05 + 0.1 * (variant % 2)))
    cv2.rectangle(
        out, (sx, floor - int(70 * s)), (sx + int(230 * s), floor + int(30 * s)), (84, 90, 104), -1
    )
    cv2.rectangle(
        out, (sx, floor - int(110 * s)), (sx + int(230 * s), floor - int(66 * s)), (76, 82, 96), -1
    )
    cv2.rectangle(
        out,
        (sx + int(40 * s), floor + int(50 * s)),
        (sx + int(200 * s), floor + int(70 * s)),
        (92, 80, 70),
        -1,
    )
    bx = int(w * 0.78)
    cv2.rectangle(out, (bx, int(0.12 * h)), (bx + int(110 * s), floor), (72, 62, 56), -1)
    for shelf in range(4):
        y0 = int(0.14 * h) + shelf * int((floor - 0.14 * h) / 4)
        x = bx + int(6 * s)
        while x < bx + int(100 * s):
            bw = int((6 + 8 * rng.random()) * s)
            tint = rng.integers(60, 130, 3)
            cv2.rectangle(
                out,
                (x, y0 + int(8 * s)),
                (x + bw, y0 + int(40 * s)),
                tuple(int(t) for t in tint),
                -1,
            )
            x += bw + 1
    px = int(w * (0.30 + 0.08 * (variant % 2)))
    cv2.rectangle(
        out, (px, int(0.1 * h)), (px + int(90 * s), int(0.1 * h + 64 * s)), (50, 44, 40), -1
    )
    cv2.rectangle(
        out,
        (px + int(6 * s), int(0.1 * h + 6 * s)),
        (px + int(84 * s), int(0.1 * h + 58 * s)),
        (110, 120, 112),
        -1,
    )
    cv2.circle(out, (int(lx), int(0.2 * h)), int(16 * s), (230, 204, 150), -1, cv2.LINE_AA)
    return out


_PLAIN_TONES: tuple[tuple[RGB, RGB], ...] = (  # grey-blue, low saturation: no sky, no nature
    ((118, 124, 134), (158, 162, 168)),
    ((166, 170, 176), (98, 104, 114)),
    ((86, 92, 102), (136, 140, 146)),
    ((140, 142, 142), (74, 80, 90)),
)


def _draw_plain(w: int, h: int, rng: np.random.Generator, variant: int) -> np.ndarray:
    base, accent = _PLAIN_TONES[variant % len(_PLAIN_TONES)]
    img = _vgradient(h, w, base, tuple(int(c * 0.8) for c in base))
    img = _textured(img, rng, 4.0, max(8, w // 20))
    out = _u8(img)
    s = _scale(w, h)
    for _ in range(5):  # large soft blocks, like walls and windows of a street
        x0, y0 = int(rng.random() * w * 0.8), int(rng.random() * h * 0.7)
        x1, y1 = x0 + int((60 + 160 * rng.random()) * s), y0 + int((50 + 120 * rng.random()) * s)
        cv2.rectangle(out, (x0, y0), (x1, y1), accent, -1)
    for _ in range(2):
        c = (int(rng.random() * w), int(rng.random() * h))
        cv2.circle(out, c, int((30 + 50 * rng.random()) * s), (132, 128, 124), -1, cv2.LINE_AA)
    return out


def _draw_night(w: int, h: int, rng: np.random.Generator, variant: int) -> np.ndarray:
    img = _vgradient(h, w, (4, 6, 18), (34, 36, 60))
    img = _textured(img, rng, 1.0, max(8, w // 20))
    out = _u8(img)
    s = _scale(w, h)
    for _ in range(int(60 * s)):
        cv2.circle(
            out, (int(rng.random() * w), int(rng.random() * 0.4 * h)), 1, (200, 200, 210), -1
        )
    x = 0
    while x < w:  # a skyline with a few lit windows
        bw, top = int((50 + 70 * rng.random()) * s), int((0.3 + 0.35 * rng.random()) * h)
        # Each facade its own dark shade, lighter towards the street lamps below.
        tone = 10 + 22 * rng.random()
        facade = _vgradient(h - top, bw, (tone, tone, tone + 6), (tone + 18, tone + 14, tone + 12))
        out[top:, x : x + bw] = _u8(facade)[:, : max(0, min(bw, w - x))]
        for wy in range(top + int(8 * s), h - int(20 * s), int(16 * s)):
            for wx in range(x + int(6 * s), x + bw - int(8 * s), int(14 * s)):
                if rng.random() < 0.12:
                    cv2.rectangle(
                        out, (wx, wy), (wx + int(6 * s), wy + int(8 * s)), (210, 176, 96), -1
                    )
        x += bw + int(4 * s)
    if variant % 2:  # a lit shop front and its sign
        sx, sy, sw = int((0.2 + 0.4 * rng.random()) * w), int(0.58 * h), int(0.2 * w)
        cv2.rectangle(out, (sx, sy), (sx + sw, h), (150, 170, 205), -1)
        cv2.rectangle(out, (sx, sy - int(0.07 * h)), (sx + sw, sy), (200, 30, 110), -1)
    # Street lamps, each in a soft pool of orange light.
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    light = np.zeros((h, w), np.float32)
    lamps = [int((0.1 + 0.25 * k + 0.05 * (variant % 2)) * w) for k in range(4)]
    for lx in lamps:
        light += np.exp(-(((xx - lx) / (0.12 * w)) ** 2 + ((yy - 0.8 * h) / (0.2 * h)) ** 2))
    lit = out.astype(np.float32) + light[..., None] * np.array((70, 58, 40), np.float32)
    out = _u8(lit)
    for lx in lamps:
        cv2.circle(out, (lx, int(0.8 * h)), int(5 * s), (255, 220, 150), -1, cv2.LINE_AA)
    return out


_DRAW: dict[str, Callable[[int, int, np.random.Generator, int], np.ndarray]] = {
    "snow": _draw_snow,
    "beach": _draw_beach,
    "autumn": _draw_autumn,
    "spring": _draw_spring,
    "indoor": _draw_indoor,
    "plain": _draw_plain,
    "night": _draw_night,
}


def draw_look(look: str, size: Size, *, seed: int = SEED, variant: int = 0) -> np.ndarray:
    """One RGB still (height, width, 3) of a look; `variant` changes its layout and tones."""
    w, h = size
    rng = np.random.default_rng([seed, LOOKS.index(look), variant])
    if variant % 2 == 0:  # a wide shot
        shot = _DRAW[look](w, h, rng, variant)
    else:  # a closer shot: the same kind of place drawn 1.8x larger, its lower middle in view
        big = _DRAW[look](round(w * CLOSE_UP), round(h * CLOSE_UP), rng, variant)
        x0 = int(rng.random() * (big.shape[1] - w))
        y0 = int(0.35 * h)
        crop = big[y0 : y0 + h, x0 : x0 + w].astype(np.float32)
        # ...in warmer light (another hour, another camera's white balance).
        shot = _u8(crop * np.array(WARM, np.float32))
    return shot


@lru_cache
def face_image() -> np.ndarray:
    """The committed face picture as RGB."""
    bgr = cv2.imread(str(FACE_PATH), cv2.IMREAD_COLOR)
    if bgr is None:
        raise FileNotFoundError(FACE_PATH)
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def face_side(size: Size) -> int:
    """Side of the pasted face picture: 70% of the picture height (at most 75% of its width);
    the face itself fills about 45% of that."""
    return round(min(FACE_HEIGHT * size[1], 0.75 * size[0]))


def caption_band(text: str, width: int, height: int) -> tuple[int, np.ndarray]:
    """(top row, RGB pixels) of a dark lower-third band carrying `text` in white."""
    font, cap = cv2.FONT_HERSHEY_SIMPLEX, height / 10
    thickness = max(2, round(cap / 11))
    (tw, th), _ = cv2.getTextSize(text, font, 1.0, thickness)
    scale = min(cap / th, 0.9 * width / tw)
    thickness = max(2, round(th * scale / 11))
    (tw, th), _ = cv2.getTextSize(text, font, scale, thickness)
    band_h = int(th * 2.0)
    band = np.empty((band_h, width, 3), np.uint8)
    band[:] = (16, 20, 32)
    org = ((width - tw) // 2, (band_h + th) // 2)
    cv2.putText(band, text, org, font, scale, (255, 255, 255), thickness, cv2.LINE_AA)
    top = int(height * 0.74)
    return min(top, height - band_h), band


# --------------------------------------------------------------------------- frames


@dataclass
class _Shot:
    """Renders the frames of one scene: a still world panned slowly, with grain on top."""

    spec: SceneSpec
    index: int
    size: Size  # display (upright) size
    frames: int
    world: np.ndarray = field(init=False)
    start: tuple[int, int] = field(init=False)
    end: tuple[int, int] = field(init=False)
    band: tuple[int, np.ndarray] | None = field(init=False)

    def __post_init__(self) -> None:
        w, h = self.size
        mx, my = max(4, int(0.08 * w)), max(4, int(0.06 * h))
        self.world = draw_look(self.spec.look, (w + 2 * mx, h + 2 * my), variant=self.index)
        rng = np.random.default_rng([SEED, 99, self.index])
        if self.spec.face:
            side = face_side(self.size)
            face = cv2.resize(face_image(), (side, side), interpolation=cv2.INTER_AREA)
            # Inside the part of the world that stays in view during the whole pan.
            fx = 2 * mx + int((w - 2 * mx - side) * (0.55 + 0.4 * rng.random()))
            fy = 2 * my + int(0.05 * h)
            border = max(2, round(side * FACE_BORDER))
            self.world[fy - border : fy + side + border, fx - border : fx + side + border] = 30
            self.world[fy : fy + side, fx : fx + side] = face
        # A slow pan: at most 5% of the width a second, never beyond the margin.
        seconds = self.spec.seconds
        reach = min(1.0, 0.05 * w * seconds / (2 * mx))
        corners = [(0, 0), (2 * mx, 0), (0, 2 * my), (2 * mx, 2 * my)]
        a = corners[int(rng.integers(4))]
        b = (2 * mx - a[0], 2 * my - a[1])
        mid = (mx, my)
        self.start = (
            round(mid[0] + (a[0] - mid[0]) * reach),
            round(mid[1] + (a[1] - mid[1]) * reach),
        )
        self.end = (
            round(mid[0] + (b[0] - mid[0]) * reach),
            round(mid[1] + (b[1] - mid[1]) * reach),
        )
        self.band = caption_band(self.spec.caption, w, h) if self.spec.caption else None

    def frame(self, i: int) -> np.ndarray:
        w, h = self.size
        t = i / max(1, self.frames - 1)
        ox = round(self.start[0] + (self.end[0] - self.start[0]) * t)
        oy = round(self.start[1] + (self.end[1] - self.start[1]) * t)
        return self.world[oy : oy + h, ox : ox + w]


class _Grain:
    """A few precomputed planes of film grain added frame by frame (cheap, saturating)."""

    def __init__(self, size: Size, planes: int = 6, sigma: float = 1.6) -> None:
        w, h = size
        rng = np.random.default_rng([SEED, 7, w, h])
        self.planes: list[tuple[np.ndarray, np.ndarray]] = []
        for _ in range(planes):
            g = np.round(rng.standard_normal((h, w)) * sigma).astype(np.int16)
            g3 = np.repeat(g[..., None], 3, axis=2)
            self.planes.append(
                (np.clip(g3, 0, 255).astype(np.uint8), np.clip(-g3, 0, 255).astype(np.uint8))
            )

    def apply(self, img: np.ndarray, i: int) -> np.ndarray:
        plus, minus = self.planes[i % len(self.planes)]
        return cv2.subtract(cv2.add(img, plus), minus)


def display_size(size: Size, rotation: int) -> Size:
    """Upright picture size for a coded size and display rotation."""
    return (size[1], size[0]) if rotation % 180 else size


def _frames(
    scenes: Sequence[SceneSpec], size: Size, fps: int, rotation: int
) -> Iterator[np.ndarray]:
    """Yield the coded RGB frames of the whole clip."""
    upright = display_size(size, rotation)
    grain = _Grain(upright)
    bounds = scene_frames(scenes, fps)
    turns = (-rotation // 90) % 4
    n = 0
    for index, spec in enumerate(scenes):
        count = bounds[index + 1] - bounds[index]
        shot = _Shot(spec, index, upright, count)
        for i in range(count):
            img = grain.apply(shot.frame(i), n)
            if shot.band is not None:
                top, band = shot.band
                img[top : top + band.shape[0]] = band
            if turns:
                img = np.ascontiguousarray(np.rot90(img, k=turns))
            n += 1
            yield img


# --------------------------------------------------------------------------- audio


def _tone(n: int) -> np.ndarray:
    """Music-like audio without speech: a chord progression of soft sine tones with a beat."""
    t = np.arange(n, dtype=np.float64) / AUDIO_RATE
    out = np.zeros(n, np.float64)
    chords = (
        (261.63, 329.63, 392.0),
        (220.0, 261.63, 329.63),
        (174.61, 220.0, 261.63),
        (196.0, 246.94, 293.66),
    )
    bar = 2.0
    for k in range(math.ceil(n / AUDIO_RATE / bar)):
        a, b = int(k * bar * AUDIO_RATE), min(n, int((k + 1) * bar * AUDIO_RATE))
        if a >= n:
            break
        tt = t[a:b] - t[a]
        env = np.minimum(1.0, tt / 0.05) * np.exp(-tt * 0.6)
        for f in chords[k % len(chords)]:
            out[a:b] += (
                env * (np.sin(2 * np.pi * f * t[a:b]) + 0.3 * np.sin(4 * np.pi * f * t[a:b])) * 0.08
            )
        for beat in range(4):  # a soft low thump on every beat
            s = a + int(beat * bar / 4 * AUDIO_RATE)
            e = min(b, s + int(0.12 * AUDIO_RATE))
            if s < e:
                bt = t[s:e] - t[s]
                out[s:e] += 0.25 * np.sin(2 * np.pi * 60 * bt) * np.exp(-bt * 30)
    return out.astype(np.float32)


def audio_track(
    seconds: float, speech: Sequence[str] = (), *, tone: bool = False, speech_start_s: float = 0.3
) -> np.ndarray:
    """Mono float32 samples at AUDIO_RATE: quiet room noise, speech at its spans, a tone."""
    n = round(seconds * AUDIO_RATE)
    rng = np.random.default_rng([SEED, 3, n])
    track = (rng.standard_normal(n) * 0.0006).astype(np.float32)  # about -64 dBFS
    if tone:
        track += _tone(n)
    for key, start, _end in speech_spans(speech, speech_start_s):
        samples = _speech_samples(key)
        a = round(start * AUDIO_RATE)
        if a + len(samples) > n:
            raise ValueError(
                f"speech {key} ends at {start + len(samples) / AUDIO_RATE:.2f} s, "
                f"after the clip's {seconds:.2f} s"
            )
        track[a : a + len(samples)] += samples
    return np.clip(track, -1.0, 1.0)


# --------------------------------------------------------------------------- encoding


def _has_encoder(name: str) -> bool:
    try:
        av.Codec(name, "w")
    except Exception:  # PyAV raises different errors for unknown codecs
        return False
    return True


def encoders_for(suffix: str) -> tuple[str, str, str]:
    """(container format, video encoder, audio encoder) used for a file suffix."""
    suffix = suffix.lower()
    h264 = "libx264" if _has_encoder("libx264") else "mpeg4"
    if suffix == ".mp4":
        return "mp4", h264, "aac"
    if suffix == ".mov":
        return "mov", h264, "aac"
    if suffix == ".mkv":
        return "matroska", h264, "aac"
    if suffix == ".webm":
        video = "libvpx-vp9" if _has_encoder("libvpx-vp9") else "libvpx"
        return "webm", video, "libopus"
    if suffix == ".m4a":
        return "ipod", h264, "aac"
    raise ValueError(f"no recipe for {suffix!r} files; use .mp4, .mov, .webm or .mkv")


def decoded_codec_names(suffix: str) -> tuple[str, str]:
    """(video codec, audio codec) as PyAV names them when reading the file back."""
    _, video, audio = encoders_for(suffix)
    names = {
        "libx264": "h264",
        "mpeg4": "mpeg4",
        "libvpx-vp9": "vp9",
        "libvpx": "vp8",
        "aac": "aac",
        "libopus": "opus",
    }
    return names[video], names[audio]


def _video_options(codec: str, preset: str) -> dict[str, str]:
    if codec == "libx264":
        return {"preset": preset, "crf": "23", "tune": "film"}
    if codec == "libvpx-vp9":
        return {
            "deadline": "realtime",
            "cpu-used": "8",
            "row-mt": "1",
            "crf": "34",
            "lag-in-frames": "0",
        }
    if codec == "libvpx":
        return {"deadline": "realtime", "cpu-used": "8", "crf": "12"}
    return {}


def _add_video(
    container: av.container.OutputContainer,
    codec: str,
    size: Size,
    fps: int,
    rotation: int,
    preset: str,
) -> av.video.stream.VideoStream:
    stream = container.add_stream(codec, rate=fps, options=_video_options(codec, preset))
    stream.width, stream.height = size
    stream.pix_fmt = "yuv420p"
    stream.codec_context.gop_size = max(1, round(GOP_SECONDS * fps))
    stream.codec_context.thread_count = 0
    pixels_per_s = size[0] * size[1] * fps
    if codec == "mpeg4":
        stream.codec_context.bit_rate = int(pixels_per_s * 0.15)
        stream.codec_context.qmax = 12
    elif codec.startswith("libvpx"):
        stream.codec_context.bit_rate = int(pixels_per_s * 0.12)
    if rotation:
        stream.set_display_rotation(rotation)
    return stream


def _add_audio(container: av.container.OutputContainer, codec: str) -> av.audio.stream.AudioStream:
    stream = container.add_stream(codec, rate=AUDIO_RATE, layout="stereo")
    stream.codec_context.bit_rate = 96_000
    return stream


class _AudioFeed:
    """Hands the mono track to an audio stream in stereo chunks, up to a given time."""

    def __init__(self, stream: av.audio.stream.AudioStream, track: np.ndarray) -> None:
        self.stream, self.track, self.sent = stream, track, 0

    def until(self, t: float) -> list[av.Packet]:
        end = min(len(self.track), round(t * AUDIO_RATE))
        packets: list[av.Packet] = []
        while self.sent < end:
            stop = min(end, self.sent + 4096)
            chunk = self.track[self.sent : stop]
            frame = av.AudioFrame.from_ndarray(
                np.stack([chunk, chunk]), format="fltp", layout="stereo"
            )
            frame.sample_rate = AUDIO_RATE
            frame.pts = self.sent
            frame.time_base = Fraction(1, AUDIO_RATE)
            packets.extend(self.stream.encode(frame))
            self.sent = stop
        return packets

    def flush(self) -> list[av.Packet]:
        return list(self.stream.encode(None))


def make_clip(
    path: Path,
    scenes: Sequence[SceneSpec],
    *,
    size: Size = (640, 360),
    fps: int = 25,
    speech: Sequence[str] | None = None,
    tone: bool = False,
    audio: bool = True,
    rotation: int = 0,
    speech_start_s: float = 0.3,
    faststart: bool = False,
    preset: str = "veryfast",
) -> Path:
    """Encode a real video of `scenes` with hard cuts between them.

    The container and codecs follow the suffix (.mp4/.mov: H.264 + AAC, .webm: VP9 +
    Opus, .mkv: H.264 + AAC). `size` is the coded size; with `rotation` (the display
    matrix angle, counter-clockwise degrees, as PyAV's `VideoFrame.rotation` reads it back)
    the picture is stored turned so that a player applying the rotation shows it upright.
    `faststart` puts the index (moov) at the front; `preset` is libx264's speed preset.
    """
    path = Path(path)
    if not scenes:
        raise ValueError("a clip needs at least one scene")
    if rotation % 90:
        raise ValueError("rotation must be a multiple of 90 degrees")
    if size[0] % 2 or size[1] % 2:
        raise ValueError("width and height must be even for yuv420p")
    fmt, vcodec, acodec = encoders_for(path.suffix)
    seconds = clip_seconds(scenes, fps)
    track = (
        audio_track(seconds, speech or (), tone=tone, speech_start_s=speech_start_s)
        if audio
        else None
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    options = {"movflags": "+faststart"} if faststart else {}
    with av.open(str(path), "w", format=fmt, options=options) as container:
        video = _add_video(container, vcodec, size, fps, rotation, preset)
        feed = _AudioFeed(_add_audio(container, acodec), track) if track is not None else None
        for i, img in enumerate(_frames(scenes, size, fps, rotation)):
            # OpenCV's I420 conversion matches swscale's (BT.601, limited range) and is faster.
            yuv = cv2.cvtColor(img, cv2.COLOR_RGB2YUV_I420)
            frame = av.VideoFrame.from_ndarray(yuv, format="yuv420p")
            frame.pts = i
            frame.time_base = Fraction(1, fps)
            container.mux(video.encode(frame))
            if feed is not None:
                container.mux(feed.until((i + 1) / fps))
        container.mux(video.encode(None))
        if feed is not None:
            container.mux(feed.until(seconds + 1.0))
            container.mux(feed.flush())
    return path


# --------------------------------------------------------------------------- clips with facts


@dataclass(frozen=True)
class Clip:
    """A generated video and the facts it was made to show."""

    path: Path
    scenes: tuple[SceneSpec, ...]
    size: Size = (640, 360)
    fps: int = 25
    speech: tuple[str, ...] = ()
    tone: bool = False
    audio: bool = True
    rotation: int = 0
    speech_start_s: float = 0.3

    @property
    def frames(self) -> int:
        return scene_frames(self.scenes, self.fps)[-1]

    @property
    def duration(self) -> float:
        return self.frames / self.fps

    @property
    def cut_times(self) -> list[float]:
        return cut_times(self.scenes, self.fps)

    @property
    def scene_spans(self) -> list[tuple[float, float]]:
        b = scene_frames(self.scenes, self.fps)
        return [(b[i] / self.fps, b[i + 1] / self.fps) for i in range(len(self.scenes))]

    @property
    def looks(self) -> list[str]:
        return [s.look for s in self.scenes]

    @property
    def look(self) -> str:
        """The look that fills most of the clip."""
        totals: dict[str, float] = {}
        for s in self.scenes:
            totals[s.look] = totals.get(s.look, 0.0) + s.seconds
        return max(totals, key=lambda k: totals[k])

    @property
    def captions(self) -> list[str]:
        return [s.caption for s in self.scenes if s.caption]

    @property
    def faces(self) -> list[int]:
        """Faces shown in each scene."""
        return [int(s.face) for s in self.scenes]

    @property
    def sentences(self) -> list[str]:
        return speech_texts(self.speech)

    @property
    def transcript(self) -> str:
        return speech_text(self.speech)

    @property
    def speech_spans(self) -> list[tuple[str, float, float]]:
        return speech_spans(self.speech, self.speech_start_s)

    @property
    def display_size(self) -> Size:
        return display_size(self.size, self.rotation)

    @property
    def video_codec(self) -> str:
        return decoded_codec_names(self.path.suffix)[0]

    @property
    def audio_codec(self) -> str | None:
        return decoded_codec_names(self.path.suffix)[1] if self.audio else None


def build_clip(
    path: Path,
    scenes: Sequence[SceneSpec],
    *,
    size: Size = (640, 360),
    fps: int = 25,
    speech: Sequence[str] | None = None,
    tone: bool = False,
    audio: bool = True,
    rotation: int = 0,
    speech_start_s: float = 0.3,
    preset: str = "veryfast",
    reuse: bool = False,
) -> Clip:
    """make_clip, returning the clip's expected facts along with its path; with `reuse`,
    a file already at `path` is taken as made (benchmarks keep their clips)."""
    clip = Clip(
        path=Path(path),
        scenes=tuple(scenes),
        size=size,
        fps=fps,
        speech=tuple(speech_key(n) for n in speech or ()),
        tone=tone,
        audio=audio,
        rotation=rotation,
        speech_start_s=speech_start_s,
    )
    if reuse and clip.path.exists():
        return clip
    make_clip(
        clip.path,
        clip.scenes,
        size=size,
        fps=fps,
        speech=clip.speech,
        tone=tone,
        audio=audio,
        rotation=rotation,
        speech_start_s=speech_start_s,
        preset=preset,
    )
    return clip


# --------------------------------------------------------------------------- benchmark

BENCH_LOOKS = ("plain", "snow", "beach", "autumn", "spring", "indoor", "night", "plain")
BENCH_CAPTION = "HARBOR TOWN MARATHON"
PASSAGE = "passage.flac"


def benchmark_scenes(seconds: float = 60.0, scene_s: float = 7.5, fps: int = 25) -> list[SceneSpec]:
    """About one scene every 7.5 s cycling through the looks; scene 3 of every 8 is captioned,
    every indoor scene shows the face."""
    count = max(1, round(seconds / scene_s))
    total = round(seconds * fps)
    starts = [total * i // count for i in range(count + 1)]
    return [
        SceneSpec(
            (starts[i + 1] - starts[i]) / fps,
            BENCH_LOOKS[i % len(BENCH_LOOKS)],
            caption=BENCH_CAPTION if i % len(BENCH_LOOKS) == 2 else None,
            face=BENCH_LOOKS[i % len(BENCH_LOOKS)] == "indoor",
        )
        for i in range(count)
    ]


def benchmark_speech(seconds: float = 60.0, start_s: float = 0.3) -> list[str]:
    """The long passage, looped as often as it fits in `seconds`."""
    one = speech_seconds(PASSAGE) + SPEECH_GAP_S
    times = max(1, int((seconds - start_s + SPEECH_GAP_S) // one))
    if start_s + speech_seconds(PASSAGE) > seconds:
        raise ValueError(f"the passage needs {start_s + speech_seconds(PASSAGE):.1f} s")
    return [PASSAGE] * times


def build_benchmark_clip(
    path: Path,
    seconds: float = 60.0,
    size: Size = (1280, 720),
    fps: int = 25,
    preset: str | None = None,
    reuse: bool = False,
) -> Clip:
    """The benchmark clip with its facts (60 s: 8 scenes, the passage, one caption).

    libx264 runs `veryfast` (CABAC, B-frames: like real footage) up to 2 minutes and
    `ultrafast` beyond, unless `preset` says otherwise."""
    preset = preset or ("veryfast" if seconds <= 120 else "ultrafast")
    return build_clip(
        path,
        benchmark_scenes(seconds, fps=fps),
        size=size,
        fps=fps,
        speech=benchmark_speech(seconds),
        preset=preset,
        reuse=reuse,
    )


def make_benchmark_clip(
    path: Path,
    seconds: float = 60.0,
    size: Size = (1280, 720),
    fps: int = 25,
    preset: str | None = None,
) -> Path:
    """A 60 s 1280x720 H.264/AAC clip; `seconds=600` makes the 10-minute variant (the
    passage looped)."""
    return build_benchmark_clip(path, seconds, size, fps, preset).path


# --------------------------------------------------------------------------- bad inputs


def _write_audio_only(path: Path, seconds: float = 4.0) -> Path:
    with av.open(str(path), "w", format="mp4") as container:
        feed = _AudioFeed(_add_audio(container, "aac"), audio_track(seconds, ["marathon"]))
        container.mux(feed.until(seconds))
        container.mux(feed.flush())
    return path


def _cut_half(source: Path, target: Path) -> Path:
    data = source.read_bytes()
    target.write_bytes(data[: len(data) // 2])
    return target


def make_bad_inputs(folder: Path) -> dict[str, Path]:
    """Files named .mp4 that are not (whole) videos: empty, text, image, audio only,
    truncated (index at the front, half the data missing), garbage, no_moov (index lost)."""
    folder = Path(folder)
    work = folder / "_work"
    work.mkdir(parents=True, exist_ok=True)
    bad: dict[str, Path] = {}
    bad["empty"] = folder / "empty.mp4"
    bad["empty"].write_bytes(b"")
    bad["text"] = folder / "text.mp4"
    bad["text"].write_text("This is not a video. It is a plain text file named like one.\n" * 20)
    bad["image"] = folder / "image.mp4"
    ok, png = cv2.imencode(".png", cv2.cvtColor(draw_look("beach", (320, 180)), cv2.COLOR_RGB2BGR))
    assert ok
    bad["image"].write_bytes(png.tobytes())
    bad["audio_only"] = _write_audio_only(folder / "audio_only.mp4")
    scenes = [SceneSpec(2.0, "beach"), SceneSpec(2.0, "autumn")]
    front = make_clip(work / "faststart.mp4", scenes, speech=["marathon"], faststart=True)
    bad["truncated"] = _cut_half(front, folder / "truncated.mp4")
    normal = make_clip(work / "normal.mp4", scenes, speech=["marathon"])
    bad["no_moov"] = _cut_half(normal, folder / "no_moov.mp4")
    bad["garbage"] = folder / "garbage.mp4"
    bad["garbage"].write_bytes(np.random.default_rng([SEED, 5]).bytes(64 * 1024))
    shutil.rmtree(work)
    return bad


# --------------------------------------------------------------------------- word error rate

# Whisper writes small numbers as digits; the sentences spell them out.
NUMBERS = {
    "9": "nine",
    "2": "two",
    "11": "eleven",
    "6": "six",
    "200": "two hundred",
    "4000": "four thousand",
    "4,000": "four thousand",
}


def words(text: str) -> str:
    """Lower-case words, numbers spelled out, no punctuation: what WER should compare."""
    text = text.lower().replace("9:00", "nine o'clock").replace("9 o'clock", "nine o'clock")
    tokens = re.findall(r"[a-z0-9',]+", text)
    spelled = [NUMBERS.get(t.strip(","), t.strip(",")) for t in tokens]
    return " ".join(t for t in spelled if t.strip("'"))


def word_error_rate(truth: str, heard: str) -> float:
    """Share of words misheard (jiwer), after spelling numbers out on both sides."""
    import jiwer

    return float(jiwer.wer(words(truth), words(heard)))
