"""What a batch will cost before it is sent: tokens, dollars and time, per video and in all.

Tokens follow how the providers count them (their documentation, late 2026): Gemini 2.x
sees 258 tokens a frame (66 at low media resolution), Gemini 3 70 a frame at low or
medium resolution (280 at high), at `gemini_fps` frames a second, plus 32 tokens a second
of sound; an OpenAI-compatible model sees each keyframe as an image (about 765 tokens at
full detail). Around that: the instructions and the evidence as text, and the answer.
These are estimates: what a story really cost is recorded with it.
"""

from __future__ import annotations

from dataclasses import dataclass

from storyteller.config import Settings
from storyteller.tellers.pricing import price_of

# The story contract and the instructions, in tokens (about 1,350 characters of prompt
# for a short clip, measured on the test clips, and 470 more asking for the sentences).
PROMPT_TOKENS = 460
# The evidence grows with the video: about 2.5 words a second of transcript with its
# times, a shot line every 7.5 s or so, on-screen text. Measured on a 60 s clip with
# speech throughout and 8 shots: about 7 tokens a second.
EVIDENCE_TOKENS_PER_S = 7.0
# A story of four or five paragraphs as JSON (450), with each sentence again beside the
# moments it stands on: about three times the paragraphs alone (measured on the local
# teller's stories of the test evidence written as answers: a median of 134 tokens
# without sentences, 463 with them).
ANSWER_TOKENS = 1_350
AUDIO_TOKENS_PER_S = 32
OPENAI_IMAGE_TOKENS = 765
# One scene every 7.5 s or so, as the pipeline usually cuts.
SECONDS_PER_SCENE = 7.5
# Our own analysis runs at about this fraction of real time on two cores.
ANALYSIS_PER_S = 0.15
# What a remote model takes to answer one video, in seconds, beside its length.
REMOTE_BASE_S = 8.0
REMOTE_PER_S = 0.05


@dataclass(frozen=True)
class VideoEstimate:
    name: str
    duration_s: float
    tokens_in: int
    tokens_out: int
    dollars: float | None  # None when the model's price is unknown


@dataclass(frozen=True)
class BatchEstimate:
    teller: str
    model: str
    videos: list[VideoEstimate]
    expected_s: float

    @property
    def tokens_in(self) -> int:
        return sum(video.tokens_in for video in self.videos)

    @property
    def tokens_out(self) -> int:
        return sum(video.tokens_out for video in self.videos)

    @property
    def dollars(self) -> float | None:
        costs = [video.dollars for video in self.videos if video.dollars is not None]
        return round(sum(costs), 6) if len(costs) == len(self.videos) else None


def model_for(settings: Settings, teller: str) -> str:
    return {"gemini": settings.gemini_model, "openai": settings.openai_model}.get(teller, "")


def _gemini_frame_tokens(settings: Settings) -> int:
    resolution = settings.gemini_media_resolution
    if settings.gemini_model.startswith("gemini-3"):
        return 280 if resolution == "high" else 70
    return 66 if resolution == "low" else 258


def video_tokens(settings: Settings, teller: str, duration_s: float) -> tuple[int, int]:
    """Tokens in and out for one video of `duration_s` seconds."""
    if teller not in ("gemini", "openai"):
        return 0, 0  # written here, offline
    text = PROMPT_TOKENS + EVIDENCE_TOKENS_PER_S * duration_s
    if teller == "gemini":
        frames = duration_s * settings.gemini_fps
        media = frames * _gemini_frame_tokens(settings) + AUDIO_TOKENS_PER_S * duration_s
    else:
        scenes = max(1, round(duration_s / SECONDS_PER_SCENE))
        media = min(settings.openai_max_keyframes, scenes) * OPENAI_IMAGE_TOKENS
    return round(text + media), ANSWER_TOKENS


def estimate_batch(
    settings: Settings, teller: str, videos: list[tuple[str, float]], *, batch: bool = False
) -> BatchEstimate:
    """The estimate for videos given as (name, duration in seconds); `batch`: priced as
    Gemini Batch Mode (where the prices file has its price)."""
    model = model_for(settings, teller)
    price = price_of(settings, teller, model, batch=batch) if model else None
    estimates = []
    for name, duration in videos:
        tokens_in, tokens_out = video_tokens(settings, teller, duration)
        if teller in ("gemini", "openai"):
            dollars = None if price is None else round(price.cost(tokens_in, tokens_out), 6)
        else:
            dollars = 0.0
        estimates.append(VideoEstimate(name, duration, tokens_in, tokens_out, dollars))
    # Videos run `concurrent_jobs` at a time; each is analysed here, then (for a remote
    # teller) answered by the model.
    per_video = [
        ANALYSIS_PER_S * d + (REMOTE_BASE_S + REMOTE_PER_S * d if model else 0.0) for _, d in videos
    ]
    expected = sum(per_video) / max(1, settings.concurrent_jobs)
    return BatchEstimate(teller, model, estimates, round(expected, 1))
