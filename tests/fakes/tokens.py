"""Tokens counted the way the providers document it, from what a fake server receives.

Gemini (ai.google.dev, "Understand and count tokens", "Video understanding"): a video is
sampled at the frames per second the request asks (`videoMetadata.fps`, 1 by default), each
frame costing 258 tokens on Gemini 2.x (66 at low media resolution) and 70 on Gemini 3 at low
or medium resolution (280 at high); its sound costs 32 tokens a second; text is about four
characters a token. OpenAI (platform.openai.com, "Images and vision"): about 765 tokens an
image at full detail, 85 at `detail: low`; text as above.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import av

CHARS_PER_TOKEN = 4
AUDIO_TOKENS_PER_S = 32
OPENAI_IMAGE_TOKENS = 765
OPENAI_LOW_DETAIL_TOKENS = 85

# The bytes of a file the request names by URI (Gemini's Files API), None when unknown.
FileBytes = Callable[[str], bytes | None]


def text_tokens(text: str) -> int:
    """About four characters a token."""
    return round(len(text) / CHARS_PER_TOKEN)


@dataclass(frozen=True)
class Media:
    """What a provider reads from a video file before counting it."""

    duration_s: float
    has_audio: bool


def probe(data: bytes) -> Media | None:
    """The length and whether there is sound, read with PyAV (cached by content); None
    when the bytes are not a video PyAV can read (tests send filler bytes as big videos)."""
    return _probe(hashlib.sha256(data).hexdigest(), data)


@lru_cache(maxsize=256)
def _probe(digest: str, data: bytes) -> Media | None:
    try:
        container = av.open(io.BytesIO(data))
    except av.error.FFmpegError:
        return None
    with container:
        if not container.streams.video:
            return None
        has_audio = bool(container.streams.audio)
        if container.duration is not None:
            duration = container.duration / av.time_base
        else:
            video = container.streams.video[0]
            duration = float((video.duration or 0) * (video.time_base or 0))
    return Media(duration_s=duration, has_audio=has_audio)


# --- Gemini ------------------------------------------------------------------------------


def gemini_frame_tokens(model: str, resolution: str | None) -> int:
    """Tokens of one video frame for a model and a `generationConfig.mediaResolution`."""
    level = (resolution or "").upper().removeprefix("MEDIA_RESOLUTION_")
    if model.removeprefix("models/").startswith("gemini-3"):
        return 280 if level == "HIGH" else 70
    return 66 if level == "LOW" else 258


def gemini_video_tokens(media: Media, *, fps: float, frame_tokens: int) -> int:
    """Frames sampled at `fps` over the video's length, plus its sound."""
    frames = max(1, round(media.duration_s * fps))
    sound = round(AUDIO_TOKENS_PER_S * media.duration_s) if media.has_audio else 0
    return frames * frame_tokens + sound


def gemini_prompt_tokens(
    request: dict[str, Any], model: str, file_bytes: FileBytes = lambda _: None
) -> int:
    """`promptTokenCount` of a generateContent request: its videos and all its text
    (the system instruction included)."""
    config = _field(request, "generationConfig") or {}
    frame_tokens = gemini_frame_tokens(model, _field(config, "mediaResolution"))
    total = 0
    for part in _gemini_parts(request):
        if (text := part.get("text")) is not None:
            total += text_tokens(str(text))
            continue
        data = _gemini_video(part, file_bytes)
        if data is None:
            continue
        media = probe(data)
        if media is None:
            continue  # not a video: the real API would refuse it, the fake counts nothing
        metadata = _field(part, "videoMetadata") or {}
        fps = float(metadata.get("fps") or 1.0)
        total += gemini_video_tokens(media, fps=fps, frame_tokens=frame_tokens)
    return total


def _gemini_parts(request: dict[str, Any]) -> Iterator[dict[str, Any]]:
    system = _field(request, "systemInstruction")
    if isinstance(system, dict):
        yield from system.get("parts", [])
    for content in request.get("contents", []):
        yield from content.get("parts", [])


def _gemini_video(part: dict[str, Any], file_bytes: FileBytes) -> bytes | None:
    inline = _field(part, "inlineData")
    if isinstance(inline, dict) and inline.get("data"):
        encoded = str(inline["data"])
        try:
            return base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
        except (binascii.Error, ValueError):
            return base64.b64decode(encoded)
    uri = _field(_field(part, "fileData") or {}, "fileUri")
    return file_bytes(str(uri)) if uri else None


def _field(data: dict[str, Any], name: str) -> Any:
    # Either JSON spelling the API accepts: google-genai sends some fields in snake case.
    snake = re.sub(r"(?<!^)([A-Z])", r"_\1", name).lower()
    return data.get(name, data.get(snake))


# --- OpenAI ------------------------------------------------------------------------------


def openai_prompt_tokens(request: dict[str, Any]) -> int:
    """`prompt_tokens` of a chat completion: every message's text and images."""
    total = 0
    for message in request.get("messages", []):
        content = message.get("content")
        if isinstance(content, str):
            total += text_tokens(content)
            continue
        for part in content or []:
            if part.get("type") == "text":
                total += text_tokens(str(part.get("text", "")))
            elif part.get("type") == "image_url":
                detail = (part.get("image_url") or {}).get("detail", "auto")
                total += OPENAI_LOW_DETAIL_TOKENS if detail == "low" else OPENAI_IMAGE_TOKENS
    return total
