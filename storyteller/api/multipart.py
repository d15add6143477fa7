"""A multipart/form-data body read as it streams in: each file's bytes go to the upload
store while they arrive, a megabyte at a time, so a 500 MB video never sits in memory
and is never copied through a temporary spool file (as a parsed form would be).

`python_multipart`'s push parser calls back synchronously with slices of the body; the
callbacks only collect them into `Part`s, and the async reader writes them out in a
worker thread, one buffer in flight while the next one arrives.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import anyio.to_thread
from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header

from storyteller.batches.intake import UploadedFile
from storyteller.errors import StorytellerError
from storyteller.storage.names import clean_name
from storyteller.storage.uploads import (
    WRITE_BUFFER_BYTES,
    PartialUpload,
    UploadRefused,
    UploadStore,
)

# A form field (not a file) longer than this is refused: fields here are short words.
MAX_FIELD_BYTES = 4096
# Parts beside the videos (priority, teller, and some room): a form with more is not one
# of ours, and must not grow the server's memory. (The parser itself caps each header.)
MAX_OTHER_PARTS = 16


class BadForm(StorytellerError):
    """The body is not the form we expect; `reason` says what to send instead."""


class Pending:
    """Bytes received and not yet written: slices of the received chunks, kept as they
    are (a memoryview holds its chunk alive; nothing is copied until the write)."""

    def __init__(self) -> None:
        self.pieces: list[memoryview] = []
        self.size = 0

    def add(self, piece: memoryview) -> None:
        self.pieces.append(piece)
        self.size += len(piece)

    def take(self) -> list[memoryview]:
        pieces, self.pieces, self.size = self.pieces, [], 0
        return pieces

    def text(self) -> str:
        return b"".join(self.pieces).decode("utf-8", "replace")


@dataclass
class Part:
    headers: dict[str, bytes] = field(default_factory=dict)
    pending: Pending = field(default_factory=Pending)
    ended: bool = False
    # For files:
    upload: PartialUpload | None = None
    writing: asyncio.Future[None] | None = None  # the write in flight
    result: UploadedFile | None = None

    def disposition(self) -> tuple[str, str | None]:
        _, options = parse_options_header(self.headers.get("content-disposition", b""))
        name = options.get(b"name", b"").decode("utf-8", "replace")
        filename = options.get(b"filename")
        return name, None if filename is None else filename.decode("utf-8", "replace")


@dataclass
class Form:
    """The form once read: its files in order and its text fields."""

    files: list[UploadedFile]
    fields: dict[str, str]


def boundary_of(content_type: str | None) -> bytes:
    kind, options = parse_options_header(content_type or "")
    boundary = options.get(b"boundary")
    if kind != b"multipart/form-data" or not boundary:
        raise BadForm("send the videos as multipart/form-data, one file per `videos` field")
    return boundary


async def read_form(
    chunks: AsyncIterator[bytes],
    content_type: str | None,
    *,
    store: UploadStore,
    file_field: str,
    max_bytes: int,
    max_files: int,
) -> Form:
    """Stream the form's `file_field` files into `store`; other files are skipped. A file
    over `max_bytes` is refused alone (the rest of its bytes are read and dropped); more
    than `max_files` files, or a disk that runs out of room, ends the whole upload and
    deletes what it had stored."""
    parts: list[Part] = []
    header = {"field": bytearray(), "value": bytearray()}

    def on_part_begin() -> None:
        if len(parts) >= max_files + MAX_OTHER_PARTS:
            raise BadForm(
                f"too many parts in the form: at most {max_files} videos and a few fields"
            )
        parts.append(Part())

    def on_header_field(data: bytes, start: int, end: int) -> None:
        header["field"] += data[start:end]

    def on_header_value(data: bytes, start: int, end: int) -> None:
        header["value"] += data[start:end]

    def on_header_end() -> None:
        parts[-1].headers[header["field"].decode("latin-1").lower()] = bytes(header["value"])
        header["field"], header["value"] = bytearray(), bytearray()

    def on_part_data(data: bytes, start: int, end: int) -> None:
        if end > start:
            parts[-1].pending.add(memoryview(data)[start:end])

    def on_part_end() -> None:
        parts[-1].ended = True

    parser = MultipartParser(
        boundary_of(content_type),
        {
            "on_part_begin": on_part_begin,
            "on_header_field": on_header_field,
            "on_header_value": on_header_value,
            "on_header_end": on_header_end,
            "on_part_data": on_part_data,
            "on_part_end": on_part_end,
        },
    )
    files: list[UploadedFile] = []
    fields: dict[str, str] = {}
    done = 0  # parts before this index are dealt with
    try:
        async for chunk in chunks:
            try:
                parser.write(chunk)
            except MultipartParseError as exc:
                raise BadForm(f"the form cannot be read: {exc}") from None
            # Deal with every part that has data; a chunk may end one part and begin the next.
            for part in parts[done:]:
                await _advance(part, store, file_field, max_bytes, files, fields, max_files)
            while done < len(parts) and parts[done].ended:
                done += 1
        try:
            parser.finalize()
        except MultipartParseError as exc:
            raise BadForm(f"the form cannot be read: {exc}") from None
        for part in parts[done:]:
            await _advance(part, store, file_field, max_bytes, files, fields, max_files)
        if any(not part.ended for part in parts):
            raise BadForm("the upload ended before its last file was complete")
    except BaseException:
        for part in parts:
            if part.writing is not None:  # let the thread finish before the file closes
                with contextlib.suppress(Exception):
                    await part.writing
            if part.upload is not None:
                part.upload.abort()
        await anyio.to_thread.run_sync(_discard, store, files)
        raise
    return Form(files=files, fields=fields)


async def _advance(
    part: Part,
    store: UploadStore,
    file_field: str,
    max_bytes: int,
    files: list[UploadedFile],
    fields: dict[str, str],
    max_files: int,
) -> None:
    """Move one part on: write what it holds (a buffer at a time) and finish it once ended."""
    if "content-disposition" not in part.headers:
        if part.pending.size:  # data came after the headers, and they named no field
            raise BadForm("a part of the form has no Content-Disposition header")
        return  # headers still arriving
    name, filename = part.disposition()
    if filename is None:  # a text field
        if part.pending.size > MAX_FIELD_BYTES:
            raise BadForm(f"the form field {name!r} is too long")
        if part.ended and name not in fields:
            fields[name] = part.pending.text().strip()
        return
    if name != file_field:
        part.pending.take()  # a file in another field: not ours
        return
    if part.result is None:
        if len(files) >= max_files:
            raise BadForm(f"too many videos in one upload: at most {max_files}")
        part.result = UploadedFile(name=clean_name(filename) or f"video-{len(files) + 1}")
        files.append(part.result)
        try:
            part.upload = await anyio.to_thread.run_sync(
                lambda: store.begin(original_name=part.result.name, max_bytes=max_bytes)  # type: ignore[union-attr]
            )
        except UploadRefused as refusal:
            _refuse(part, refusal)
    result = part.result
    if part.upload is None:  # refused, or finished: drop whatever else comes
        part.pending.take()
        return
    if part.pending.size >= WRITE_BUFFER_BYTES or (part.ended and part.pending.size):
        await _settle(part)
        if part.upload is None:
            return
        data = part.pending.take()
        try:
            part.upload.accept(sum(len(piece) for piece in data))
        except UploadRefused as refusal:
            _refuse(part, refusal)
            return
        # Hashed and written in a worker thread while the next megabyte arrives.
        part.writing = asyncio.ensure_future(
            anyio.to_thread.run_sync(part.upload.write_pieces, data)
        )
    if part.ended and part.upload is not None:
        await _settle(part)
        if part.upload is None:
            return
        upload, part.upload = part.upload, None
        result.stored = await anyio.to_thread.run_sync(upload.finish)


async def _settle(part: Part) -> None:
    """Wait for the part's write in flight, if any; a refusal it raised refuses the file."""
    if part.writing is None:
        return
    writing, part.writing = part.writing, None
    try:
        await writing
    except UploadRefused as refusal:
        _refuse(part, refusal)  # raises again when the disk is full: that ends all


def _refuse(part: Part, refusal: UploadRefused) -> None:
    if refusal.code == "no_room":
        raise refusal
    if part.upload is not None:
        part.upload.abort()
        part.upload = None
    assert part.result is not None
    part.result.refused = refusal


def _discard(store: UploadStore, files: list[UploadedFile]) -> None:
    """Delete what the form stored before it failed."""
    for result in files:
        if result.stored is not None:
            store.discard(result.stored)
            result.stored = None
