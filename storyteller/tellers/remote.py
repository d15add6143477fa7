"""What every teller that asks a remote model shares: the prompt, the answer's schema, retries,
token usage and the draft-repair-reask loop (rate limits are gate.py's)."""

from __future__ import annotations

import email.utils
import json
import logging
import random
import re
import time
from abc import abstractmethod
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from pydantic import BaseModel, Field, ValidationError

from storyteller.errors import StorytellerError
from storyteller.pipeline.evidence import (
    LABEL_HEDGE,
    LABEL_STATE,
    Evidence,
    SpeechNote,
    dateline_season,
)
from storyteller.story.model import (
    MIN_PARAGRAPHS,
    TITLE_MAX_CHARS,
    Sentence,
    Source,
    SourceKind,
    Story,
)
from storyteller.story.repair import RepairError, repair
from storyteller.story.rules import StoryRules, month_list
from storyteller.story.season import Season, months_for
from storyteller.story.validator import validate
from storyteller.tellers.base import Teller, TellerError

log = logging.getLogger(__name__)

T = TypeVar("T")

# --- usage -------------------------------------------------------------------------


@dataclass(frozen=True)
class Usage:
    """Tokens a story cost, as the provider reported them, summed over every request made."""

    tokens_in: int = 0
    tokens_out: int = 0
    requests: int = 0

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.tokens_in + other.tokens_in,
            self.tokens_out + other.tokens_out,
            self.requests + other.requests,
        )


class RemoteStory(Story):
    """A story written by a remote model, with the tokens it cost (not part of the story's
    data: dumps leave it out)."""

    usage: Usage = Field(default_factory=Usage, exclude=True)
    model: str = Field(default="", exclude=True, description="Model that wrote it.")


def usage_of(story: Story) -> Usage | None:
    """The tokens a story cost, when a remote teller wrote it."""
    return story.usage if isinstance(story, RemoteStory) else None


def model_of(story: Story) -> str:
    """The model that wrote a story ("" when no remote model did)."""
    return story.model if isinstance(story, RemoteStory) else ""


class RemoteTellerError(TellerError):
    """A remote teller failed; `usage` holds the tokens spent on the way, so cost is kept."""

    def __init__(self, reason: str, *, code: str = "teller_failed", usage: Usage | None = None):
        super().__init__(reason, code=code)
        self.usage = usage or Usage()


# --- the answer ----------------------------------------------------------------------

# The JSON the model answers with, in the subset of JSON Schema that both Gemini's response
# schema and OpenAI's structured output accept. The disclaimer is ours, so it is not asked for.
STORY_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "title": {
            "type": "string",
            "description": f"Headline, at most {TITLE_MAX_CHARS} characters, no quote marks.",
        },
        "place": {"type": "string", "description": "City of the dateline."},
        "region": {"type": "string", "description": "State, region or country of the city."},
        "date": {"type": "string", "description": "Date of the dateline, YYYY-MM-DD."},
        "paragraphs": {
            "type": "array",
            "items": {"type": "string"},
            "minItems": MIN_PARAGRAPHS,
            "description": f"At least {MIN_PARAGRAPHS} plain-text body paragraphs.",
        },
        "sentences": {
            "type": "array",
            "description": "Every sentence of the paragraphs, in order, with the moments of "
            "the video it stands on.",
            "items": {
                "type": "object",
                "properties": {
                    "text": {
                        "type": "string",
                        "description": "The sentence exactly as written in its paragraph.",
                    },
                    "paragraph": {
                        "type": "integer",
                        "description": "Which paragraph it is in, from 0.",
                    },
                    "sources": {
                        "type": "array",
                        "description": "What it stands on; empty when nothing measured does.",
                        "items": {
                            "type": "object",
                            "properties": {
                                "kind": {
                                    "type": "string",
                                    "enum": [kind.value for kind in SourceKind],
                                    "description": "speech: a transcript line; text: text "
                                    "seen on screen; scene: a shot.",
                                },
                                "startS": {
                                    "type": "number",
                                    "description": "Start, in seconds, as the evidence gives it.",
                                },
                                "endS": {
                                    "type": "number",
                                    "description": "End, in seconds, as the evidence gives it.",
                                },
                            },
                            "required": ["kind", "startS", "endS"],
                        },
                    },
                },
                "required": ["text", "paragraph", "sources"],
            },
        },
    },
    "required": ["title", "place", "region", "date", "paragraphs", "sentences"],
}


class AnswerError(StorytellerError, ValueError):
    """The model's answer is not the JSON asked for; `reason` is told to the model."""


