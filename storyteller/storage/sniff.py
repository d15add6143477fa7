"""A file's type from its opening bytes, and the first look at an upload: refuse at once
what cannot be a video.

One table of signatures names what a file holds, for the upload's refusal and for the
probe stage's reasons alike; nothing here decodes media, so the web process never loads
PyAV to name a file. Only what is certainly not a video is refused at upload (nothing at
all, text, still pictures, sound-only formats, documents, archives); anything else goes
on to the probe stage, which decodes it and has the last word.
"""

from __future__ import annotations

from dataclasses import dataclass

from storyteller.storage.uploads import UploadRefused


@dataclass(frozen=True)
class Signature:
    """How a kind of file opens: `magic` at `offset`, and `tag` at 8 for RIFF files."""

    kind: str  # "a PNG image": what "it is ..." says
    magic: bytes
    never_video: bool  # the format cannot hold moving pictures: refused at upload
    tag: bytes = b""  # the RIFF form type (bytes 8 to 12)
    offset: int = 0

    def matches(self, head: bytes) -> bool:
        opening = head[self.offset : self.offset + len(self.magic)]
        return opening == self.magic and (not self.tag or head[8:12] == self.tag)


# Not GIF, Ogg or RIFF AVI among the never-videos: those can hold moving pictures, and
# the decoder may read them. A video container here opened but could not be read.
SIGNATURES: tuple[Signature, ...] = (
    Signature("a PNG image", b"\x89PNG", never_video=True),
    Signature("a JPEG image", b"\xff\xd8\xff", never_video=True),
    Signature("a GIF image", b"GIF8", never_video=False),
    Signature("a PDF document", b"%PDF", never_video=True),
    Signature("a ZIP archive", b"PK\x03\x04", never_video=True),  # and docx, xlsx...
    Signature("an MP3 audio file", b"ID3", never_video=True),
    Signature("a FLAC audio file", b"fLaC", never_video=True),
    Signature("an Ogg file", b"OggS", never_video=False),
    Signature(
        "an MP4 or MOV file that is damaged or cut short (its index is missing)",
        b"ftyp",
        never_video=False,
        offset=4,
    ),
    Signature(
        "a WebM or Matroska file that is damaged or cut short",
        b"\x1a\x45\xdf\xa3",
        never_video=False,
    ),
    Signature("a WAV audio file", b"RIFF", never_video=True, tag=b"WAVE"),
    Signature("a WebP image", b"RIFF", never_video=True, tag=b"WEBP"),
)

# Bytes that do not occur in text: the C0 controls other than tab, LF, FF and CR.
_NOT_IN_TEXT = frozenset(range(32)) - {9, 10, 12, 13}


class NotAVideo(UploadRefused):
    """The upload's first bytes show it is not a video (HTTP 415)."""

    code = "not_a_video"


def signature_of(head: bytes) -> Signature | None:
    return next((signature for signature in SIGNATURES if signature.matches(head)), None)


def describe_bytes(head: bytes) -> str:
    """A guess, in words, at what a file that is not a video holds."""
    if not head:
        return "the file is empty"
    signature = signature_of(head)
    if signature is not None:
        return f"it is {signature.kind}"
    try:
        head.decode("utf-8")
    except UnicodeDecodeError:
        return "its data is not in any video format that can be read"
    return "it is a text file"


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
    signature = signature_of(head)
    if signature is not None and signature.never_video:
        return f"it is {signature.kind}"
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


# Containers a player may be handed, by how they open: (magic, offset, media type).
_MEDIA_TYPES: tuple[tuple[bytes, int, str], ...] = (
    (b"ftypqt  ", 4, "video/quicktime"),
    (b"ftyp", 4, "video/mp4"),
    (b"\x1a\x45\xdf\xa3", 0, "video/x-matroska"),  # WebM when its DocType says so (below)
    (b"OggS", 0, "video/ogg"),
    (b"GIF8", 0, "image/gif"),
    (b"\x00\x00\x01\xba", 0, "video/mpeg"),
)
UNKNOWN_MEDIA_TYPE = "application/octet-stream"


def media_type(head: bytes) -> str:
    """The media type to serve a stored video as, from its first bytes (a few hundred):
    what a browser's player needs to choose a decoder without guessing."""
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return "video/x-msvideo"
    if len(head) > 188 and head[0] == 0x47 and head[188] == 0x47:
        return "video/mp2t"
    for magic, offset, kind in _MEDIA_TYPES:
        if head[offset : offset + len(magic)] == magic:
            if kind == "video/x-matroska" and b"webm" in head[:64]:
                return "video/webm"
            return kind
    return UNKNOWN_MEDIA_TYPE
