"""HTTP range requests (RFC 9110 §14): which bytes of a representation a GET asks for.

One range is served as asked (206 with `Content-Range`); a range past the end is
unsatisfiable (416). A request for several ranges gets the whole representation (200):
RFC 9110 lets a server ignore `Range`, no browser's player asks for several, and a
multipart answer would cost every client that does the work of taking it apart.
`If-Range` with a validator that no longer matches asks for the whole as well.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import re
from dataclasses import dataclass

# Byte positions: ASCII digits only (`str.isdigit` takes "²" too).
_DIGITS = re.compile(r"[0-9]+")


@dataclass(frozen=True)
class ByteRange:
    """Bytes `start` to `end` of a representation of `size` bytes, both included."""

    start: int
    end: int
    size: int

    @property
    def length(self) -> int:
        return self.end - self.start + 1

    def content_range(self) -> str:
        return f"bytes {self.start}-{self.end}/{self.size}"


class Unsatisfiable(Exception):
    """No byte of the asked range is in the representation (416)."""

    def __init__(self, size: int) -> None:
        super().__init__(f"the range asked for is past the end of the {size} bytes")
        self.size = size


def asked_range(header: str | None, size: int) -> ByteRange | None:
    """The one range the `Range` header asks for, or None for the whole representation
    (no header, another unit, a header that cannot be read, or several ranges).
    Raises `Unsatisfiable` when the one range asked for has no byte in it."""
    if not header:
        return None
    unit, _, specs = header.partition("=")
    if unit.strip().lower() != "bytes":
        return None
    parts = [part.strip() for part in specs.split(",") if part.strip()]
    if len(parts) != 1:
        return None
    first, dash, last = parts[0].partition("-")
    first, last = first.strip(), last.strip()
    if not dash or not (_DIGITS.fullmatch(first) or (not first and _DIGITS.fullmatch(last))):
        return None
    if last and not _DIGITS.fullmatch(last):
        return None
    if not first:  # suffix: the last N bytes
        suffix = int(last)
        if suffix == 0 or size == 0:
            raise Unsatisfiable(size)
        return ByteRange(max(0, size - suffix), size - 1, size)
    start = int(first)
    end = int(last) if last else size - 1
    if last and end < start:
        return None  # not a valid range: ignored, as RFC 9110 says
    if start >= size:
        raise Unsatisfiable(size)
    return ByteRange(start, min(end, size - 1), size)


def if_range_holds(header: str | None, *, etag: str, last_modified: str) -> bool:
    """Whether `If-Range` lets the range be served: absent, or naming the current
    validator (a strong entity tag, or exactly the Last-Modified date)."""
    if header is None:
        return True
    header = header.strip()
    if header.startswith(('"', "W/")):
        return header == etag  # a weak tag never matches (strong comparison)
    asked = _http_date(header)
    return asked is not None and asked == _http_date(last_modified)


def _http_date(text: str) -> dt.datetime | None:
    try:
        return email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
