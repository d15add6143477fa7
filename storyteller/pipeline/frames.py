"""Reading pictures out of a video: frames at chosen times, upright, by seeking."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import av
import av.container
import numpy as np


@contextmanager
def open_video(path: Path) -> Iterator[av.container.InputContainer]:
    """Open a file for decoding its video stream with every core."""
    container = av.open(str(path), mode="r")
    try:
        container.streams.video[0].thread_type = "AUTO"
        yield container
    finally:
        container.close()


def upright(image: np.ndarray, rotation: int) -> np.ndarray:
    """Turn a decoded picture the way the display matrix says (counter-clockwise degrees)."""
    turns = round(rotation / 90) % 4
    return np.ascontiguousarray(np.rot90(image, k=turns)) if turns else image


def scaled_size(width: int, height: int, target_width: int | None) -> tuple[int, int]:
    """Even dimensions no wider than `target_width`, keeping the aspect ratio."""
    if not target_width or width <= target_width:
        return width - width % 2, height - height % 2
    new_height = max(2, round(height * target_width / width))
    return target_width - target_width % 2, new_height - new_height % 2


def read_frames(
    path: Path, times: Sequence[float], *, width: int | None = None
) -> list[tuple[float, np.ndarray]]:
    """The frame shown at each time (seconds), as upright RGB arrays.

    Seeks to the keyframe before each wanted time and decodes forward, so reading a
    few frames of a long video costs a few GOPs, not a pass over the file. Times
    past the last frame give the last frame; the answer is in ascending time order.
    """
    wanted = sorted(set(max(0.0, t) for t in times))
    found: list[tuple[float, np.ndarray]] = []
    if not wanted:
        return found
    with open_video(path) as container:
        stream = container.streams.video[0]
        time_base = float(stream.time_base or 0) or 1 / 90000
        half_frame = 0.5 / float(stream.average_rate or 25)
        frames: Iterator[av.VideoFrame] | None = None
        last: av.VideoFrame | None = None
        for t in wanted:
            # Seek only when the wanted frame is not just ahead of where we are.
            if frames is None or last is None or last.time is None or t - last.time > 2.0:
                container.seek(int(t / time_base), stream=stream, backward=True, any_frame=False)
                frames = container.decode(stream)
                last = None
            chosen = (
                last
                if last is not None and last.time is not None and last.time >= t - half_frame
                else None
            )
            while chosen is None:
                frame = next(frames, None)
                if frame is None:
                    chosen = last
                    break
                last = frame
                if frame.time is not None and frame.time >= t - half_frame:
                    chosen = frame
            if chosen is None:
                continue
            image = chosen.reformat(
                width=scaled_size(chosen.width, chosen.height, width)[0],
                height=scaled_size(chosen.width, chosen.height, width)[1],
                format="rgb24",
            ).to_ndarray()
            found.append((t, upright(image, int(chosen.rotation or 0))))
    return found
