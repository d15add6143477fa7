"""File names as they come in (a form's `filename`, tus `Upload-Metadata`), made safe to
keep and show: no control characters, no bidirectional overrides, no folders."""

from __future__ import annotations

import re
from pathlib import PurePosixPath

# C0 and C1 controls (escape sequences, line breaks) and the bidi embeddings, overrides
# and isolates that make a name read differently than it is (`gpj.exe` shown as `exe.jpg`).
UNSAFE_CHARACTERS = re.compile(r"[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
# The longest name kept, in characters (most file systems' limit for one name).
MAX_NAME_CHARS = 255


def clean_text(text: str) -> str:
    """`text` without control characters; a tab or line break becomes a space."""
    return UNSAFE_CHARACTERS.sub(lambda m: " " if m.group() in "\t\n\r" else "", text)


def clean_name(raw: str | None) -> str | None:
    """The last part of a file name a client gave (either slash counts), without unsafe
    characters, spaces trimmed, at most `MAX_NAME_CHARS`; None when nothing is left."""
    if not raw:
        return None
    name = PurePosixPath(clean_text(raw).replace("\\", "/")).name
    name = " ".join(name.split())[:MAX_NAME_CHARS].strip()
    return name or None
