"""The `storyteller` command, run in-process and as a real process."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from storyteller.cli import app
from storyteller.commands.common import RULE
from storyteller.config import Settings
from storyteller.story.rules import StoryRules
from storyteller.story.validator import validate
from tests.media import Clip

runner = CliRunner()


@pytest.fixture
def env(settings: Settings) -> dict[str, str]:
    return {"STORYTELLER_DATA_DIR": str(settings.data_dir), "HF_HUB_OFFLINE": "1"}


def lines(output: str) -> list[dict]:  # type: ignore[type-arg]
    return [json.loads(line) for line in output.splitlines() if line.strip()]


def test_tell_json_gives_a_valid_grounded_story(speech_clip: Clip, env: dict[str, str]) -> None:
    result = runner.invoke(app, ["tell", "--json", str(speech_clip.path)], env=env)
    assert result.exit_code == 0, result.output
    (line,) = lines(result.stdout)
    assert result.stderr == "", "no progress bar when stderr is not a terminal"
    assert line["status"] == "completed" and line["error"] is None
    assert line["file"] == "speech.mp4"
    rules = StoryRules.from_settings(Settings(_env_file=None))  # type: ignore[call-arg]
    assert validate(line["story"], rules) == []
    assert line["story"].startswith(f'"{line["title"]}"')
    assert len(line["paragraphs"]) >= 3
    evidence = line["evidence"]
    assert evidence["duration_s"] == pytest.approx(speech_clip.duration, abs=0.05)
    assert "marathon" in evidence["transcript"].lower()
    assert len(evidence["scenes"]) == 3
    assert any("MARATHON" in text.upper() for text in evidence["on_screen_text"])
    assert line["date"] in line["story"] or line["date"][:4] in line["story"]
    quotes = [q for paragraph in line["paragraphs"] for q in re.findall(r'"([^"]+)"', paragraph)]
    assert quotes, "the speech is quoted"
    for quote in quotes:
        assert quote.rstrip(".,") in evidence["transcript"], f"{quote!r} was never said"


def test_one_broken_file_fails_alone(
    speech_clip: Clip, bad_inputs: dict[str, Path], env: dict[str, str]
) -> None:
    files = [str(bad_inputs["text"]), str(speech_clip.path), str(bad_inputs["audio_only"])]
    result = runner.invoke(app, ["tell", "--json", *files], env=env)
    assert result.exit_code == 1
    text, good, audio = lines(result.stdout)
    assert good["status"] == "completed"
    assert (
        text["status"] == "failed" and text["error"] == "text.mp4 is not a video: it is a text file"
    )
    assert audio["status"] == "failed" and "only sound" in audio["error"]
    assert text["story"] is None


def test_plain_output_separates_stories_with_a_rule(
    speech_clip: Clip, silent_clip: Clip, env: dict[str, str]
) -> None:
    result = runner.invoke(app, ["tell", str(speech_clip.path), str(silent_clip.path)], env=env)
    assert result.exit_code == 0, result.output
    first, second = result.stdout.split(f"\n{RULE}\n")
    assert first.lstrip().startswith('"') and second.lstrip().startswith('"')


def test_seed_asks_for_another_version(speech_clip: Clip, env: dict[str, str]) -> None:
    one = lines(runner.invoke(app, ["tell", "--json", str(speech_clip.path)], env=env).stdout)[0]
    same = lines(runner.invoke(app, ["tell", "--json", str(speech_clip.path)], env=env).stdout)[0]
    other = lines(
        runner.invoke(app, ["tell", "--json", "--seed", "7", str(speech_clip.path)], env=env).stdout
    )[0]
    assert one["story"] == same["story"]
    assert one["story"] != other["story"]


def test_usage_errors_exit_2(tmp_path: Path, speech_clip: Clip, env: dict[str, str]) -> None:
    assert runner.invoke(app, ["tell", str(tmp_path / "missing.mp4")], env=env).exit_code == 2
    assert (
        runner.invoke(app, ["tell", "--teller", "nope", str(speech_clip.path)], env=env).exit_code
        == 2
    )
    bad_setting = {**env, "STORYTELLER_STORY_YEARS": "twenty"}
    result = runner.invoke(app, ["tell", str(speech_clip.path)], env=bad_setting)
    assert result.exit_code == 2
    assert "story_years" in result.stderr
    # The engine the plan named, and what to use instead.
    planned = {**env, "STORYTELLER_JOB_ENGINE": "procrastinate"}
    result = runner.invoke(app, ["serve"], env=planned)
    assert result.exit_code == 2
    assert result.stderr.strip() == (
        "storyteller: bad setting: job_engine: there is no `procrastinate` engine: the"
        " distributed one is `workers` (storyteller worker processes sharing PostgreSQL;"
        " see docs/deploy.md)"
    )


def test_evidence_prints_json(indoor_clip: Clip, env: dict[str, str]) -> None:
    result = runner.invoke(app, ["evidence", str(indoor_clip.path)], env=env)
    assert result.exit_code == 0, result.output
    found = json.loads(result.stdout)
    assert [scene["faces"] for scene in found["scenes"]] == [1, 0]


def test_evidence_of_a_bad_file_says_why(bad_inputs: dict[str, Path], env: dict[str, str]) -> None:
    result = runner.invoke(app, ["evidence", str(bad_inputs["image"])], env=env)
    assert result.exit_code == 1
    assert "image.mp4 is not a video" in result.stderr
    assert "Traceback" not in result.output


def test_the_real_command_with_concurrency(
    speech_clip: Clip, snow_clip: Clip, bad_inputs: dict[str, Path], env: dict[str, str]
) -> None:
    files = [str(speech_clip.path), str(bad_inputs["empty"]), str(snow_clip.path)]
    done = subprocess.run(
        [sys.executable, "-m", "storyteller", "tell", "--json", "--concurrency", "2", *files],
        capture_output=True, text=True, env={**os.environ, **env}, timeout=300,
    )  # fmt: skip
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    speech, empty, snow = lines(done.stdout)
    assert (speech["file"], empty["file"], snow["file"]) == ("speech.mp4", "empty.mp4", "snow.webm")
    assert speech["status"] == snow["status"] == "completed"
    assert empty["error"] == "empty.mp4 is not a video: the file is empty"
    assert snow["season"] == "winter"
    assert snow["date"][5:7] in {"12", "01", "02"}