class _Answer(BaseModel):
    # Lenient on purpose: a long title or two paragraphs are the repair step's to fix.
    title: str
    place: str
    region: str
    date: date
    paragraphs: list[str]
    # Answers from before sentences were asked for (or that leave them out) still count.
    sentences: list[Any] = Field(default_factory=list)


def parse_answer(text: str, rules: StoryRules) -> Story:
    """The story in a model's JSON answer, with our disclaimer. Raises AnswerError."""
    cleaned = text.strip()
    fenced = re.fullmatch(r"```(?:json)?\s*(.*?)\s*```", cleaned, flags=re.DOTALL)
    if fenced:
        cleaned = fenced.group(1)
    try:
        data = json.loads(cleaned)
    except json.JSONDecodeError as exc:
        raise AnswerError(f"the answer is not valid JSON ({exc.msg} at line {exc.lineno})") from exc
    try:
        answer = _Answer.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'answer'}: {err['msg']}"
            for err in exc.errors()
        )
        raise AnswerError(f"the answer does not match the schema: {problems}") from exc
    return Story(
        title=answer.title,
        place=answer.place,
        region=answer.region,
        date=answer.date,
        paragraphs=answer.paragraphs,
        disclaimer=rules.disclaimer,
        sentences=_sentences(answer.sentences),
    )


def _sentences(told: list[Any]) -> list[Sentence]:
    """The sentences of an answer that can be read as such; a sentence that cannot is
    left out (the paragraphs then are split again: see `story.sentences.settle`), and so
    is a source that cannot, so a slip there never fails a story."""
    kept: list[Sentence] = []
    for item in told:
        if not isinstance(item, dict):
            continue
        raw_sources = item.get("sources")
        sources = []
        for source in raw_sources if isinstance(raw_sources, list) else []:
            try:
                sources.append(Source.model_validate(source))
            except ValidationError:
                continue
        try:
            kept.append(Sentence.model_validate({**item, "sources": sources}))
        except ValidationError:
            continue
    return kept


# --- the prompt ----------------------------------------------------------------------


def _span(start: float, end: float) -> str:
    return f"{start:.1f}-{end:.1f} s"


def evidence_lines(evidence: Evidence) -> list[str]:
    """What the pipeline saw and heard, as lines a model reads."""
    media = evidence.media
    lines = [
        f"Video: {evidence.file_name}, {media.duration_s:.1f} s, {media.width}x{media.height}.",
        "",
        "Transcript (what is said, with times):",
    ]
    if evidence.transcript and evidence.transcript.segments:
        lines += [
            f'- [{_span(s.start, s.end)}] "{s.text.strip()}"'
            for s in evidence.transcript.segments
            if s.text.strip()
        ]
    else:
        note = evidence.speech_note or SpeechNote.NO_SPEECH
        lines.append(f"- none: {note}. Quote nobody.")
    lines += ["", "Text seen on screen:"]
    if evidence.on_screen_text:
        lines += [
            f'- "{t.text}" (seen {_span(t.first_seen_s, t.last_seen_s)}, '
            f"read with confidence {t.confidence:.2f})"
            for t in evidence.on_screen_text
        ]
    else:
        lines.append("- none")
    lines += ["", "Shots:"]
    for scene in evidence.scenes:
        parts = [f"- shot {scene.index + 1}: {_span(scene.start_s, scene.end_s)}"]
        if scene.faces:
            parts.append(f"{scene.faces} face{'s' if scene.faces != 1 else ''}")
        if scene.people:
            where = f" {scene.people_where}" if scene.people_where else ""
            moving = (
                ""
                if scene.people_moving is None
                else (", moving" if scene.people_moving else ", still")
            )
            parts.append(
                f"{scene.people} {'person' if scene.people == 1 else 'people'}{where}{moving}"
            )
        if scene.camera:
            parts.append(f"camera {scene.camera}")
        if scene.look:
            parts.append(_look(scene.look))
        lines.append(", ".join(parts))
    if not evidence.scenes:
        lines.append("- no shot list")
    lines.append(f"Most faces seen at once: {evidence.max_faces}.")
    lines.append(f"Most people seen at once: {evidence.max_people}.")
    if evidence.look:
        lines.append(f"Overall look: {_look(evidence.look)}.")
    lines.append(
        f"Scene labels (snow, sky, sand, green, foliage, water, indoors) are confidences: "
        f'state one from {LABEL_STATE:.1f}, hedge it ("what looks like") from '
        f"{LABEL_HEDGE:.1f}, and say nothing of it below that."
    )
    guess = evidence.season
    reasons = f" ({'; '.join(guess.reasons)})" if guess.reasons else ""
    lines.append(f"Season guess: {guess.season} with confidence {guess.confidence:.2f}{reasons}.")
    return lines


