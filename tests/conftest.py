"""Shared fixtures: real generated video clips (built once, lazily) and isolated settings."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest

from storyteller.config import DEFAULT_ALLOWED_HOSTS, Settings
from tests.media import Clip, SceneSpec, build_benchmark_clip, build_clip, make_bad_inputs
from tests.service.server import ServeProcess

ClipFactory = Callable[..., Clip]

# database_url, engine, session: on SQLite and PostgreSQL (see tests/databases.py).
pytest_plugins = ["tests.databases"]


@pytest.fixture(scope="session")
def media_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One folder for every clip of the test session."""
    return tmp_path_factory.mktemp("media")


@pytest.fixture(scope="session")
def make_media(media_dir: Path) -> ClipFactory:
    """Build a custom clip once per session: make_media("name.mp4", scenes, **make_clip options).

    The same name gives back the clip already built (options are not compared)."""
    built: dict[str, Clip] = {}

    def make(name: str, scenes: Sequence[SceneSpec], **options: object) -> Clip:
        if name not in built:
            built[name] = build_clip(media_dir / name, scenes, **options)  # type: ignore[arg-type]
        return built[name]

    return make


@pytest.fixture(scope="session")
def speech_clip(make_media: ClipFactory) -> Clip:
    """MP4 (H.264 + AAC), 640x360, 7.6 s: three plain shots cut at 2.0 and 4.48 s, the
    second captioned CITY MARATHON; says the marathon and kitten sentences."""
    scenes = [
        SceneSpec(2.0, "plain"),
        SceneSpec(2.48, "plain", caption="CITY MARATHON"),
        SceneSpec(3.12, "plain"),
    ]
    return make_media("speech.mp4", scenes, speech=["marathon", "kitten"])


@pytest.fixture(scope="session")
def snow_clip(make_media: ClipFactory) -> Clip:
    """WebM (VP9 + Opus), 4 s of snow in two shots (cut at 2.0 s), says the snow road sentence."""
    scenes = [SceneSpec(2.0, "snow"), SceneSpec(2.0, "snow")]
    return make_media("snow.webm", scenes, speech=["snow_road"])


@pytest.fixture(scope="session")
def beach_clip(make_media: ClipFactory) -> Clip:
    """QuickTime MOV (H.264 + AAC), 4 s of beach in two shots, says the lifeguards sentence."""
    scenes = [SceneSpec(2.0, "beach"), SceneSpec(2.0, "beach")]
    return make_media("beach.mov", scenes, speech=["lifeguards"])


@pytest.fixture(scope="session")
def autumn_clip(make_media: ClipFactory) -> Clip:
    """MP4, 4 s of autumn foliage in two shots, says the pumpkin harvest sentence."""
    scenes = [SceneSpec(2.0, "autumn"), SceneSpec(2.0, "autumn")]
    return make_media("autumn.mp4", scenes, speech=["pumpkins"])


@pytest.fixture(scope="session")
def spring_clip(make_media: ClipFactory) -> Clip:
    """MP4, 4 s of green grass and flowers in two shots, says the apple trees sentence."""
    scenes = [SceneSpec(2.0, "spring"), SceneSpec(2.0, "spring")]
    return make_media("spring.mp4", scenes, speech=["apple_trees"])


@pytest.fixture(scope="session")
def indoor_clip(make_media: ClipFactory) -> Clip:
    """MP4, 4 s indoors: one face in the first shot (0-2 s), none in the second; says the
    museum sentence."""
    scenes = [SceneSpec(2.0, "indoor", face=True), SceneSpec(2.0, "indoor")]
    return make_media("indoor.mp4", scenes, speech=["museum"])


@pytest.fixture(scope="session")
def silent_clip(make_media: ClipFactory) -> Clip:
    """MP4 with no audio track at all: 3 s, a plain and a night shot (cut at 1.5 s)."""
    scenes = [SceneSpec(1.5, "plain"), SceneSpec(1.5, "night")]
    return make_media("silent.mp4", scenes, audio=False)


@pytest.fixture(scope="session")
def tone_clip(make_media: ClipFactory) -> Clip:
    """MP4 whose audio is music-like tones and no speech: 3 s, one plain shot."""
    return make_media("tone.mp4", [SceneSpec(3.0, "plain")], tone=True)


@pytest.fixture(scope="session")
def rotated_clip(make_media: ClipFactory) -> Clip:
    """A phone portrait MP4: coded 640x360 with display rotation -90 (shown 360x640 upright,
    as `VideoFrame.rotation` reads back -90). A captioned plain shot (TOWN HALL), then a
    spring shot with one face that is only upright once the rotation is applied; quiet audio."""
    scenes = [SceneSpec(1.5, "plain", caption="TOWN HALL"), SceneSpec(1.5, "spring", face=True)]
    return make_media("rotated.mp4", scenes, rotation=-90)


@pytest.fixture(scope="session")
def bad_inputs(media_dir: Path) -> dict[str, Path]:
    """Files named .mp4 that are not whole videos; see tests.media.make_bad_inputs."""
    return make_bad_inputs(media_dir / "bad")


@pytest.fixture(scope="session")
def benchmark_clip(media_dir: Path) -> Clip:
    """The 60 s 1280x720 benchmark clip (8 shots, the long passage, one caption). Slow to
    build (several seconds): use it only in slow tests and benchmarks."""
    return build_benchmark_clip(media_dir / "benchmark.mp4")


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings that keep every file of the test in its own temporary folder."""
    return Settings(  # type: ignore[call-arg]
        _env_file=None,
        data_dir=tmp_path / "data",
        # The in-process client's base URL (tests/api/conftest.py).
        allowed_hosts=[*DEFAULT_ALLOWED_HOSTS, "storyteller.test"],
    )


@pytest.fixture
def served(tmp_path: Path) -> Iterator[ServeProcess]:
    """`storyteller serve` running on a fresh data folder (one video at a time), killed after."""
    server = ServeProcess(tmp_path / "data", MAX_CONCURRENT_JOBS="1")
    server.start()
    yield server
    server.kill()
