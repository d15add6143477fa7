"""Remakes the committed test assets: espeak-ng speech (FLAC) and the face picture."""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import tempfile
from pathlib import Path

import av
import numpy as np

HERE = Path(__file__).resolve().parent
SPEECH_DIR = HERE / "speech"
RATE = 16_000
VOICE = "en-us"
SPEED = 150  # words per minute

# file name -> exact text. American spelling (en-us voice, and what Whisper writes).
SENTENCES: dict[str, str] = {
    "marathon.flac": "The city marathon starts at nine tomorrow morning.",
    "snow_road.flac": "Snow has closed the mountain road for the second day.",
    "lifeguards.flac": "Lifeguards say the water is warm and calm today.",
    "apple_trees.flac": "Volunteers planted two hundred apple trees in the park.",
    "fireworks.flac": "The harbor festival ends tonight with fireworks over the bay.",
    "kitten.flac": "Firefighters rescued a kitten from the old library roof.",
    "pumpkins.flac": "Farmers expect a record pumpkin harvest this autumn.",
    "museum.flac": "The museum will open a dinosaur exhibit on Saturday.",
    "passage.flac": (
        "Good evening. Thousands of runners filled the streets of the old harbor town this "
        "morning for the annual city marathon. The race began at nine o'clock beside the "
        "lighthouse, where the mayor fired the starting pistol and a brass band played. "
        "Volunteers handed out water and orange slices at every bridge along the river. "
        "The winner, a young teacher from the valley, crossed the finish line in two hours "
        "and eleven minutes, breaking the course record by almost a minute. She told "
        "reporters that the cool weather and the cheering crowds carried her up the final "
        "hill. Organizers say more than four thousand people took part, including a group "
        "of firefighters who ran the whole route in full uniform. The roads along the "
        "seafront will stay closed until six this evening while crews clear the barriers, "
        "and police have thanked residents for their patience. "
        "Next year the race will add a shorter family route through the botanical gardens."
    ),
}

# Face: skimage/data/astronaut.png from the scikit-image wheel (NASA, public domain).
FACE_BOX = (114, 6, 334, 226)  # left, top, right, bottom in the 512x512 original
FACE_SIZE = 256
FACE_QUALITY = 85


def _decode_mono(path: Path, rate: int) -> np.ndarray:
    """All samples of an audio file as float32 mono at `rate`."""
    resampler = av.AudioResampler(format="flt", layout="mono", rate=rate)
    chunks: list[np.ndarray] = []
    with av.open(str(path)) as container:
        for frame in container.decode(audio=0):
            for out in resampler.resample(frame):
                chunks.append(out.to_ndarray().reshape(-1))
    for out in resampler.resample(None):
        chunks.append(out.to_ndarray().reshape(-1))
    return np.concatenate(chunks).astype(np.float32)


def _trim(samples: np.ndarray, rate: int, margin_s: float = 0.08) -> np.ndarray:
    """Cut the silence espeak-ng leaves around the speech, keeping a short margin."""
    loud = np.flatnonzero(np.abs(samples) > 0.01)
    if not loud.size:
        return samples
    margin = int(margin_s * rate)
    return samples[max(0, loud[0] - margin) : loud[-1] + margin]


def write_flac(path: Path, samples: np.ndarray, rate: int = RATE) -> None:
    """Encode float mono samples as 16-bit FLAC with PyAV."""
    pcm = np.clip(np.round(samples * 32767.0), -32768, 32767).astype(np.int16)
    with av.open(str(path), "w", format="flac") as container:
        stream = container.add_stream("flac", rate=rate, layout="mono", format="s16")
        for start in range(0, len(pcm), 4096):
            frame = av.AudioFrame.from_ndarray(
                pcm[None, start : start + 4096], format="s16", layout="mono"
            )
            frame.sample_rate = rate
            frame.pts = start
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))


def build_speech() -> None:
    """Render every sentence with espeak-ng and store it as 16 kHz mono FLAC."""
    if shutil.which("espeak-ng") is None:
        raise SystemExit("espeak-ng is not installed (apt-get install espeak-ng)")
    SPEECH_DIR.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        for name, text in SENTENCES.items():
            wav = Path(tmp) / "out.wav"
            subprocess.run(
                ["espeak-ng", "-v", VOICE, "-s", str(SPEED), "-w", str(wav), text], check=True
            )
            samples = _trim(_decode_mono(wav, RATE), RATE)
            write_flac(SPEECH_DIR / name, samples)
            print(f"{name}: {len(samples) / RATE:.2f} s")
    (SPEECH_DIR / "sentences.json").write_text(json.dumps(SENTENCES, indent=2) + "\n")


def build_face(astronaut_png: Path) -> None:
    """Crop the astronaut's face to a small JPEG."""
    from PIL import Image

    with Image.open(astronaut_png) as image:
        face = image.convert("RGB").crop(FACE_BOX).resize((FACE_SIZE, FACE_SIZE), Image.LANCZOS)
    face.save(HERE / "face.jpg", quality=FACE_QUALITY, optimize=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--speech", action="store_true", help="remake the speech assets")
    parser.add_argument("--face", type=Path, help="path of skimage/data/astronaut.png")
    args = parser.parse_args()
    if args.speech:
        build_speech()
    if args.face:
        build_face(args.face)
    if not args.speech and not args.face:
        parser.print_help()


if __name__ == "__main__":
    main()
