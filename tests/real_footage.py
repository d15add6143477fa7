"""The real footage of tests/assets/real, its written truth, and how a story is scored
against it. Shared by tests/tellers/test_real_footage.py and bench/quality.py."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from storyteller.config import Settings
from storyteller.pipeline.evidence import Evidence, dateline_season
from storyteller.pipeline.run import gather_evidence
from storyteller.story.model import Story
from storyteller.story.rules import StoryRules
from storyteller.story.validator import validate
from storyteller.tellers.base import tell
from storyteller.tellers.local.teller import LocalTeller

REAL = Path(__file__).parent / "assets" / "real"
SEEDS = (1, 2, 3)


def truths() -> dict[str, dict[str, Any]]:
    """The written truth of every clip, by file name."""
    data: dict[str, dict[str, Any]] = json.loads((REAL / "truth.json").read_text())
    return data


# What a story must say for it to claim a label. Quoted words (speech, on-screen text) are
# taken out first: a voice saying "snow" is not the story saying it.
CLAIMS: dict[str, str] = {
    "snow": r"\bsnow|\bwintry\b|\bwinter white\b",
    "sand": r"\bsand|\bbeach|\bshoreline",
    "beach": r"\bbeach",
    "water": r"\bwater(?!proof)|\bwaterfront|\bsea\b|\blake\b|\briver\b",
    "foliage": r"\bautumn|\bfoliage|\bturning leaves|\brusset|\bfall colou?rs",
    "sky": r"\bsky\b|\bskies\b",
    "indoor": r"\bindoors?\b|\binterior\b|\binside (?:a|the) (?:room|building)|\ba room\b",
    "outdoor": r"\boutdoors?\b|\bopen air\b|\bopen-air\b|\bout under\b|\boutside\b",
    "night": r"\bnight|\bafter dark\b",
    "winter": r"\bwinter|\bsnow|\bwintry\b",
    "autumn": r"\bautumn|\bfall foliage\b",
}
# What a story says of the camera (the local teller's wordings and their plain kin): a
# still camera claimed over footage the truth says moves, or the reverse, contradicts it.
CAMERA_CLAIMS: dict[str, str] = {
    "still": r"holds still|stays fixed|stays put|fixed camera|fixed position|camera held still",
    "moving": r"\bpan(?:s|ning)?\b|sweeps sideways|turns across the view|\bzoom|"
    r"pushes in and out|held by hand|handheld|hand holding it|in someone's hand|"
    r"shot by hand|sways in the hand|camera on the move",
}
NO_SPEECH = re.compile(
    r"no (?:clear )?speech|no words can be made out|nobody can be heard|nothing said|"
    r"no clear words|carries no speech|no spoken words|no one (?:can be heard|speaks)|"
    r"silent|no sound track|carries no audio|no audio",
    re.IGNORECASE,
)
PEOPLE = re.compile(
    r"\b(?:people|person|someone|somebody|a man|a woman|men|women|figures?|pedestrians?|"
    r"faces?|passers-by|walkers|characters?|a couple|crowd|cyclist|speaker|driver)\b",
    re.IGNORECASE,
)
NEGATION = re.compile(r"\b(?:no|not|none|nobody|nothing|never|without|cannot|can't|no one)\b", re.I)
ABSENCE = re.compile(
    r"\b(?:no|not|none|nobody|nothing|never|without|cannot|can't|unknown|isn't|aren't|"
    r"wasn't|weren't|unclear|no one)\b",
    re.IGNORECASE,
)
_QUOTED = re.compile(r"\"[^\"]*\"|'[^']*'(?!\w)|“[^”]*”")
_SENTENCE = re.compile(r"[^.!?]+(?:[.!?]+|$)")
_MONTH_SEASON = {
    12: "winter", 1: "winter", 2: "winter", 3: "spring", 4: "spring", 5: "spring",
    6: "summer", 7: "summer", 8: "summer", 9: "autumn", 10: "autumn", 11: "autumn",
}  # fmt: skip


def unquoted(text: str) -> str:
    return _QUOTED.sub(" ", text)


def sentences(story: Story) -> list[str]:
    """The body's sentences (title, dateline and disclaimer left out)."""
    found: list[str] = []
    for paragraph in story.paragraphs:
        # Quotes may hold full stops: sentences are cut on the text with quotes masked.
        masked = _QUOTED.sub(lambda m: "Q" * len(m.group(0)), paragraph)
        for match in _SENTENCE.finditer(masked):
            text = paragraph[match.start() : match.end()].strip()
            if text:
                found.append(text)
    return found


@dataclass
class Score:
    """What one story does against its clip's truth."""

    contradictions: list[str] = field(default_factory=list)
    quoted_speech: bool = False
    mentions_people: bool = False
    sentences: list[str] = field(default_factory=list)
    absences: int = 0
    valid: bool = True


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z']+", text.lower())


def quotes_speech(story: Story, spoken: list[str]) -> bool:
    """A passage in double quotes in the body is (mostly) words the truth says were spoken."""
    body = "\n".join(story.paragraphs)
    said = [set(_words(line)) for line in spoken]
    for match in re.finditer(r"\"([^\"]+)\"", body):
        words = _words(match.group(1))
        if words and any(sum(w in line for w in words) >= 0.7 * len(words) for line in said):
            return True
    return False


def score(story: Story, evidence: Evidence, truth: dict[str, Any], rules: StoryRules) -> Score:
    result = Score(sentences=sentences(story))
    text = unquoted(f"{story.title}. " + " ".join(story.paragraphs))
    for label in truth["must_not_claim"]:
        for sentence in _SENTENCE.findall(text):
            if re.search(CLAIMS[label], sentence, re.IGNORECASE) and not NEGATION.search(sentence):
                result.contradictions.append(f"{label}: {sentence.strip()}")
                break
    camera = truth.get("camera")
    if camera:
        wrong = CAMERA_CLAIMS["moving" if camera == "still" else "still"]
        for sentence in _SENTENCE.findall(text):
            if re.search(wrong, sentence, re.IGNORECASE) and not NEGATION.search(sentence):
                result.contradictions.append(f"camera {camera}: {sentence.strip()}")
                break
    if truth["has_speech"]:
        for sentence in _SENTENCE.findall(text):
            if NO_SPEECH.search(sentence):
                result.contradictions.append(f"no speech: {sentence.strip()}")
                break
        result.quoted_speech = quotes_speech(story, truth["spoken"])
    allowed = truth.get("seasons")
    season = dateline_season(evidence.season)
    if allowed is not None and season.value != "neutral" and season.value not in allowed:
        result.contradictions.append(f"season: {season.value}")
    # The month is free for neutral footage; when the evidence claims a season, the
    # dateline's month follows it, and the truth must allow it.
    if season.value != "neutral" and _MONTH_SEASON[story.date.month] != season.value:
        result.contradictions.append(f"month {story.date:%B} against {season.value}")
    result.mentions_people = any(
        PEOPLE.search(s) and not NEGATION.search(s) for s in _SENTENCE.findall(text)
    )
    result.absences = sum(1 for s in result.sentences if ABSENCE.search(unquoted(s)))
    result.valid = not validate(story.text, rules, season)
    return result


def evidence_of(name: str, settings: Settings) -> Evidence:
    return gather_evidence(REAL / name, settings, use_cache=False)


def stories_of(evidence: Evidence, rules: StoryRules) -> dict[int, Story]:
    teller = LocalTeller()
    return {seed: tell(teller, evidence, None, rules=rules, seed=seed) for seed in SEEDS}
