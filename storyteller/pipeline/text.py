"""The on-screen text stage: captions, signs and scoreboards read with RapidOCR, once per line."""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from difflib import SequenceMatcher
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np

from storyteller.pipeline.evidence import Scene, ScreenText
from storyteller.pipeline.frames import read_frames, scaled_size
from storyteller.pipeline.stage import Context, SceneWork

if TYPE_CHECKING:
    from rapidocr import RapidOCR

# Frames are read at this width (keyframes are scaled to it) and the recogniser reads its
# line crops from them: 960 read small signs as well as 1280 in the measurements, while 640
# lost some; the cost of a frame hardly depends on it (the detector scales the frame anyway).
OCR_WIDTH = 960
# Text is looked for on the frame scaled to this longest side. The detector's cost grows with
# the area (about 90 ms of CPU a frame at 640, 240 ms at 960 on the target machine); captions
# and signs down to ~15 px at 720p are still found at 640.
DETECT_SIDE = 640
# A box this low (px at OCR_WIDTH) holds nothing readable; a box not wider than this many times
# its height holds one or two characters (the detector pads boxes), dropped below anyway.
MIN_LINE_HEIGHT = 8
MIN_LINE_ASPECT = 1.3
# Lit windows or leaves can give dozens of boxes; the largest are kept.
MAX_LINES_PER_FRAME = 24
# Lines with fewer letters or digits are OCR junk ("■", "|-", "a").
MIN_CHARACTERS = 3
# Two readings at least this alike (case-insensitive) are the same line.
SAME_LINE = 0.85
# Extra frames closer than this to another frame of the scene show the same picture.
MIN_FRAME_GAP_S = 0.2
# A frame whose small grey thumbnail differs from the last one read in its scene by less
# than this (mean absolute difference, 0-255) is a still shot: its lines are the same,
# so they are not read again (a 1 ms check against ~100 ms of OCR).
STILL_DIFFERENCE = 2.0
THUMBNAIL = (96, 54)

# The models shipped inside the rapidocr wheel: detection and recognition (multilingual
# PP-OCRv6 small). Given by path, so RapidOCR never looks for (or downloads) its defaults.
DETECTION_MODEL = "PP-OCRv6_det_small.onnx"
RECOGNITION_MODEL = "PP-OCRv6_rec_small.onnx"


class OcrModelMissing(Exception):
    """The OCR models that ship with rapidocr are not where they should be."""


def _model_path(name: str) -> str:
    path = Path(str(resources.files("rapidocr"))) / "models" / name
    if not path.is_file():
        raise OcrModelMissing(
            f"the on-screen text model {name} is missing from the rapidocr package ({path}); "
            "reinstall rapidocr"
        )
    return str(path)


