"""Whether Retry can help a video that ended without a story, and if not, why in words.

A failure that is the file's own (`ErrorCause.VIDEO`) comes back the same however often
it runs: the page offers no Retry for it and says what would help instead. A failure of
ours or a provider's, and a cancelled video, may well run the next time.
"""

from __future__ import annotations

from storyteller.db.models import ErrorCause, VideoStatus

# By error code: what to do instead of retrying, for the failures retrying cannot mend.
NOTES = {
    "not_a_video": "not a video file: upload a different file",
    "empty_file": "the file is empty: upload it again",
    "refused": "refused at upload: upload a different file",
    "too_large": "larger than a video may be here: upload a smaller file",
    "too_long": "longer than a video may be here: cut it shorter and upload it again",
    "too_many_pixels": "its pictures are larger than a video may have here: "
    "convert it to a smaller size and upload it again",
    "frame_rate_too_high": "its frame rate is higher than a video may have here: "
    "convert it and upload it again",
    "unreadable": "its pictures cannot be decoded: convert it (to H.264 MP4, say) "
    "and upload it again",
    "unsupported_codec": "it is in a format that cannot be decoded here: convert it "
    "(to H.264 MP4, say) and upload it again",
    "format_refused": "it is in a format that is not taken here: convert it "
    "(to H.264 MP4, say) and upload it again",
    "bad_metadata": "its file is damaged: export it again and upload it",
    "time_limit": "it took longer than a video may take: cut it shorter and upload it again",
    "file_missing": "its uploaded file is no longer stored: upload it again",
}
# A failure that is the file's own, with a code that has no note of its own.
FILE_FAULT = "the file itself is the cause, so it would fail the same way again"


def retry_advice(
    status: VideoStatus, cause: ErrorCause | str | None, code: str | None
) -> tuple[bool | None, str | None]:
    """(whether Retry can help, why not): (None, None) for a video that has not failed or
    been cancelled."""
    if status == VideoStatus.CANCELLED:
        return True, None
    if status != VideoStatus.FAILED:
        return None, None
    if code in NOTES:
        return False, NOTES[code]
    if cause is not None and ErrorCause(cause) == ErrorCause.VIDEO:
        return False, FILE_FAULT
    return True, None
