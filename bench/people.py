"""Benchmark: people detectors on the real footage (tests/assets/real), side by side.

For each clip, five frames spread over it; each detector counts people in each frame. A
clip "found" means at least one person in at least one frame. The truth says which clips
show people (truth.json); the figure detectors are meant to add whole figures that do not
face the camera, so the frontal face detector is shown beside them.

    .venv/bin/python bench/people.py
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path

import av
import cv2
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from storyteller.pipeline.faces import find_faces  # noqa: E402
from storyteller.pipeline.frames import read_frames  # noqa: E402
from storyteller.pipeline.people import CLOSE_UP_FACE, PEOPLE_WIDTH, find_people  # noqa: E402
from tests.real_footage import REAL, truths  # noqa: E402

Detector = Callable[[np.ndarray], int]


def _haar(name: str) -> Detector:
    cascade = cv2.CascadeClassifier(cv2.data.haarcascades + name)  # type: ignore[attr-defined]

    def detect(rgb: np.ndarray) -> int:
        height, width = rgb.shape[:2]
        gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
        gray = cv2.resize(gray, (PEOPLE_WIDTH, round(height * PEOPLE_WIDTH / width)))
        return len(cascade.detectMultiScale(gray, scaleFactor=1.1, minNeighbors=4))

    return detect


DETECTORS: dict[str, Detector] = {
    "HOG people (OpenCV, used)": lambda rgb: len(find_people(rgb)),
    "Haar full body (OpenCV)": _haar("haarcascade_fullbody.xml"),
    "Haar upper body (OpenCV)": _haar("haarcascade_upperbody.xml"),
    "Haar frontal face (faces stage)": lambda rgb: len(find_faces(rgb)),
    "faces, then HOG where no close-up (the pipeline)": lambda rgb: _pipeline(rgb),
}


def _pipeline(rgb: np.ndarray) -> int:
    faces = find_faces(rgb)
    if max((h for *_, h in faces), default=0.0) >= CLOSE_UP_FACE:
        return len(faces)
    return max(len(faces), len(find_people(rgb)))


def main() -> None:
    frames: dict[str, list[np.ndarray]] = {}
    for name in truths():
        with av.open(str(REAL / name)) as container:
            length = float(container.duration or 0) / 1e6 or 5.0
        times = [length * (i + 0.5) / 5 for i in range(5)]
        frames[name] = [frame for _, frame in read_frames(REAL / name, times)]
    print(
        "| detector | clips with people found | clips without people, false alarms | ms a frame |"
    )
    print("|---|---|---|---:|")
    for label, detect in DETECTORS.items():
        found = alarms = with_people = without = 0
        wrong: list[str] = []
        spent, count = 0.0, 0
        for name, truth in truths().items():
            counts = []
            for frame in frames[name]:
                started = time.perf_counter()
                counts.append(detect(frame))
                spent += time.perf_counter() - started
                count += 1
            if truth["people"]:
                with_people += 1
                found += max(counts) > 0
            else:
                without += 1
                alarms += max(counts) > 0
                if max(counts) > 0:
                    wrong.append(name)
        print(
            f"| {label} | {found}/{with_people} | {alarms}/{without} {' '.join(wrong)} "
            f"| {1000 * spent / count:.0f} |"
        )


if __name__ == "__main__":
    main()
