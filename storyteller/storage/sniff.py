"""A first look at an upload's opening bytes: refuse at once what cannot be a video.

Only what is certainly not a video is refused here (nothing at all, text, still
pictures, sound-only formats, documents, archives); anything else goes on to the
probe stage, which decodes it and has the last word.
"""

from __future__ import annotations

from storyteller.pipeline.probe import describe_bytes
from storyteller.storage.uploads import UploadRefused

# Openings of formats that never hold moving pictures (`describe_bytes` names each).
# Not GIF, Ogg or RIFF AVI: those can, and the decoder may read them.
_NEVER_VIDEO: tuple[bytes, ...] = (
    b"\x89PNG",
    b"\xff\xd8\xff",  # JPEG
    b"%PDF",
    b"PK\x03\x04",  # ZIP (and docx, xlsx...)
    b"ID3",  # MP3 with tags
    b"fLaC",
)

# Bytes that do not occur in text: the C0 controls other than tab, LF, FF and CR.
_NOT_IN_TEXT = frozenset(range(32)) - {9, 10, 12, 13}


class NotAVideo(UploadRefused):
    """The upload's first bytes show it is not a video (HTTP 415)."""

    def __init__(self, reason: str, *, code: str = "not_a_video") -> None:
        super().__init__(reason)
        self.code = code


def looks_like_text(head: bytes) -> bool:
    """UTF-8 (or ASCII) with no control bytes: a text file, not media."""
    if any(byte in _NOT_IN_TEXT for byte in head):
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        # A multi-byte character cut off by the end of the sample is still text.
        return exc.start >= len(head) - 3 and exc.reason == "unexpected end of data"
    return True


def refusal(head: bytes) -> str | None:
    """Why a file opening with `head` cannot be a video, or None when it may be one."""
    if not head:
        return "the file is empty"
    if head.startswith(_NEVER_VIDEO) or (head[:4] == b"RIFF" and head[8:12] in (b"WAVE", b"WEBP")):
        return describe_bytes(head)
    if looks_like_text(head):
        return "it is a text file"
    return None


def check_video(head: bytes, *, name: str) -> None:
    """Raise `NotAVideo` ("clip.mp4 is not a video: it is a PNG image") when the first
    bytes of the file show it cannot be a video."""
    why = refusal(head)
    if why is not None:
        code = "empty_file" if not head else "not_a_video"
        raise NotAVideo(f"{name} is not a video: {why}", code=code)