def ocr_threads(speech_threads: int) -> int:
    """Threads for the OCR models: half the cores, because speech runs beside the pictures
    (and onnxruntime's spinning worker threads would take CPU from Whisper)."""
    return max(1, speech_threads // 2)


@lru_cache(maxsize=2)
def ocr_engine(threads: int) -> RapidOCR:
    """One RapidOCR engine per process (per thread count), models from the package."""
    from rapidocr import RapidOCR  # 0.6 s to import: only when text is read

    return RapidOCR(
        params={
            "Global.log_level": "error",
            "Global.use_cls": False,  # lines turned upside down are not worth 10 % more time
            "Det.model_path": _model_path(DETECTION_MODEL),
            "Rec.model_path": _model_path(RECOGNITION_MODEL),
            "Det.limit_type": "max",
            "Det.limit_side_len": DETECT_SIDE,
            "EngineConfig.onnxruntime.intra_op_num_threads": threads,
            "EngineConfig.onnxruntime.inter_op_num_threads": 1,
        }
    )


# RapidOCR keeps per-call options on the engine: one frame at a time per process.
_engine_lock = threading.Lock()


def _is_line(box: np.ndarray) -> bool:
    """The detected box (4 corners) has the shape of a line of a few characters."""
    width = float(np.linalg.norm(box[1] - box[0]))
    height = float(np.linalg.norm(box[3] - box[0]))
    return height >= MIN_LINE_HEIGHT and width >= MIN_LINE_ASPECT * height


def read_lines(image: np.ndarray, threads: int = 1) -> list[tuple[str, float]]:
    """The lines of text in one RGB picture, top to bottom, with the recogniser's confidence."""
    engine = ocr_engine(threads)
    bgr = np.ascontiguousarray(image[:, :, ::-1])
    with _engine_lock:
        found: Any = engine(bgr, use_det=True, use_cls=False, use_rec=False)
        boxes = getattr(found, "boxes", None)
        if boxes is None or len(boxes) == 0:
            return []
        lines = [np.asarray(b, dtype=np.float32) for b in boxes]
        lines = [b for b in lines if _is_line(b)]
        if not lines:
            return []
        if len(lines) > MAX_LINES_PER_FRAME:
            lines.sort(key=lambda b: -float(np.linalg.norm(b[3] - b[0])))
            lines = sorted(
                lines[:MAX_LINES_PER_FRAME], key=lambda b: (float(b[0][1]), float(b[0][0]))
            )
        crops = engine.crop_text_regions(bgr, np.stack(lines))
        read: Any = engine.recognize_txt(crops)
    return [(str(t), float(s)) for t, s in zip(read.txts or (), read.scores or (), strict=False)]


def clean(text: str) -> str | None:
    """The line with its spacing made regular, or None when it is junk."""
    text = " ".join(text.split())
    if sum(ch.isalnum() for ch in text) < MIN_CHARACTERS:
        return None
    return text


def _same_line(a: str, b: str) -> bool:
    a, b = a.casefold(), b.casefold()
    return a == b or SequenceMatcher(None, a, b, autojunk=False).ratio() >= SAME_LINE


@dataclass
class _Line:
    text: str
    confidence: float
    seen: set[float] = field(default_factory=set)

    def evidence(self) -> ScreenText:
        return ScreenText(
            text=self.text,
            confidence=round(self.confidence, 3),
            first_seen_s=round(min(self.seen), 3),
            last_seen_s=round(max(self.seen), 3),
            frames=len(self.seen),
        )


@dataclass
class ScreenTextCollector:
    """Gathers readings from many frames into one entry per distinct line."""

    min_confidence: float
    lines: list[_Line] = field(default_factory=list)

    def add(self, time_s: float, text: str, confidence: float) -> None:
        cleaned = clean(text)
        if cleaned is None or confidence < self.min_confidence:
            return
        for line in self.lines:
            if _same_line(line.text, cleaned):
                if confidence > line.confidence:  # keep the clearest reading of the line
                    line.text, line.confidence = cleaned, confidence
                line.seen.add(time_s)
                return
        if not self.lines and cleaned.isascii():
            _english()  # loaded now, beside the scene pass, not at the end
        self.lines.append(_Line(cleaned, confidence, {time_s}))

    def result(self) -> list[ScreenText]:
        lines = drop_partial_readings([line.evidence() for line in self.lines])
        lines = [line.model_copy(update={"text": mend(line.text)}) for line in lines]
        return sorted(join_captions(lines), key=lambda s: s.first_seen_s)


# Characters the recogniser takes for one another ("MARATHCN", "FESTIVAI", "CL0SED").
_CONFUSED = [set(group) for group in ("oce0", "il1|!", "sS5", "bB8", "zZ2", "gq9", "uv")]
_WORD_RE = re.compile(r"[A-Za-z0-9|!]{4,}")


@lru_cache(maxsize=1)
def _english() -> Any:
    """pyspellchecker's English word list (MIT, inside the wheel; 0.1 s to load, once)."""
    from spellchecker import SpellChecker

    return SpellChecker(language="en", distance=1)


def _confusable(a: str, b: str) -> bool:
    """`a` and `b` differ in exactly one character, a pair the recogniser confuses."""
    if len(a) != len(b):
        return False
    diffs = [(x, y) for x, y in zip(a.lower(), b.lower(), strict=True) if x != y]
    return len(diffs) == 1 and any(diffs[0][0] in g and diffs[0][1] in g for g in _CONFUSED)


def _same_case(word: str, like: str) -> str:
    if like.isupper():
        return word.upper()
    if like[:1].isupper():
        return word[:1].upper() + word[1:]
    return word


def mend(text: str) -> str:
    """Obvious OCR slips in a line mended against an English word list: a word that is not
    a word, one confusable character away from exactly the word the list suggests."""
    if not text.isascii():
        return text
    words = [m for m in _WORD_RE.finditer(text) if any(ch.isalpha() for ch in m.group(0))]
    if not words:
        return text
    english = _english()
    mended = text
    for match in reversed(words):
        word = match.group(0)
        if english.known([word.lower()]):
            continue
        fix = english.correction(word.lower())
        if fix and fix != word.lower() and _confusable(word, fix):
            start, end = match.span()
            mended = mended[:start] + _same_case(fix, word) + mended[end:]
    return mended


# A reading whose letters this much fall inside a longer line's, shown about then, is that
# line caught half-drawn (a title flying in) or misread: "Camnad" for "Caminandes".
PARTIAL_SHARE = 0.8
PARTIAL_NEAR_S = 3.0


def _inside(short: str, long: str) -> float:
    """Share of `short`'s characters found, in order, in `long` (case-insensitive)."""
    a, b = short.casefold(), long.casefold()
    matched = sum(block.size for block in SequenceMatcher(None, a, b).get_matching_blocks())
    return matched / max(1, len(a))


def drop_partial_readings(lines: list[ScreenText]) -> list[ScreenText]:
    """Lines that are only part of a longer line seen about then (surer, or the one the text
    settles into), left out."""
    kept = []
    for line in lines:
        partial = any(
            other is not line
            and len(other.text) > len(line.text)
            and (other.confidence >= line.confidence or other.last_seen_s > line.last_seen_s)
            and other.first_seen_s - PARTIAL_NEAR_S <= line.last_seen_s
            and line.first_seen_s <= other.last_seen_s + PARTIAL_NEAR_S
            and _inside(line.text, other.text) >= PARTIAL_SHARE
            for other in lines
        )
        if not partial:
            kept.append(line)
    return kept


# Lines read in the same frames are one caption when the first does not end a sentence and
# together they stay short: "BREAKING NEWS" over "Flooding closes the high street".
MAX_CAPTION_CHARS = 90


def join_captions(lines: list[ScreenText]) -> list[ScreenText]:
    """Consecutive lines (top to bottom, as read) shown over the same span joined into one."""
    joined: list[ScreenText] = []
    for line in lines:
        last = joined[-1] if joined else None
        if (
            last is not None
            and abs(last.first_seen_s - line.first_seen_s) <= 0.05
            and abs(last.last_seen_s - line.last_seen_s) <= 0.05
            and last.frames == line.frames
            and last.text[-1:] not in ".!?:"
            and len(last.text) + len(line.text) < MAX_CAPTION_CHARS
        ):
            joined[-1] = last.model_copy(
                update={
                    "text": f"{last.text} {line.text}",
                    "confidence": min(last.confidence, line.confidence),
                }
            )
        else:
            joined.append(line)
    return joined


def frame_times(scene: Scene, count: int) -> list[float]:
    """The keyframe's time and up to count-1 more, spread evenly inside the scene."""
    if count <= 1 or scene.duration_s <= 0:
        return [scene.keyframe_s]
    centres = [scene.start_s + scene.duration_s * (i + 0.5) / count for i in range(count)]
    nearest = min(range(count), key=lambda i: abs(centres[i] - scene.keyframe_s))
    others = [t for i, t in enumerate(centres) if i != nearest]
    chosen = [scene.keyframe_s]
    for t in others:
        if all(abs(t - c) >= MIN_FRAME_GAP_S for c in chosen):
            chosen.append(t)
    return sorted(chosen)


def thumbnail(image: np.ndarray) -> np.ndarray:
    """A small grey copy of an RGB picture, for telling still shots cheaply."""
    small = cv2.resize(image, THUMBNAIL, interpolation=cv2.INTER_AREA)
    return cv2.cvtColor(small, cv2.COLOR_RGB2GRAY).astype(np.float32)


def same_picture(a: np.ndarray, b: np.ndarray) -> bool:
    """Two thumbnails show the same still picture."""
    return float(np.mean(np.abs(a - b))) < STILL_DIFFERENCE


def _scaled(image: np.ndarray, width: int) -> np.ndarray:
    height, current = image.shape[:2]
    new_width, new_height = scaled_size(current, height, width)
    if (new_width, new_height) == (current, height):
        return image
    return cv2.resize(image, (new_width, new_height), interpolation=cv2.INTER_AREA)


class ScreenTextStage(SceneWork):
    """Fills `ctx.on_screen_text`: each distinct line once, with when it was on screen; the
    lines of one caption (read together in the same frames) joined into one."""

    name = "text"

    def __init__(self) -> None:
        self.collector: ScreenTextCollector | None = None
        self.frames_read = 0

    def scene(self, ctx: Context, scene: Scene) -> None:
        settings = ctx.settings
        if self.collector is None:
            self.collector = ScreenTextCollector(settings.ocr_min_confidence)
        threads = ocr_threads(settings.speech_threads)
        times = frame_times(scene, settings.ocr_frames_per_scene)
        keyframe = ctx.keyframes.get(scene.index)
        wanted = [t for t in times if keyframe is None or t != scene.keyframe_s]
        # Frames the scene pass kept stand in for as many of the wanted ones: no seeking.
        given = ctx.extra_frames.pop(scene.index, [])[: len(wanted)]
        wanted = wanted[len(given) :]
        frames = read_frames(ctx.path, wanted, width=OCR_WIDTH) if wanted else []
        frames += [(t, _scaled(image, OCR_WIDTH)) for t, image in given]
        if keyframe is not None:
            frames.append((scene.keyframe_s, _scaled(keyframe, OCR_WIDTH)))
        last: tuple[np.ndarray, list[tuple[str, float]]] | None = None
        duration = ctx.media.duration_s if ctx.media else 0.0
        for done, (time_s, image) in enumerate(sorted(frames, key=lambda f: f[0]), start=1):
            small = thumbnail(image)
            if last is not None and same_picture(last[0], small):
                lines = last[1]
            else:
                lines = read_lines(image, threads)
                last = (small, lines)
            for text, confidence in lines:
                self.collector.add(time_s, text, confidence)
            self.frames_read += 1
            if duration:  # the share of the video read so far
                through = (scene.start_s + scene.duration_s * done / len(frames)) / duration
            else:
                through = (scene.index + done / len(frames)) / max(1, len(ctx.scenes))
            ctx.progress(self.name, min(0.99, through))

    def finish(self, ctx: Context) -> None:
        ctx.on_screen_text = self.collector.result() if self.collector else []
        ctx.progress(self.name, 1.0)
