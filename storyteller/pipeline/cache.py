"""Evidence kept on disk by the video's content hash, so the same bytes are analysed once."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import ValidationError

from storyteller.config import Settings
from storyteller.pipeline.evidence import EVIDENCE_VERSION, Evidence

if TYPE_CHECKING:
    import numpy as np

CHUNK = 1 << 20
THUMBNAIL = "thumbnail.jpg"
# A list row's picture: wide enough for a phone's row at twice its pixels.
THUMBNAIL_WIDTH = 320


def content_hash(path: Path) -> str:
    """SHA-256 of the file's bytes, read in chunks (videos never sit whole in memory)."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def analysis_fingerprint(settings: Settings) -> str:
    """A short key of every setting that changes what the pipeline finds."""
    knobs = {
        "version": EVIDENCE_VERSION,
        "whisper_model": settings.whisper_model,
        "whisper_vad": settings.whisper_vad,
        "ocr_min_confidence": settings.ocr_min_confidence,
        "ocr_frames_per_scene": settings.ocr_frames_per_scene,
        "scene_threshold": settings.scene_threshold,
        "analysis_width": settings.analysis_width,
        "max_video_seconds": settings.max_video_seconds,
    }
    return hashlib.sha256(json.dumps(knobs, sort_keys=True).encode()).hexdigest()[:12]


def _write_atomically(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class EvidenceCache:
    """`<cache>/evidence/<hash>-<settings>.json`, `<cache>/keyframes/<hash>/scene-NNN.jpg`
    and the video's thumbnail, `<cache>/keyframes/<hash>/thumbnail.jpg`."""

    def __init__(self, settings: Settings) -> None:
        self.root = settings.cache_dir
        self.fingerprint = analysis_fingerprint(settings)

    def _evidence_path(self, digest: str) -> Path:
        return self.root / "evidence" / f"{digest}-{self.fingerprint}.json"

    def keyframe_dir(self, digest: str) -> Path:
        return self.root / "keyframes" / digest

    def thumbnail_path(self, digest: str) -> Path:
        return self.keyframe_dir(digest) / THUMBNAIL

    def load(self, digest: str) -> Evidence | None:
        path = self._evidence_path(digest)
        try:
            evidence = Evidence.model_validate_json(path.read_bytes())
        except (FileNotFoundError, ValidationError, ValueError):
            return None  # missing or from an older version: analyse again
        if evidence.version != EVIDENCE_VERSION:
            return None
        return evidence

    def save(self, evidence: Evidence) -> None:
        data = evidence.model_dump_json(indent=1).encode()
        _write_atomically(self._evidence_path(evidence.content_hash), data)

    def save_keyframe(self, digest: str, index: int, rgb: np.ndarray) -> str:
        """Store a scene's keyframe as JPEG; returns its file name."""
        import cv2  # here: the web process reads keyframes through this cache, never writes

        name = f"scene-{index:03d}.jpg"
        ok, encoded = cv2.imencode(
            ".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 85]
        )
        if ok:
            _write_atomically(self.keyframe_dir(digest) / name, encoded.tobytes())
        return name

    def save_thumbnail(self, digest: str, rgb: np.ndarray) -> None:
        """Store the picture of a list row: the first scene's keyframe, made small."""
        import cv2

        height, width = rgb.shape[:2]
        if width > THUMBNAIL_WIDTH:
            size = (THUMBNAIL_WIDTH, max(1, round(height * THUMBNAIL_WIDTH / width)))
            rgb = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
        ok, encoded = cv2.imencode(
            ".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 80]
        )
        if ok:
            _write_atomically(self.thumbnail_path(digest), encoded.tobytes())
