"""The one base of every error a person may read: `reason` is what they are told."""

from __future__ import annotations


class StorytellerError(Exception):
    """Something that stops a request, a video or a command, with `reason` saying why in
    words a person can act on, and `code` naming the kind of failure for programs."""

    code = "failed"

    def __init__(self, reason: str, code: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        if code is not None:
            self.code = code
