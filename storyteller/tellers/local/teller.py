"""The local teller: a grounded news-style story written from the evidence alone, offline."""

from __future__ import annotations

import random
from datetime import date
from pathlib import Path
from typing import ClassVar

from storyteller.pipeline.evidence import Evidence, ScreenText, SpeechNote, dateline_season
from storyteller.story.model import TITLE_MAX_CHARS, Story
from storyteller.story.repair import shorten_title
from storyteller.story.rules import StoryRules
from storyteller.story.season import Season
from storyteller.tellers.base import Teller, TellerError
from storyteller.tellers.local.gazetteer import City, pick_city
from storyteller.tellers.local.phrasing import (
    COLOUR_CLAUSES,
    FRAME_SHAPES,
    LIGHT_CHANGES,
    LIGHT_PHRASES,
    SENTENCES,
    SETTING_NAMES,
    SETTING_PHRASES,
    SPEECH_SHARE,
    TITLES_FROM_LOOK,
    TITLES_FROM_SPEECH,
    TITLES_FROM_TEXT,
    TITLES_WITH_PEOPLE,
    TONE_WORDS,
    Phrasebook,
    count,
    fill,
    headline_case,
    join,
    language_name,
    length,
    number,
    ordinal,
    people,
    sign_headline,
    verbs,
)
from storyteller.tellers.local.reading import (
    Light,
    Quote,
    Run,
    Setting,
    Shot,
    citable_text,
    is_english,
    key_phrase,
    latin_share,
    light_of,
    main_look,
    quotes,
    runs_of,
    setting_of,
    shot_at,
    shots_of,
    speech_share,
    tone_of,
)

# A story aims at about this many words; a longer draft is told again more briefly.
MAX_WORDS = 250
# How fully to tell: runs of alike shots told one by one (later ones are summed up in a
# sentence), whether the extras (longest shot, frame, who filmed) are told, lines quoted.
TELLINGS = ((4, True, 2), (3, False, 2), (2, False, 1), (1, False, 1))
# On-screen text must be read this surely, and mostly in Latin letters, to make the headline.
TITLE_TEXT_CONFIDENCE = 0.6
TITLE_TEXT_LATIN = 0.8
_LIGHT_ORDER = (Light.DARK, Light.DIM, Light.EVEN, Light.BRIGHT)
_GREYS = frozenset({"white", "grey", "gray", "black"})
# The shorter side of a picture from which it counts as high definition.
HD_PIXELS = 720
# A shot is called the longest only when it lasts this much longer than the next longest.
LONGEST_MARGIN = 1.2


class LocalTeller(Teller):
    """Writes from what the pipeline saw, heard and read, with no network and no model.

    The same evidence and seed always give the same story; another seed gives another
    wording, place and date."""

    name: ClassVar[str] = "local"

    def draft(
        self, evidence: Evidence, video: Path | None, *, seed: int, rules: StoryRules
    ) -> Story:
        rng = random.Random(f"{evidence.content_hash}:{seed}")
        return _Reporter(evidence, rules, Phrasebook(rng)).story()


def choose_dateline(evidence: Evidence, rules: StoryRules, rng: random.Random) -> tuple[City, date]:
    """A city where the video's season is true and an allowed date in that season.

    A season guessed too weakly to bind the dateline is still followed when the allowed
    dates let it be (snow stays in winter); otherwise any month and any city will do.
    """
    required = dateline_season(evidence.season)
    leaning = evidence.season.season
    for season in dict.fromkeys((leaning, required)):
        days = rules.allowed_dates(season)
        if days:
            return pick_city(season, rng), rng.choice(days)
    if required is Season.NEUTRAL:
        raise TellerError(
            f"no dateline date can be chosen: no day falls {rules.describe()}", code="no_date"
        )
    raise TellerError(
        f"no dateline date can be chosen: the video looks like {required}, so its date must "
        f"fall {rules.describe(required)}, and no allowed day does; widen the story dates",
        code="no_date",
    )


