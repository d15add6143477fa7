"""The scene stage: one decoding pass that finds the cuts, a keyframe per shot, and samples."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction

import av
import av.error
import cv2
import numpy as np
from scenedetect import AdaptiveDetector, FrameTimecode
from scenedetect.common import Timecode

from storyteller.pipeline.evidence import Scene
from storyteller.pipeline.frames import open_video, scaled_size, upright
from storyteller.pipeline.stage import Context

# Cuts are looked for in at most this many frames a second: 1/15 s is well inside
# the 0.2 s the scene list promises, and halves the work on 30 fps footage.
ANALYSIS_FPS = 15.0
# One small frame every this many seconds feeds the look stage and the keyframe choice.
SAMPLE_EVERY_S = 0.5
MAX_SAMPLES = 720
SAMPLE_WIDTH = 160
# A keyframe is not taken this close to a cut, where fades and motion blur live.
SETTLE_S = 0.25
MIN_SCENE_S = 0.5
# The detector reports a cut a few analysed frames after it happens; candidates this
# recent are kept aside until it is clear on which side of a cut they fall.
LOOKBACK_S = 0.6
# A second frame handed to the text stage lies at least this far from the keyframe.
OTHER_FRAME_GAP_S = 0.5
# Below this frame rate the frames between references are too far apart to skip.
MIN_FPS_TO_SKIP = 20.0
# Progress reports of the scene pass for a short clip (a long one reports every second).
REPORTS_AT_LEAST = 20


def sharpness(gray: np.ndarray) -> float:
    """Variance of the Laplacian: higher for a crisp, detailed picture."""
    return float(cv2.Laplacian(gray, cv2.CV_32F).var())


def keyframe_score(bgr: np.ndarray) -> float:
    """How good a frame is as the face of its scene: sharp, neither black nor blown out."""
    gray = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
    exposure = 1.0 - abs(float(gray.mean()) - 128.0) / 128.0
    return sharpness(gray) * (0.2 + exposure)


@dataclass
class _Candidate:
    time: float
    score: float
    frame: av.VideoFrame


@dataclass
class _KeyframePicker:
    """Keeps the best frame of the current scene while holding only a few decoded frames."""

    scene_start: float = 0.0
    best: _Candidate | None = None
    # The first and the latest settled frames of the scene: one of them is handed to the
    # text stage as a second look at the scene, so it need not seek back for one.
    first: _Candidate | None = None
    last: _Candidate | None = None
    recent: list[_Candidate] = field(default_factory=list)

    def offer(self, candidate: _Candidate) -> None:
        self.recent.append(candidate)
        settled = [c for c in self.recent if c.time < candidate.time - LOOKBACK_S]
        self.recent = [c for c in self.recent if c.time >= candidate.time - LOOKBACK_S]
        for c in settled:
            self._consider(c)

    def _consider(self, c: _Candidate) -> None:
        early = c.time - self.scene_start < SETTLE_S
        if self.best is None or (not early and c.score > self.best.score):
            self.best = c
        if not early:
            self.first = self.first or c
            self.last = c

    def other_than(self, chosen: _Candidate) -> _Candidate | None:
        """The kept frame furthest in time from `chosen`, if it is far enough to differ."""
        options = [c for c in (self.first, self.last) if c is not None]
        if not options:
            return None
        other = max(options, key=lambda c: abs(c.time - chosen.time))
        return other if abs(other.time - chosen.time) >= OTHER_FRAME_GAP_S else None

    def keyframe_before(self, at: float) -> _Candidate | None:
        """The best frame of the scene that ends at `at`."""
        for c in [c for c in self.recent if c.time < at]:
            self._consider(c)
        return self.best

    def start_scene(self, at: float) -> None:
        """A new scene starts at `at`: frames from it on belong to it."""
        self.recent = [c for c in self.recent if c.time >= at]
        self.best, self.scene_start = None, at
        self.first = self.last = None


# Told of each scene as soon as it is closed, with its upright RGB keyframe.
SceneListener = Callable[[Scene, np.ndarray], None]


class SceneStage:
    """Decodes the video once: PySceneDetect's adaptive content detector on small frames
    finds the hard cuts; each scene keeps its best frame as keyframe; small samples go
    to the look stage. `on_scene` hears of each scene while the pass goes on, so later
    work on a scene can start before the whole video is decoded."""

    name = "scenes"

    def __init__(self, on_scene: SceneListener | None = None) -> None:
        self.on_scene = on_scene

    def run(self, ctx: Context) -> None:
        assert ctx.media is not None, "the probe stage runs first"
        media = ctx.media
        duration = max(media.duration_s, 1e-3)
        fps = Fraction(media.fps).limit_denominator(1001) if media.fps else Fraction(25)
        # The adaptive detector compares each frame's change with its neighbours', so a
        # fast camera pan (every frame changes a lot) is not read as a run of cuts.
        detector = AdaptiveDetector(
            adaptive_threshold=ctx.settings.scene_threshold, min_scene_len=MIN_SCENE_S
        )
        analyse_gap = 1.0 / ANALYSIS_FPS - 0.5 / float(fps)
        sample_every = max(SAMPLE_EVERY_S, media.duration_s / MAX_SAMPLES)
        picker = _KeyframePicker()
        last_frame: av.VideoFrame | None = None
        last_time = 0.0

        def emit(end: float, chosen: _Candidate | None) -> None:
            start = picker.scene_start
            if chosen is None:  # no frame was sampled in a very short scene
                if last_frame is None:
                    return
                chosen = _Candidate(last_time, 0.0, last_frame)
            index = len(ctx.scenes)
            scene = Scene(
                index=index,
                start_s=round(start, 3),
                end_s=round(end, 3),
                keyframe_s=round(chosen.time, 3),
            )
            # Converted now, so the decoded frame goes back to the decoder's pool.
            keyframe = upright(chosen.frame.to_ndarray(format="rgb24"), media.rotation)
            other = picker.other_than(chosen) if ctx.settings.ocr_frames_per_scene > 1 else None
            if other is not None and start <= other.time < end:
                image = upright(other.frame.to_ndarray(format="rgb24"), media.rotation)
                ctx.extra_frames[index] = [(round(other.time, 3), image)]
            ctx.scenes.append(scene)
            ctx.keyframes[index] = keyframe
            if self.on_scene is not None:
                self.on_scene(scene, keyframe)

        def close_scene(cut_s: float) -> None:
            if cut_s - picker.scene_start >= MIN_SCENE_S * 0.5:
                chosen = picker.keyframe_before(cut_s)
                emit(cut_s, chosen)
                picker.start_scene(cut_s)

        next_sample = next_report = next_analysis = 0.0
        # Progress every second of video, or every twentieth of a short one: a bar that
        # moves while the shots are found, whatever the clip's length.
        report_every = min(1.0, duration / REPORTS_AT_LEAST)
        first_time: float | None = None
        with open_video(ctx.path) as container:
            stream = container.streams.video[0]
            if float(fps) >= MIN_FPS_TO_SKIP:
                # Frames no other frame refers to (most B-frames) need not be decoded:
                # a third less work, and the frames left are never more than about 0.2 s apart.
                stream.codec_context.skip_frame = "NONREF"
            time_base = Fraction(stream.time_base or Fraction(1, 90000))
            width, height = scaled_size(media.width, media.height, ctx.settings.analysis_width)
            if media.rotation in (90, 270):  # decoded pictures are still lying on their side
                width, height = height, width
            try:
                for frame in container.decode(stream):
                    if frame.pts is None or frame.time is None:
                        continue
                    first_time = frame.time if first_time is None else first_time
                    t = last_time = frame.time - first_time
                    last_frame = frame
                    if t < next_analysis:
                        continue
                    next_analysis = t + analyse_gap
                    small = frame.reformat(
                        width=width, height=height, format="bgr24", interpolation="FAST_BILINEAR"
                    ).to_ndarray()
                    timecode = FrameTimecode(Timecode(pts=frame.pts, time_base=time_base), fps=fps)
                    for cut in detector.process_frame(timecode, small):
                        close_scene(cut.seconds - first_time)
                    if t >= next_sample:
                        next_sample = t + sample_every
                        step = 2 if width > SAMPLE_WIDTH else 1
                        rgb = upright(small[::step, ::step, ::-1], media.rotation)
                        ctx.samples.append((t, np.ascontiguousarray(rgb)))
                        picker.offer(_Candidate(t, keyframe_score(small), frame))
                    if t >= next_report:
                        ctx.progress(self.name, min(0.99, t / duration))
                        next_report = t + report_every
            except av.error.FFmpegError:
                pass  # A damaged tail: the scenes found before it stand.
            if first_time is not None and last_frame is not None and last_frame.pts is not None:
                end_code = FrameTimecode(Timecode(pts=last_frame.pts, time_base=time_base), fps=fps)
                for cut in detector.post_process(end_code):
                    close_scene(cut.seconds - first_time)

        end = last_time + 1.0 / float(fps)
        media.duration_s = round(min(media.duration_s, end) if media.duration_s else end, 3)
        emit(media.duration_s, picker.keyframe_before(media.duration_s + 1.0))
        ctx.progress(self.name, 1.0)