def _look(look: Any) -> str:
    signals = {
        name: getattr(look, name)
        for name in ("snow", "sky", "sand", "green", "foliage", "water")
        if getattr(look, name) >= 0.1
    }
    text = f"brightness {look.brightness:.2f}, indoors {look.indoor:.2f}"
    if look.colours:
        text += f", colours {', '.join(look.colours)}"
    if signals:
        text += ", " + ", ".join(f"{k} {v:.2f}" for k, v in signals.items())
    return text


def story_prompt(
    evidence: Evidence,
    rules: StoryRules,
    *,
    problems: Sequence[str] = (),
    previous: str | None = None,
) -> str:
    """The request to the model: the story contract, then the evidence; on a second try, what
    was wrong with the previous answer."""
    season = dateline_season(evidence.season)
    months = months_for(season)
    if season is Season.NEUTRAL:
        month_rule = "any month fits this video"
    else:
        month_rule = (
            f"the video looks like {season}, so the month must be {month_list(months)}; "
            "choose a place where it is that season then"
        )
    lines = [
        "Write a short news-style story about this video, grounded in what it shows and says.",
        "",
        "Answer with JSON only, with these fields:",
        f"- title: a headline of at most {TITLE_MAX_CHARS} characters, no quote marks in it.",
        "- place and region: an invented, plausible city and its state, region or country.",
        f"- date: YYYY-MM-DD, {rules.describe(season)}; never in the future; {month_rule}.",
        f"- paragraphs: at least {MIN_PARAGRAPHS} body paragraphs of plain text (no markdown, "
        "no lists, no headings, no line breaks inside a paragraph).",
        "- sentences: every sentence of the paragraphs in order, each with its text exactly "
        "as in its paragraph (the sentences of a paragraph joined with single spaces must give "
        "the paragraph back), its paragraph's number from 0, and its sources: the moments "
        "below it stands on, each with its kind (speech: a transcript line; text: text seen "
        "on screen; scene: a shot) and the start and end in seconds as listed below. A "
        "sentence that no measured moment supports has no sources.",
        "Tell what the footage shows; invent nothing it contradicts. Quote only words from "
        "the transcript below, exactly as written; use the text seen on screen. Do not add a "
        f'disclaimer: this line is added after the story: "{rules.disclaimer}"',
        "",
        "What was measured in the video:",
        *evidence_lines(evidence),
    ]
    if problems:
        lines += ["", "Your previous answer broke the rules:"]
        lines += [f"- {problem}" for problem in problems]
        if previous:
            lines += ["It was:", previous.strip()]
        lines.append("Write the story again, fixing every one of these.")
    return "\n".join(lines)


# --- retries ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Failure:
    """How a failed request is handled: retried (after `delay_s` when the server asked for a
    delay) or given up at once with `reason`."""

    reason: str
    retry: bool
    delay_s: float | None = None
    code: str = "provider_error"


# Statuses worth another try: rate limited, a server error, a gateway that gave up.
RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})


def failure_for_status(
    provider: str, status: int, message: str, *, delay_s: float | None = None
) -> Failure:
    """A provider's HTTP error as a Failure with a reason a user can act on."""
    message = " ".join(message.split())[:300] or "no message"
    if status in (401, 403):
        return Failure(f"{provider} API key rejected ({status}): {message}", False, code="auth")
    if status == 429:
        return Failure(f"{provider} rate limit reached (429): {message}", True, delay_s)
    if status in RETRY_STATUSES:
        return Failure(f"{provider} server error ({status}): {message}", True, delay_s)
    return Failure(f"{provider} refused the request ({status}): {message}", False)


