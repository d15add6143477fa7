"""The whole pipeline on real clips, and the evidence cache by content hash."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import pytest

from storyteller.config import Settings
from storyteller.pipeline.cache import EvidenceCache
from storyteller.pipeline.evidence import Evidence
from storyteller.pipeline.progress import BY_CODE, OverallProgress, stage_label
from storyteller.pipeline.run import gather_evidence
from storyteller.pipeline.stage import VideoRejected
from tests.media import Clip


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[str, float]] = []

    def __call__(self, stage: str, fraction: float) -> None:
        self.calls.append((stage, fraction))


def test_gathers_every_kind_of_evidence(speech_clip: Clip, settings: Settings) -> None:
    progress = Recorder()
    overall: list[tuple[float, str]] = []
    both = OverallProgress(lambda fraction, stage: overall.append((fraction, stage)))

    def report(stage: str, fraction: float) -> None:
        progress(stage, fraction)
        both(stage, fraction)

    evidence = gather_evidence(speech_clip.path, settings, progress=report)
    assert len(evidence.scenes) == 3
    assert evidence.transcript is not None and "marathon" in evidence.transcript.text.lower()
    assert any("MARATHON" in line.text.upper() for line in evidence.on_screen_text)
    assert evidence.look is not None
    stages = {stage for stage, _ in progress.calls}
    assert {"probe", "scenes", "faces", "text", "look", "speech"} <= stages
    assert {"probe", "scenes", "faces", "text", "look", "speech", "total"} <= set(evidence.timings)
    # One figure for the whole video that moves often inside the stages, never back.
    fractions = [fraction for fraction, _ in overall]
    assert fractions == sorted(fractions) and len(set(fractions)) >= 10, overall
    assert fractions[-1] == pytest.approx(1 - BY_CODE["telling"].weight)
    # The list's picture: the first shot's, small.
    thumbnail = EvidenceCache(settings).thumbnail_path(evidence.content_hash)
    picture = cv2.imread(str(thumbnail))
    assert picture is not None and picture.shape[1] == 320
    keyframes = EvidenceCache(settings).keyframe_dir(evidence.content_hash)
    for scene in evidence.scenes:
        assert scene.keyframe and (keyframes / scene.keyframe).stat().st_size > 1000
    # The evidence is plain JSON and comes back the same.
    assert Evidence.model_validate_json(evidence.model_dump_json()) == evidence
    json.loads(evidence.model_dump_json())


def test_a_second_run_on_the_same_bytes_uses_the_cache(
    speech_clip: Clip, settings: Settings, tmp_path: Path
) -> None:
    first = gather_evidence(speech_clip.path, settings)
    copy = tmp_path / "renamed.mp4"
    shutil.copy(speech_clip.path, copy)
    progress = Recorder()
    again = gather_evidence(copy, settings, progress=progress)
    assert progress.calls == [("cache", 1.0)], "no stage ran"
    assert again.file_name == "renamed.mp4"
    assert again.model_copy(update={"file_name": first.file_name}) == first


def test_changing_an_analysis_setting_analyses_again(speech_clip: Clip, settings: Settings) -> None:
    gather_evidence(speech_clip.path, settings)
    other = settings.model_copy(update={"ocr_frames_per_scene": 1})
    progress = Recorder()
    gather_evidence(speech_clip.path, other, progress=progress)
    assert ("scenes", 1.0) in progress.calls


def test_a_damaged_cache_entry_is_recomputed(silent_clip: Clip, settings: Settings) -> None:
    evidence = gather_evidence(silent_clip.path, settings)
    for entry in (settings.cache_dir / "evidence").glob(f"{evidence.content_hash}-*.json"):
        entry.write_text("{not json")
    progress = Recorder()
    again = gather_evidence(silent_clip.path, settings, progress=progress)
    assert ("scenes", 1.0) in progress.calls
    assert again.content_hash == evidence.content_hash


def test_no_sound_track_is_noted_not_failed(silent_clip: Clip, settings: Settings) -> None:
    evidence = gather_evidence(silent_clip.path, settings)
    assert evidence.transcript is None
    assert evidence.speech_note and "no sound" in evidence.speech_note


@pytest.mark.parametrize("kind", ["empty", "text", "image", "audio_only", "garbage", "no_moov"])
def test_bad_inputs_are_refused_with_a_reason(
    kind: str, bad_inputs: dict[str, Path], settings: Settings
) -> None:
    with pytest.raises(VideoRejected) as refused:
        gather_evidence(bad_inputs[kind], settings)
    assert refused.value.reason.startswith(bad_inputs[kind].name)


def test_overall_progress_only_moves_forward() -> None:
    seen: list[float] = []
    overall = OverallProgress(lambda fraction, stage: seen.append(fraction))
    for stage, fraction in [
        ("probe", 1.0),
        ("speech", 0.5),
        ("scenes", 0.5),
        ("speech", 0.2),
        ("scenes", 1.0),
    ]:
        overall(stage, fraction)
    assert seen == sorted(seen)
    assert 0 < seen[-1] < 1


def test_the_stage_shown_is_the_first_unfinished_one() -> None:
    shown: list[str] = []
    overall = OverallProgress(lambda fraction, stage: shown.append(stage))
    for stage, fraction in [
        ("probe", 1.0),
        ("scenes", 0.2),
        ("speech", 0.1),  # beside the shots: the shots are still shown
        ("scenes", 1.0),
        ("speech", 0.5),
        ("text", 0.5),
        ("text", 1.0),
        ("speech", 1.0),
        ("telling", 0.0),
    ]:
        overall(stage, fraction)
    assert shown == [
        "probe", "scenes", "scenes", "speech", "speech", "text", "speech", "speech", "telling",
    ]  # fmt: skip
    assert stage_label("text") == "reading the text on screen"
    assert stage_label("telling") == "writing the story"