class _Reporter:
    """Writes one story from one video's evidence, every choice drawn from one phrasebook."""

    def __init__(self, evidence: Evidence, rules: StoryRules, book: Phrasebook) -> None:
        self.evidence = evidence
        self.rules = rules
        self.book = book
        self.shots = shots_of(evidence)
        self.texts = citable_text(evidence)
        self.quotes = quotes(evidence.transcript)
        self.runs_told, self.extras, self.quoted = TELLINGS[0]

    def say(self, role: str, **slots: str) -> str:
        return self.book.say(role, **slots)

    def story(self) -> Story:
        city, when = choose_dateline(self.evidence, self.rules, self.book.rng)
        title = self.title()
        for telling in TELLINGS:
            self.runs_told, self.extras, self.quoted = telling
            paragraphs = [self.lede(), self.scenes(), *self.words(), self.closing()]
            if sum(len(p.split()) for p in paragraphs) <= MAX_WORDS:
                break
        return Story(
            title=title,
            place=city.name,
            region=city.region,
            date=when,
            paragraphs=paragraphs,
            disclaimer=self.rules.disclaimer,
        )

    # --- the headline ------------------------------------------------------------------

    def title(self) -> str:
        """From the strongest evidence: prominent on-screen text, else a clause of the
        speech, else what the main scene looks like."""
        top = self.texts[0] if self.texts else None
        if (
            top is not None
            and top.confidence >= TITLE_TEXT_CONFIDENCE
            and latin_share(top.text) >= TITLE_TEXT_LATIN
        ):
            return self.fit_title(TITLES_FROM_TEXT, "text", sign_headline(top.text))
        phrase = key_phrase(self.evidence.transcript, TITLE_MAX_CHARS)
        if phrase:
            return self.fit_title(TITLES_FROM_SPEECH, "phrase", headline_case(phrase))
        setting = setting_of(main_look(self.evidence)) or Setting.PLAIN
        options = TITLES_FROM_LOOK[setting]
        if self.evidence.max_faces:
            options += TITLES_WITH_PEOPLE[setting]
        return self.book.pick(options)

    def fit_title(self, templates: tuple[str, ...], slot: str, value: str) -> str:
        fitting = [t for t in templates if len(fill(t, {slot: value})) <= TITLE_MAX_CHARS]
        if not fitting:
            return shorten_title(value)
        return fill(self.book.pick(fitting), {slot: value})

    # --- the lede ----------------------------------------------------------------------

    def lede(self) -> str:
        shots = len(self.shots)
        if shots == 1:
            in_shots = self.book.pick(
                ("in a single shot", "in one unbroken shot", "in one continuous shot")
            )
        else:
            in_shots = self.book.pick(
                (f"in {count(shots, 'shot')}", f"across {count(shots, 'shot')}")
            )
        slots = {
            "clip": self.book.pick(SENTENCES["clip"]),
            "length": length(self.evidence.media.duration_s),
            "in_shots": in_shots,
        }
        setting = setting_of(main_look(self.evidence))
        if setting is None:
            opening = self.say("lede_unseen", **slots)
        else:
            opening = self.say("lede", setting=self.book.pick(SETTING_PHRASES[setting]), **slots)
        faces = self.evidence.max_faces
        if not faces:
            return f"{opening} {self.say('people_none')}"
        who, plural = people(faces, self.book)
        return f"{opening} {self.say('people_some', people=who, **verbs(plural))}"

    # --- the shots, in order ---------------------------------------------------------------

    def scenes(self) -> str:
        if len(self.shots) == 1:
            shot = self.shots[0]
            told = [self.say("single_shot")]
            if shot.look is not None:
                told.append(self.say("single_desc", desc=self.describe(shot)))
            told.append(self.frame())
            return " ".join(told)
        runs = runs_of(self.shots)
        told = []
        previous: Run | None = None
        for i, run in enumerate(runs[: self.runs_told]):
            told += self.tell_run(run, previous, where=self.where(run, i, runs))
            previous = run
        if len(runs) == 1:
            told.append(self.say("same_look"))
        rest = runs[self.runs_told :]
        if rest:
            told.append(self.summarise(rest))
        if self.extras:
            told += self.longest()
            if any(shot.look is None for shot in self.shots):
                told.append(self.frame())
        return " ".join(told)

    def tell_run(self, run: Run, previous: Run | None, where: str) -> list[str]:
        agree = verbs(run.size > 1)
        if run.look is None:
            duration = sum(s.duration_s for s in run.shots)
            return [self.say("run_unseen", where=where, length=length(duration), **agree)]
        shot = max(run.shots, key=lambda s: s.duration_s)
        if previous is None:
            told = [self.say("run_open", where=where, desc=self.describe(shot), **agree)]
        elif previous.look is None or run.setting != previous.setting:
            told = [self.say("run_change", where=where, desc=self.describe(shot), **agree)]
        else:
            told = []
        fresh = previous is None or previous.look is None or run.setting != previous.setting
        if not fresh and previous is not None and run.light != previous.light:
            brighter = _LIGHT_ORDER.index(run.light or Light.EVEN) > _LIGHT_ORDER.index(
                previous.light or Light.EVEN
            )
            change = self.book.pick(LIGHT_CHANGES["brighter" if brighter else "darker"])
            told.append(self.say("shift", where=where, change=change))
            fresh = True  # the sentence above says where; a faces note can follow it
        before = previous.faces if previous is not None else 0
        if run.faces != before or (previous is None and run.faces):
            if fresh and run.faces:
                who, plural = people(run.faces, self.book)
                told.append(self.say("run_people", people=who, **verbs(plural)))
            elif fresh:
                told.append(self.say("run_no_people"))
            elif run.faces:
                who, plural = people(run.faces, self.book)
                role = "people_change" if before else "people_arrive"
                told.append(self.say(role, where=where, people=who, **verbs(plural)))
            else:
                told.append(self.say("people_gone", where=where))
        return told

    def describe(self, shot: Shot) -> str:
        """What one shot looks like: setting, light and main colours, from its look alone."""
        look = shot.look
        assert look is not None
        setting = setting_of(look) or Setting.PLAIN
        text = self.book.pick(SETTING_PHRASES[setting])
        if setting is Setting.DARK:
            return text  # its light and colours go without saying
        text += f" in {self.book.pick(LIGHT_PHRASES[light_of(look)])}"
        if look.colours:
            colours = join(look.colours[:3])
            if set(look.colours) - _GREYS:
                # Muted or vivid says something only of real colours, not of white and grey.
                tone = self.book.pick(TONE_WORDS[tone_of(look)])
                colours = f"{tone} {colours}" if tone else colours
            text += fill(self.book.pick(COLOUR_CLAUSES), {"colours": colours})
        return text

    def frame(self) -> str:
        """The shape of the picture (and its definition), from the probe."""
        width, height = self.evidence.media.width, self.evidence.media.height
        shape = "square" if width == height else "landscape" if width > height else "portrait"
        definition = ", in high definition" if min(width, height) >= HD_PIXELS else ""
        return self.say("frame", frame=self.book.pick(FRAME_SHAPES[shape]), definition=definition)

    def where(self, run: Run, told_index: int, runs: list[Run]) -> str:
        """How the story points at a run of shots: 'the first two shots', 'the final shot'."""
        size = run.size
        if told_index == 0:
            if size == 1:
                return self.book.pick(("the first shot", "the opening shot"))
            return self.book.pick(
                (f"the first {number(size)} shots", f"the opening {number(size)} shots")
            )
        if run is runs[-1]:
            if size == 1:
                return self.book.pick(("the final shot", "the last shot"))
            return self.book.pick(
                (f"the last {number(size)} shots", f"the final {number(size)} shots")
            )
        if size == 1:
            nth = ordinal(run.first)
            return f"the {nth} shot" if nth else "the next shot"
        return f"the next {number(size)} shots"

    def summarise(self, rest: list[Run]) -> str:
        more = count(sum(run.size for run in rest), "more shot")
        settings = list(dict.fromkeys(run.setting for run in rest if run.setting is not None))
        if not settings:
            return self.say("rest_unseen", more=more)
        names = [self.book.pick(SETTING_NAMES[s]) for s in settings]
        return self.say("rest", more=more, settings=join(names))

    def longest(self) -> list[str]:
        """The longest shot, when one clearly outlasts the others."""
        ranked = sorted(self.shots, key=lambda s: s.duration_s, reverse=True)
        shot = ranked[0]
        nth = ordinal(shot.position)
        if nth is None or shot.duration_s < LONGEST_MARGIN * ranked[1].duration_s:
            return []
        return [self.say("longest", ordinal=nth, length=length(shot.duration_s))]

    # --- what is said and written ---------------------------------------------------------

    def words(self) -> list[str]:
        """The speech and the on-screen text: one paragraph each when both have something to
        quote, else one paragraph for both."""
        spoken, written = self.speech(), self.screen_text()
        if self.quotes and self.texts:
            pair = [spoken, written]
            if self.book.rng.random() < 0.35:
                pair.reverse()
            return pair
        return [f"{spoken} {written}"]

    def speech(self) -> str:
        transcript = self.evidence.transcript
        if transcript is None or not transcript.text:
            if not self.evidence.media.has_audio:
                return self.say("no_audio")
            if self.evidence.speech_note is SpeechNote.UNREADABLE_AUDIO:
                return self.say("unreadable_audio")
            return self.say("no_speech")
        share = speech_share(self.evidence)
        key = "most" if share >= 0.6 else "part" if share >= 0.25 else "brief"
        told = [self.say("speech_share", share=self.book.pick(SPEECH_SHARE[key]))]
        if not is_english(transcript):
            name = language_name(transcript.language)
            if name and transcript.language_probability >= 0.5:
                told.append(self.say("speech_language", language=name))
            else:
                told.append(self.say("speech_unnamed"))
        if not self.quotes:
            told.append(self.say("unclear_speech"))
        told += [self.quote(q, later=i > 0) for i, q in enumerate(self.quotes[: self.quoted])]
        return " ".join(told)

    def quote(self, quote: Quote, *, later: bool) -> str:
        """A quoted line with a speaker-neutral attribution; the quoted words are an exact
        piece of what the transcript says."""
        text = quote.text
        trimmed = text.rstrip(".")
        if text[-1] in "?!…" or not trimmed or self.book.rng.random() < 0.55:
            said = self.say("quote_then_lead" if later else "quote_lead", quote=text)
            return said if text[-1] in ".?!…" else f"{said}."
        return self.say("quote_then_after" if later else "quote_after", quote=trimmed)

    def screen_text(self) -> str:
        if not self.texts:
            return self.say("no_text")
        first, more = self.texts[0], self.texts[1:]
        told = [self.say("text_first", text=first.text, during=self.during(first))]
        if more:
            listed = join([f"'{line.text}'" for line in more])
            told.append(self.say("text_more", texts=listed, **verbs(len(more) > 1)))
        return " ".join(told)

    def during(self, line: ScreenText) -> str:
        position = shot_at(self.evidence, line.first_seen_s) if len(self.shots) > 1 else None
        if position is None:
            return self.book.pick(("at one point", "at one point in the clip"))
        nth = ordinal(position)
        return f"in the {nth} shot" if nth else "in a later shot"

    # --- the close ---------------------------------------------------------------------

    def closing(self) -> str:
        told = self.say(
            "closing",
            shots=count(len(self.shots), "shot"),
            length=length(self.evidence.media.duration_s),
        )
        if self.evidence.media.truncated:
            told += " " + self.say("truncated")
        return f"{told} {self.say('unknown')}" if self.extras else told
