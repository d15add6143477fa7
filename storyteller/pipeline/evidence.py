"""Evidence: everything the pipeline saw and heard in one video, as JSON-ready data."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, Field

from storyteller.story.season import Season

# Bump when stages change what they produce, so cached evidence is recomputed.
EVIDENCE_VERSION = 2


class SpeechNote(StrEnum):
    """Why a video has no transcript; the value is what users read."""

    NO_AUDIO = "the video has no sound track"
    NO_SPEECH = "no speech was heard"
    UNREADABLE_AUDIO = "the sound track could not be decoded"


class MediaInfo(BaseModel):
    """What the probe stage learned of the file."""

    container: str
    size_bytes: int
    duration_s: float = Field(description="Length measured by decoding, not from the header.")
    header_duration_s: float | None = Field(description="Length the container claims.")
    width: int = Field(description="Display width, after rotation.")
    height: int = Field(description="Display height, after rotation.")
    rotation: int = Field(description="Degrees the picture is turned for display.")
    fps: float
    frame_count: int = Field(description="Video frames in the file (counted from its packets).")
    video_codec: str
    audio_codec: str | None = None
    audio_sample_rate: int | None = None

    @property
    def has_audio(self) -> bool:
        return self.audio_codec is not None

    @property
    def truncated(self) -> bool:
        """The header promises noticeably more footage than the file holds."""
        if not self.header_duration_s:
            return False
        return self.header_duration_s - self.duration_s > max(1.0, 0.05 * self.header_duration_s)


class Look(BaseModel):
    """Light, colour and scene signals of a picture or a whole video (all 0..1).

    Each label (snow ... night) is a confidence that the picture shows it, from several
    cues (colour, texture, where in the frame, light), not a share of pixels of a colour."""

    brightness: float
    saturation: float
    colours: list[str] = Field(
        default_factory=list, description="Main colour names, strongest first."
    )
    snow: float = 0.0
    sky: float = 0.0
    sand: float = 0.0
    green: float = 0.0
    foliage: float = Field(default=0.0, description="Autumn-coloured foliage (orange, red, brown).")
    water: float = 0.0
    indoor: float = Field(default=0.5, description="Likelihood the footage is indoors.")
    outdoor: float = Field(default=0.0, description="Likelihood the footage is outdoors.")
    night: float = Field(default=0.0, description="Likelihood of an outdoor scene at night.")
    busy: float = Field(default=0.0, description="Share of strong edges (detail) in the frame.")


class Scene(BaseModel):
    """One shot between two cuts, with its representative keyframe."""

    index: int
    start_s: float
    end_s: float
    keyframe_s: float
    keyframe: str | None = Field(default=None, description="File name of the keyframe JPEG.")
    faces: int = Field(default=0, description="Most faces seen at once in this scene.")
    people: int = Field(
        default=0, description="People seen in the keyframe (whole figures or faces)."
    )
    people_where: str | None = Field(
        default=None, description="Where the people are: left, centre, right or across."
    )
    people_moving: bool | None = Field(
        default=None, description="Whether the people move (None: no people, or unknown)."
    )
    camera: str | None = Field(
        default=None, description="What the camera does: still, pan, zoom or handheld."
    )
    movement: float = Field(
        default=0.0, description="Share of the frame that moves by itself (0..1)."
    )
    look: Look | None = None

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s


class Word(BaseModel):
    start: float
    end: float
    text: str
    probability: float


class Segment(BaseModel):
    start: float
    end: float
    text: str
    words: list[Word] = Field(default_factory=list)
    voice: int | None = Field(
        default=None,
        description="Which voice speaks, told apart by pitch (0, 1, ...); None when unsure.",
    )


class Transcript(BaseModel):
    """What is said in the video, with times."""

    language: str
    language_probability: float
    model: str
    segments: list[Segment] = Field(default_factory=list)

    @property
    def text(self) -> str:
        return " ".join(s.text.strip() for s in self.segments if s.text.strip())


class ScreenText(BaseModel):
    """A line of text seen on screen (a sign, a caption, a scoreboard)."""

    text: str
    confidence: float
    first_seen_s: float
    last_seen_s: float
    frames: int = Field(description="Frames the line was read in.")


class SeasonGuess(BaseModel):
    season: Season
    confidence: float
    reasons: list[str] = Field(default_factory=list)


class Evidence(BaseModel):
    """The grounds of a story. Kept with the story and shown beside it."""

    version: int = EVIDENCE_VERSION
    content_hash: str = Field(description="SHA-256 of the file's bytes.")
    file_name: str
    media: MediaInfo
    scenes: list[Scene] = Field(default_factory=list)
    transcript: Transcript | None = Field(default=None, description="None when nothing is said.")
    speech_note: SpeechNote | None = Field(
        default=None, description="Why there is no transcript (no audio track, no speech)."
    )
    on_screen_text: list[ScreenText] = Field(default_factory=list)
    look: Look | None = None
    season: SeasonGuess = Field(
        default_factory=lambda: SeasonGuess(season=Season.NEUTRAL, confidence=0.0)
    )
    timings: dict[str, float] = Field(default_factory=dict, description="Seconds per stage.")

    @property
    def max_faces(self) -> int:
        return max((s.faces for s in self.scenes), default=0)

    @property
    def max_people(self) -> int:
        """Most people seen at once in a scene: whole figures or faces."""
        return max((max(s.people, s.faces) for s in self.scenes), default=0)


# A visual label (a Look's snow ... night) is stated from this confidence, hedged ("what
# looks like") from LABEL_HEDGE, and not told below.
LABEL_STATE = 0.6
LABEL_HEDGE = 0.4
# The season obeys the same gate: guessed with less confidence than a label needs to be
# stated, it does not constrain the dateline, whose month is then free.
SEASON_CONFIDENCE_FOR_DATELINE = LABEL_STATE


def dateline_season(guess: SeasonGuess) -> Season:
    """The season a dateline must agree with: neutral unless the guess is confident."""
    if guess.confidence >= SEASON_CONFIDENCE_FOR_DATELINE:
        return guess.season
    return Season.NEUTRAL
