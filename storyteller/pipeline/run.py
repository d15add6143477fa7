"""From a video file to its evidence: the stages in order, speech beside the pictures."""

from __future__ import annotations

import time
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from storyteller.config import Settings
from storyteller.errors import StorytellerError
from storyteller.pipeline.cache import EvidenceCache, content_hash
from storyteller.pipeline.evidence import Evidence, Scene
from storyteller.pipeline.faces import FaceStage
from storyteller.pipeline.look import LookStage
from storyteller.pipeline.motion import MotionStage
from storyteller.pipeline.people import PeopleStage
from storyteller.pipeline.probe import ProbeStage
from storyteller.pipeline.scenes import SceneStage
from storyteller.pipeline.speech import SpeechStage
from storyteller.pipeline.stage import (
    Context,
    Progress,
    SceneWork,
    Stage,
    VideoRejected,
    no_progress,
)
from storyteller.pipeline.text import ScreenTextStage


class StageFailed(StorytellerError):
    """A stage broke on a file it should have handled: our fault, not the video's."""

    code = "stage_error"

    def __init__(self, stage: str, error: BaseException) -> None:
        super().__init__(f"the {stage} stage failed: {error.__class__.__name__}: {error}")
        self.stage = stage


def _run_stage(stage: Stage, ctx: Context, timings: dict[str, float]) -> None:
    started = time.perf_counter()
    try:
        stage.run(ctx)
    except VideoRejected:
        raise
    except Exception as exc:
        raise StageFailed(stage.name, exc) from exc
    finally:
        timings[stage.name] = round(time.perf_counter() - started, 3)


def gather_evidence(
    path: Path,
    settings: Settings,
    *,
    name: str | None = None,
    progress: Progress = no_progress,
    use_cache: bool = True,
) -> Evidence:
    """Watch and listen to one video. Raises `VideoRejected` when the file is not a
    usable video and `StageFailed` when a stage breaks; otherwise returns evidence,
    from the cache when the same bytes were analysed with the same settings."""
    started = time.perf_counter()
    cache = EvidenceCache(settings)
    digest = content_hash(path)
    if use_cache and (cached := cache.load(digest)) is not None:
        progress("cache", 1.0)
        return cached.model_copy(update={"file_name": name or path.name})

    ctx = Context(path=path, settings=settings, progress=progress, name=name or path.name)
    timings: dict[str, float] = {"hash": round(time.perf_counter() - started, 3)}
    _run_stage(ProbeStage(), ctx, timings)
    # Speech runs on its own thread beside the picture stages, and each scene is
    # finished (on-screen text, faces, people, keyframe file) on a third as soon as the
    # scene pass closes it: Whisper, the decoder, OpenCV and onnxruntime all release the
    # GIL, so the cores stay busy to the end, and a scene's full-size picture is let go
    # once done. Every stage runs through the Stage contract (`SceneWork.scene` for the
    # per-scene ones, in order: text, faces, people, motion; then their `finish`).
    per_scene: list[SceneWork] = [ScreenTextStage(), FaceStage(), PeopleStage(), MotionStage()]
    spent: dict[str, float] = dict.fromkeys((w.name for w in per_scene), 0.0)

    def finish_scene(scene: Scene) -> None:
        if scene.index == 0:  # the list's picture, there as soon as the first shot ends
            cache.save_thumbnail(digest, ctx.keyframes[0])
        for work in per_scene:
            started = time.perf_counter()
            work.scene(ctx, scene)
            spent[work.name] += time.perf_counter() - started
        if ctx.media and ctx.media.duration_s:
            ctx.progress("faces", min(1.0, scene.end_s / ctx.media.duration_s))
            ctx.progress("people", min(1.0, scene.end_s / ctx.media.duration_s))
        scene.keyframe = cache.save_keyframe(digest, scene.index, ctx.keyframes[scene.index])
        del ctx.keyframes[scene.index]
        ctx.extra_frames.pop(scene.index, None)

    with (
        ThreadPoolExecutor(max_workers=1, thread_name_prefix="speech") as speech_pool,
        ThreadPoolExecutor(max_workers=1, thread_name_prefix="scene") as scene_pool,
    ):
        speech = speech_pool.submit(_run_stage, SpeechStage(), ctx, timings)
        finishing: list[Future[None]] = []
        try:
            scenes = SceneStage(
                on_scene=lambda scene, _: finishing.append(scene_pool.submit(finish_scene, scene))
            )
            _run_stage(scenes, ctx, timings)
            started_waiting = time.perf_counter()
            try:
                for future in finishing:
                    future.result()
            except Exception as exc:
                raise StageFailed("scene", exc) from exc
            timings["scene_wait"] = round(time.perf_counter() - started_waiting, 3)
            for work in per_scene:
                work.finish(ctx)
                timings[work.name] = round(spent[work.name], 3)
            _run_stage(LookStage(), ctx, timings)
        finally:
            for future in finishing:
                future.cancel()
            speech.result()

    assert ctx.media is not None
    timings["total"] = round(time.perf_counter() - started, 3)
    evidence = Evidence(
        content_hash=digest,
        file_name=ctx.name,
        media=ctx.media,
        scenes=ctx.scenes,
        transcript=ctx.transcript,
        speech_note=ctx.speech_note,
        on_screen_text=ctx.on_screen_text,
        look=ctx.look,
        timings=timings,
    )
    if ctx.season is not None:
        evidence.season = ctx.season
    cache.save(evidence)
    return evidence