def parse_duration(text: str) -> float | None:
    """A protobuf Duration as JSON ('1s', '0.250s', '34.5s') in seconds."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d*)?)s\s*", text or "")
    return float(match.group(1)) if match else None


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """A Retry-After header (seconds, or an HTTP date) in seconds from now."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    now = now or datetime.now(UTC)
    return max(0.0, (when - now).total_seconds())


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with full jitter, or the server's own delay when it gives one."""

    max_retries: int = 4
    base_s: float = 1.0
    cap_s: float = 60.0
    # A server asking for more than this is not waited for: the call fails instead.
    max_server_delay_s: float = 300.0
    sleep: Callable[[float], None] = field(default=time.sleep, compare=False, repr=False)

    def backoff(self, retry: int, server_delay_s: float | None = None) -> float:
        """Seconds to wait before retry number `retry` (0 for the first)."""
        if server_delay_s is not None:
            # The server knows when it will have room; a little jitter so callers that were
            # turned away together do not come back together.
            return server_delay_s + random.uniform(0, min(self.base_s, server_delay_s / 10))
        return random.uniform(0, min(self.cap_s, self.base_s * 2**retry))

    def run(self, call: Callable[[], T], classify: Callable[[Exception], Failure | None]) -> T:
        """`call()`, retried on failures `classify` deems transient. A failure not retried (or
        the last one) raises RemoteTellerError with its reason; exceptions `classify` does not
        know (it returns None) pass through."""
        retry = 0
        while True:
            try:
                return call()
            except Exception as exc:
                failure = classify(exc)
                if failure is None:
                    raise
                if not failure.retry:
                    raise RemoteTellerError(failure.reason, code=failure.code) from exc
                if retry >= self.max_retries:
                    tries = f"{retry + 1} tr{'y' if retry == 0 else 'ies'}"
                    raise RemoteTellerError(
                        f"{failure.reason} (gave up after {tries})", code=failure.code
                    ) from exc
                if failure.delay_s is not None and failure.delay_s > self.max_server_delay_s:
                    raise RemoteTellerError(
                        f"{failure.reason} (the server asks to wait {failure.delay_s:.0f} s)",
                        code=failure.code,
                    ) from exc
                wait = self.backoff(retry, failure.delay_s)
                log.info("retrying in %.2f s: %s", wait, failure.reason)
                self.sleep(wait)
                retry += 1


# --- the teller --------------------------------------------------------------------------


@dataclass(frozen=True)
class Reply:
    """One answer of a model: its text and what it cost."""

    text: str
    usage: Usage


Ask = Callable[[str, int], Reply]


class RemoteTeller(Teller):
    """A teller that asks a remote model. Subclasses open a conversation about one video
    (uploading it if they must) that answers prompts; this class writes the prompt, reads the
    answer, repairs it, and asks again with the validator's findings when repair is not
    enough."""

    provider: ClassVar[str]
    # Asks after the first when an answer breaks the contract beyond repair.
    max_reasks: ClassVar[int] = 2

    @property
    @abstractmethod
    def model(self) -> str:
        """The model asked."""

    @abstractmethod
    def conversation(self, evidence: Evidence, video: Path | None) -> AbstractContextManager[Ask]:
        """A context in which `ask(prompt, seed)` answers about this video; whatever it
        needed (an uploaded file) is cleaned up when it ends."""

    def draft(
        self, evidence: Evidence, video: Path | None, *, seed: int, rules: StoryRules
    ) -> RemoteStory:
        season = dateline_season(evidence.season)
        usage = Usage()
        problems: list[str] = []
        prompt = story_prompt(evidence, rules)
        try:
            with self.conversation(evidence, video) as ask:
                for _ in range(1 + self.max_reasks):
                    reply = ask(prompt, seed)
                    usage += reply.usage
                    story, problems = _check(reply.text, rules, season)
                    if story is not None:
                        return RemoteStory(**story.model_dump(), usage=usage, model=self.model)
                    log.info("%s answer rejected: %s", self.provider, "; ".join(problems))
                    prompt = story_prompt(evidence, rules, problems=problems, previous=reply.text)
        except RemoteTellerError as exc:
            exc.usage = usage + exc.usage
            raise
        except TellerError as exc:
            raise RemoteTellerError(exc.reason, code=exc.code, usage=usage) from exc
        raise RemoteTellerError(
            f"{self.provider} ({self.model}) broke the story contract "
            f"{1 + self.max_reasks} times; last: {'; '.join(problems)}",
            code="story_invalid",
            usage=usage,
        )


def check_answer(text: str, rules: StoryRules, season: Season) -> tuple[Story | None, list[str]]:
    """The repaired story in an answer, or what is wrong with it, for the model to fix."""
    return _check(text, rules, season)


def _check(text: str, rules: StoryRules, season: Season) -> tuple[Story | None, list[str]]:
    """The repaired story in an answer, or what is wrong with it, for the model to fix."""
    try:
        raw = parse_answer(text, rules)
    except AnswerError as exc:
        return None, [exc.reason]
    try:
        story = repair(raw, rules, season)
    except RepairError as exc:
        return None, [f.message for f in validate(raw.text, rules, season)] + [exc.reason]
    findings = validate(story.text, rules, season)
    if findings:
        return None, [f.message for f in validate(raw.text, rules, season)]
    return story, []
