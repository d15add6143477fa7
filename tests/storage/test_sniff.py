"""The first bytes of an upload: what is certainly not a video is refused at once."""

from __future__ import annotations

from pathlib import Path

import pytest

from storyteller.storage.sniff import NotAVideo, check_video, looks_like_text, refusal
from storyteller.storage.uploads import FIRST_BYTES, UploadRefused
from tests.media import Clip


@pytest.mark.parametrize(
    ("head", "why"),
    [
        (b"", "the file is empty"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "it is a PNG image"),
        (b"\xff\xd8\xff\xe0\x00\x10JFIF", "it is a JPEG image"),
        (b"%PDF-1.7\n", "it is a PDF document"),
        (b"PK\x03\x04\x14\x00", "it is a ZIP archive"),
        (b"ID3\x04\x00\x00\x00", "it is an MP3 audio file"),
        (b"RIFF\x24\x00\x00\x00WAVEfmt ", "it is a WAV audio file"),
        (b"RIFF\x24\x00\x00\x00WEBPVP8 ", "it is a WebP image"),
        (b"<!doctype html>\n<html>\n", "it is a text file"),
        ("Größe: 10 €\n".encode(), "it is a text file"),
    ],
)
def test_what_is_certainly_not_a_video_is_named(head: bytes, why: str) -> None:
    assert refusal(head) == why
    with pytest.raises(NotAVideo) as refused:
        check_video(head, name="clip.mp4")
    assert refused.value.reason == f"clip.mp4 is not a video: {why}"
    assert refused.value.code == ("empty_file" if not head else "not_a_video")
    assert isinstance(refused.value, UploadRefused)


@pytest.mark.parametrize(
    "head",
    [
        b"\x00\x00\x00\x20ftypisom\x00\x00\x02\x00isomiso2avc1mp41",  # MP4
        b"\x00\x00\x00\x14ftypqt  \x00\x00\x00\x00qt  ",  # QuickTime
        b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01",  # WebM / Matroska
        b"RIFF\x00\x10\x00\x00AVI LIST",  # AVI
        b"OggS\x00\x02\x00\x00",  # Ogg may carry Theora video
        b"GIF89a\x10\x00\x10\x00",  # animated GIFs decode as video
        bytes(range(256)) * 2,  # unknown binary: the probe decides
    ],
)
def test_what_may_be_a_video_is_left_to_the_probe(head: bytes) -> None:
    assert refusal(head) is None
    check_video(head, name="clip.mp4")


def test_text_cut_inside_a_character_is_still_text() -> None:
    head = ("é" * 300).encode()[: FIRST_BYTES - 1]  # ends in half a character
    assert looks_like_text(head)
    assert not looks_like_text(b"abc\x00def")


def test_real_files(bad_inputs: dict[str, Path], silent_clip: Clip) -> None:
    def head(path: Path) -> bytes:
        with path.open("rb") as f:
            return f.read(FIRST_BYTES)

    for refused in ("empty", "text", "image"):
        assert refusal(head(bad_inputs[refused])) is not None, refused
    for probed in ("audio_only", "truncated", "no_moov", "garbage"):
        assert refusal(head(bad_inputs[probed])) is None, probed
    assert refusal(head(silent_clip.path)) is None
