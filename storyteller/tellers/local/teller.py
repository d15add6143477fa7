"""The local teller: a grounded news story written from the evidence alone, offline.

It writes as a news desk would: the strongest grounded fact first (a line spoken in the
footage, a caption, people doing something), attributed; then supporting detail, what is
seen, and a short close. Which plan it follows depends on what the evidence holds; the seed
only chooses among wordings. Visual labels are stated when the evidence is sure of them,
hedged ("what looks like") in a middle band, and left out below it."""

from __future__ import annotations

import hashlib
import random
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import ClassVar

from storyteller.pipeline.evidence import (
    LABEL_HEDGE,
    LABEL_STATE,
    Evidence,
    Look,
    Scene,
    ScreenText,
    SpeechNote,
    dateline_season,
)
from storyteller.story.model import TITLE_MAX_CHARS, Sentence, Source, SourceKind, Story
from storyteller.story.rules import StoryRules
from storyteller.story.season import Season
from storyteller.tellers.base import Teller, TellerError
from storyteller.tellers.local.gazetteer import City, cities, pick_city
from storyteller.tellers.local.news import (
    CAMERA_AS,
    CAMERA_BY,
    CAMERA_VERB,
    LIGHT,
    NEWS,
    SETTING_NOUN,
    SETTING_PREPOSITION,
    TITLE_SETTING,
    VOICE,
    WHERE,
)
from storyteller.tellers.local.phrasing import (
    FRAME_SHAPES,
    SPEECH_SHARE,
    Phrasebook,
    count,
    fill,
    headline_case,
    join,
    language_name,
    length,
    number,
    ordinal,
    sign_headline,
    upper_first,
)
from storyteller.tellers.local.reading import (
    Quote,
    citable_text,
    is_english,
    latin_share,
    main_look,
    quotes,
    shot_at,
    speech_share,
    voices,
    word_set,
)

# A story aims at about this many words; a longer draft is told again more briefly.
MAX_WORDS = 250
# A visual label is stated from this confidence, hedged ("what looks like") from HEDGE.
STATE = LABEL_STATE
HEDGE = LABEL_HEDGE
# A still shot in which this share of the picture moves by itself has something moving.
MOVING = 0.05
# On-screen text must be read this surely, and mostly in Latin letters, to lead or headline.
TITLE_TEXT_CONFIDENCE = 0.6
TITLE_TEXT_LATIN = 0.8
# Labels in the order a story prefers them when several are sure.
LABELS = ("snow", "sand", "water", "foliage", "night", "green", "indoor", "sky", "outdoor")
_CONJUNCTIONS = word_set("and or but while as because so")
# Words a headline must not end on: it would read as a fragment.
_DANGLING = word_set(
    "a an and as at but by for from in into of on or the to with over under than that "
    "which who while like what looks"
)


@dataclass(frozen=True)
class Line:
    """A sentence as it is planned, with the evidence it is written from: a spoken line's
    segment, a caption's time on screen, the shots whose picture it tells of."""

    text: str
    sources: tuple[Source, ...] = ()


def spoken(start: float, end: float) -> Source:
    return Source(kind=SourceKind.SPEECH, start_s=max(0.0, start), end_s=max(0.0, start, end))


def on_screen(line: ScreenText) -> Source:
    start = max(0.0, line.first_seen_s)
    return Source(kind=SourceKind.TEXT, start_s=start, end_s=max(start, line.last_seen_s))


def seen_in(scenes: Iterable[Scene]) -> tuple[Source, ...]:
    return tuple(
        Source(
            kind=SourceKind.SCENE, start_s=max(0.0, s.start_s), end_s=max(0.0, s.start_s, s.end_s)
        )
        for s in scenes
    )


class LocalTeller(Teller):
    """Writes from what the pipeline saw, heard and read, with no network and no model.

    The same evidence and seed always give the same story; another seed gives another
    wording and date. The dateline city is the video's own (from its content hash), or the
    place the footage names."""

    name: ClassVar[str] = "local"

    def draft(
        self, evidence: Evidence, video: Path | None, *, seed: int, rules: StoryRules
    ) -> Story:
        rng = random.Random(f"{evidence.content_hash}:{seed}")
        return _Reporter(evidence, rules, Phrasebook(rng), seed=seed).story()


# Words that put a place name in a sentence: "live from Bergen", "welcome to Nice".
_PLACE_CUE = r"(?:in|from|to|at|near|outside|downtown|visit|visiting|welcome to|live from)"


def named_place(evidence: Evidence) -> City | None:
    """A gazetteer city the footage names: a caption that is the name (with its region or
    not), or the name after a word that makes it a place ("in", "from", "welcome to"), on
    screen or spoken. Names that are also words or first names ("Nice", "Jackson") need
    the same cue as any other, so a sentence opening "Nice to meet you" names no place."""
    captions = [" ".join(line.text.split()) for line in evidence.on_screen_text]
    said = list(captions)
    if evidence.transcript is not None:
        said += [s.text for s in evidence.transcript.segments]
    if not said:
        return None
    for city in cities():
        name = re.escape(city.name)
        alone = re.compile(rf"^{name}(?:,?\s+{re.escape(city.region)})?[.!]?$", re.IGNORECASE)
        cued = re.compile(rf"\b{_PLACE_CUE}\s+{name}\b", re.IGNORECASE)
        if any(alone.match(line) for line in captions) or any(cued.search(t) for t in said):
            return city
    return None


def choose_dateline(evidence: Evidence, rules: StoryRules, rng: random.Random) -> tuple[City, date]:
    """The video's city and an allowed date in its season.

    The city depends on the video alone (its content hash), whatever the seed, unless the
    footage names a place where its season is true; `rng` picks the date. A season guessed
    below the gate a visual label needs to be stated leaves the month free."""
    season = dateline_season(evidence.season)
    own = random.Random(hashlib.sha256(evidence.content_hash.encode()).hexdigest())
    named = named_place(evidence)
    days = rules.allowed_dates(season)
    if days:
        city = named if named is not None and named.fits(season) else pick_city(season, own)
        return city, rng.choice(days)
    if season is Season.NEUTRAL:
        raise TellerError(
            f"no dateline date can be chosen: no day falls {rules.describe()}", code="no_date"
        )
    raise TellerError(
        f"no dateline date can be chosen: the video looks like {season}, so its date must "
        f"fall {rules.describe(season)}, and no allowed day does; widen the story dates",
        code="no_date",
    )


def sightings(look: Look | None) -> list[tuple[str, bool]]:
    """The labels a story may use, strongest first, and whether each is sure (else hedged)."""
    if look is None:
        return []
    found = [(label, float(getattr(look, label))) for label in LABELS]
    kept = [(label, conf >= STATE) for label, conf in found if conf >= HEDGE]
    if any(label != "outdoor" for label, _ in kept):
        kept = [(label, sure) for label, sure in kept if label != "outdoor"]
    return kept


def headline(text: str) -> str | None:
    """A whole phrase as a headline of at most the allowed length, or None."""
    text = headline_case(text.strip().rstrip(".!?…,;:").strip())
    words = text.split()
    while words and (
        len(" ".join(words)) > TITLE_MAX_CHARS or words[-1].lower().strip(",;:") in _DANGLING
    ):
        if len(" ".join(words)) <= TITLE_MAX_CHARS:
            words.pop()
            continue
        # Too long: cut before a comma's next word or a conjunction (a whole clause ends
        # there), else before a preposition, as late as fits.
        cut = None
        best = (0, 0)
        for i in range(len(words) - 1, 2, -1):
            if len(" ".join(words[:i]).rstrip(",")) > TITLE_MAX_CHARS:
                continue
            word = words[i].lower()
            rank = 2 if words[i - 1].endswith(",") or word in _CONJUNCTIONS else 1
            if (word in _DANGLING or rank == 2) and (rank, i) > best:
                best, cut = (rank, i), i
        if cut is None:
            return None
        words = words[:cut]
        words[-1] = words[-1].rstrip(",;:")
    title = " ".join(words).rstrip(",;:-")
    return title if len(title.split()) >= 2 and '"' not in title else None


class _Reporter:
    """Writes one story from one video's evidence, every choice drawn from one phrasebook."""

    def __init__(
        self, evidence: Evidence, rules: StoryRules, book: Phrasebook, *, seed: int = 0
    ) -> None:
        self.evidence = evidence
        self.seed = seed
        self.rules = rules
        self.book = book
        self.rng = book.rng
        self.texts = citable_text(evidence)
        transcript = evidence.transcript
        self.english = transcript is not None and is_english(transcript)
        self.quotes = quotes(transcript, limit=3)
        self.scenes = sorted(evidence.scenes, key=lambda s: s.start_s)
        self.people = evidence.max_people
        self.seen = sightings(main_look(evidence))
        self.camera = self._camera()
        self.used_texts: set[str] = set()
        self.head = ""
        self._who: tuple[str, bool] | None = None
        self.said: dict[str, int] = {}
        self._noun: str | None = None

    # --- facts -------------------------------------------------------------------------

    def _camera(self) -> str | None:
        spans: dict[str, float] = {}
        for scene in self.scenes:
            if scene.camera:
                spans[scene.camera] = spans.get(scene.camera, 0.0) + scene.duration_s
        return max(spans, key=lambda c: spans[c]) if spans else None

    def pick(self, options: tuple[str, ...] | list[str]) -> str:
        return self.book.pick(options)

    # --- what each sentence stands on --------------------------------------------------

    def speech(self) -> tuple[Source, ...]:
        """Every segment in which something is said."""
        transcript = self.evidence.transcript
        segments = transcript.segments if transcript is not None else []
        return tuple(spoken(s.start, s.end) for s in segments if s.text.strip())

    def people_shots(self) -> tuple[Source, ...]:
        return seen_in(s for s in self.scenes if max(s.people, s.faces))

    def setting_shots(self) -> tuple[Source, ...]:
        """The shots showing the setting the story names: those whose own look shows its
        label, else (a look measured over the whole video) every shot."""
        if not self.seen:
            return ()
        label = self.seen[0][0]
        showing = [s for s in self.scenes if s.look and float(getattr(s.look, label)) >= HEDGE]
        return seen_in(showing or self.scenes)

    def context_sources(self) -> tuple[Source, ...]:
        """What `context` stands on: the people seen, else the setting."""
        if self.people:
            return self.people_shots()
        return self.setting_shots()

    def say(self, role: str, **slots: str) -> str:
        """One sentence of `role`. Consecutive seeds take consecutive wordings (from a start
        fixed per video and role), so two versions of one story never share a template."""
        options = NEWS[role]
        digest = hashlib.sha256(f"{self.evidence.content_hash}:{role}".encode()).digest()
        turn = self.said.get(role, 0)
        self.said[role] = turn + 1
        template = options[(digest[0] + self.seed + 2 * turn) % len(options)]
        return upper_first(fill(template, slots))

    def lead_caption(self) -> ScreenText | None:
        top = self.texts[0] if self.texts else None
        if (
            top is not None
            and top.confidence >= TITLE_TEXT_CONFIDENCE
            and latin_share(top.text) >= TITLE_TEXT_LATIN
        ):
            return top
        return None

    def who(self) -> tuple[str, bool]:
        """How many people the story may say are there, never more than were seen; the
        same words all through one story (the headline repeats the lede's)."""
        if self._who is None:
            self._who = self._count_people()
        return self._who

    def _count_people(self) -> tuple[str, bool]:
        n = self.people
        if n <= 1:
            return self.pick(("a person", "one person", "someone")), False
        # Counted in one frame of each shot: more may come and go.
        return self.pick((f"at least {number(n)} people", f"{number(n)} or more people")), True

    def moving(self) -> bool:
        return any(s.people_moving for s in self.scenes)

    def where(self) -> str:
        places = [s.people_where for s in self.scenes if s.people_where]
        return self.pick(WHERE[places[0]]) if places else ""

    def setting(self) -> str:
        """The strongest sure or hedged label as a noun phrase, or '' when none."""
        if not self.seen:
            return ""
        label, sure = self.seen[0]
        if self._noun is None:
            self._noun = self.pick(SETTING_NOUN[label])
        return self._noun if sure else f"what looks like {self._noun}"

    def in_setting(self) -> str:
        """' in <setting>' (' under <sky>'), or '' when nothing is sure enough to say."""
        setting = self.setting()
        if not setting:
            return ""
        return f" {SETTING_PREPOSITION[self.seen[0][0]]} {setting}"

    def camera_slots(self) -> dict[str, str]:
        camera = self.camera or "still"
        return {
            "camera_verb": self.pick(CAMERA_VERB[camera]),
            "camera_by": self.pick(CAMERA_BY[camera]),
            "camera_as": self.pick(CAMERA_AS[camera]),
        }

    # --- the story ---------------------------------------------------------------------

    def story(self) -> Story:
        city, when = choose_dateline(self.evidence, self.rules, self.rng)
        for quoted in (3, 2, 1):
            self.used_texts, self.said = set(), {}
            told = self.paragraphs(quoted)
            paragraphs = [" ".join(line.text for line in lines) for lines in told]
            if sum(len(p.split()) for p in paragraphs) <= MAX_WORDS:
                break
        return Story(
            title=self.head,
            place=city.name,
            region=city.region,
            date=when,
            paragraphs=paragraphs,
            disclaimer=self.rules.disclaimer,
            sentences=[
                Sentence(text=line.text, paragraph=index, sources=list(line.sources))
                for index, lines in enumerate(told)
                for line in lines
            ],
        )

    def paragraphs(self, quoted: int) -> list[list[Line]]:
        """The body, paragraph by paragraph, each a list of planned sentences."""
        caption = self.lead_caption()
        plans: list[str] = []
        if self.quotes and self.english:
            plans.append("quote")
        if caption is not None:
            plans.append("caption")
        if self.people:
            plans.append("people")
        # Variety in structure: a spoken line and a caption are both strong leads, and the
        # seed picks which goes first; people lead only when nothing is said or written.
        if len(plans) > 1 and plans[1] != "people" and self.rng.random() < 0.35:
            plans[0], plans[1] = plans[1], plans[0]
        plan = plans[0] if plans else ("scene" if self.seen else "bare")
        lede = {
            "quote": self.lede_quote,
            "caption": self.lede_caption,
            "people": self.lede_people,
            "scene": self.lede_scene,
            "bare": self.lede_bare,
        }[plan]()
        body = [[lede], *self.support(plan, quoted), self.seen_paragraph(plan), self.close()]
        return [p for p in body if p]

    # --- ledes and headlines ----------------------------------------------------------

    def context(self) -> str:
        if self.people:
            who, plural = self.who()
            return f", as {who} {'are' if plural else 'is'} seen on camera"
        setting = self.setting()
        return f", against {setting}" if setting else ""

    def lede_quote(self) -> Line:
        quote = self.quotes[0]
        context = self.context()
        text = quote.text
        voice = self.pick(VOICE)
        # News style puts the attribution after the quote; the quoted words stay exact.
        trim = text[:-1] if text.endswith(".") else text
        sentence = self.say(
            "lede_quote",
            quote=text,
            quote_trim=trim,
            voice=voice,
            Voice=upper_first(voice),
            context=context,
            Context_first=f"{upper_first(context[2:])}, " if context else "",
        )
        self.head = self.title_from(quote.text) or self.title_people() or self.title_scene()
        return Line(sentence, (spoken(quote.start_s, quote.end_s), *self.context_sources()))

    def title_from(self, spoken: str) -> str | None:
        """A headline from a spoken line: its longest sentence that makes a whole phrase."""
        found = [
            title
            for sentence in re.findall(r"[^.!?]+[.!?]*", spoken)
            if (title := headline(sentence)) is not None and len(title.split()) >= 3
        ]
        return max(found, key=len) if found else None

    def lede_caption(self) -> Line:
        caption = self.lead_caption()
        assert caption is not None
        self.used_texts.add(caption.text)
        context = self.context()
        sentence = self.say(
            "lede_caption",
            text=caption.text,
            context=context,
            context_after=f"{context}." if context else ".",
        )
        words = sign_headline(caption.text)
        head = headline(words) if len(words.split()) >= 2 else None
        if head is None:
            label = self.seen[0][0] if self.seen and self.seen[0][1] else None
            extra = (
                f"'{words}'{self.in_setting().replace(' in ', ' Over ')}"
                if label
                else f"'{words}' Fills the Screen"
            )
            head = headline(headline_case(extra)) if len(extra) <= TITLE_MAX_CHARS else None
        self.head = head or self.title_people() or self.title_scene()
        return Line(sentence, (on_screen(caption), *self.context_sources()))

    def act(self, plural: bool) -> tuple[str, str]:
        if self.moving() and self.camera == "still" and plural:
            return ("move about", "move about")
        if any(s.faces for s in self.scenes):  # a frontal face looks at the camera
            return ("face the camera" if plural else "faces the camera", "face the camera")
        if self.moving():
            return ("move" if plural else "moves", "move")
        return ("are on camera" if plural else "is on camera", "appear")

    def lede_people(self) -> Line:
        who, plural = self.who()
        act, bare = self.act(plural)
        setting = self.setting()
        slots = {
            "who": upper_first(who),
            "who_lower": who,
            "they_act": f"they {bare}" if plural else f"the person {act}",
            "act": act,
            "act_bare": bare,
            "where": self.where(),
            "setting": self.in_setting(),
            "setting_first": f"Against {setting}, " if setting else "",
            **self.camera_slots(),
        }
        sentence = re.sub(r"\s+([,.])", r"\1", self.say("lede_people", **slots))
        sentence = re.sub(r"\s{2,}", " ", sentence)
        self.head = self.title_people()
        return Line(sentence, self.people_shots())

    def title_people(self) -> str:
        if not self.people:
            return self.title_scene()
        who, plural = self.who()
        act, _ = self.act(plural)
        verb = {"is on camera": "in View", "are on camera": "in View"}.get(act, act)
        label = self.seen[0][0] if self.seen and self.seen[0][1] else None
        options = [f"{who} {verb}"]
        if label:
            options.insert(0, f"{who} {verb} in {TITLE_SETTING[label]}")
            options.insert(0, f"{who} {verb}{self.in_setting()}")
        for option in options:  # whole, never cut: a cut list reads as a fragment
            title = headline_case(option)
            if len(title) <= TITLE_MAX_CHARS:
                return title
        return headline(headline_case(options[-1])) or "People in View"

    def lede_scene(self) -> Line:
        setting = self.setting()
        self.head = self.title_scene()
        sentence = self.say(
            "lede_scene",
            setting_noun=setting,
            setting_noun_cap=upper_first(setting),
            **self.camera_slots(),
        )
        return Line(sentence, self.setting_shots())

    def title_scene(self) -> str:
        setting = self.setting()
        if setting:
            label = self.seen[0][0]
            camera = self.camera or "still"
            leads = {
                "still": ("A Fixed Camera on", "A Still View of", "A Steady Look at"),
                "pan": ("A Camera Pans Across", "A Panning View of", "A Sweep Across"),
                "zoom": ("A Camera Zooms In on", "A Zoom Into", "Closing In on"),
                "handheld": ("A Handheld Look at", "A Handheld View of", "By Hand, a Look at"),
            }[camera]
            hedge = "" if self.seen[0][1] else "what looks like "
            short = f"{hedge}{TITLE_SETTING[label]}"
            # The seed picks the structure; the first that fits whole is the headline.
            turn = self.seed % len(leads)
            ordered = leads[turn:] + leads[:turn]
            for option in [f"{lead} {setting}" for lead in ordered] + [
                f"{lead} {short}" for lead in ordered
            ]:
                title = headline_case(option)
                if len(title) <= TITLE_MAX_CHARS:
                    return title
        shots = len(self.scenes) or 1
        return "A Single Take" if shots == 1 else headline_case(f"{count(shots, 'shot')} in a Row")

    def lede_bare(self) -> Line:
        taken = max(1, len(self.scenes))
        shape = self.shape()
        brief = "A Short Clip" if self.evidence.media.duration_s < 30 else "A Clip"
        self.head = f"{brief} in a {shape.title()} Frame"
        take = "in one take" if taken == 1 else f"across {count(taken, 'shot')}"
        sentence = self.say(
            "lede_bare",
            length=length(self.evidence.media.duration_s),
            take=take,
            frame=self.pick(FRAME_SHAPES[shape]),
        )
        return Line(sentence, seen_in(self.scenes))

    # --- supporting detail -------------------------------------------------------------

    def support(self, plan: str, quoted: int) -> list[list[Line]]:
        told: list[list[Line]] = []
        lines = self.quotes[:quoted]
        if lines and (self.english or plan != "quote"):
            rest = lines[1:] if plan == "quote" else lines
            said = []
            for i, q in enumerate(rest):
                before = rest[i - 1] if i else (lines[0] if plan == "quote" else None)
                said.append(self.quote_line(q, first=before is None, before=before))
            if said:
                told.append(said)
        transcript = self.evidence.transcript
        if transcript is not None and transcript.text:
            share = speech_share(self.evidence)
            key = "most" if share >= 0.6 else "part" if share >= 0.25 else "brief"
            share_said = self.pick(SPEECH_SHARE[key])
            heard = self.speech()
            extra = []
            if not self.english:
                name = language_name(transcript.language)
                if name and transcript.language_probability >= 0.5:
                    extra.append(Line(self.say("foreign", language=name), heard))
            if not self.quotes:
                extra.append(Line(self.say("unclear", share=share_said), heard))
            elif voices(transcript) > 1:
                extra.append(Line(self.say("exchange", share=share_said), heard))
            else:
                extra.append(Line(self.say("monologue", share=share_said), heard))
            if extra:
                if told:
                    told[-1] += extra
                else:
                    told.append(extra)
        captions = [t for t in self.texts if t.text not in self.used_texts]
        if captions:
            first, more = captions[0], captions[1:]
            during = self.during(first)
            read = [
                Line(
                    self.say(
                        "caption_support",
                        text=first.text,
                        during=during,
                        during_cap=upper_first(during),
                    ),
                    (on_screen(first),),
                )
            ]
            if more:
                texts = join([f"'{t.text}'" for t in more])
                read.append(
                    Line(self.say("caption_more", texts=texts), tuple(on_screen(t) for t in more))
                )
            for t in captions:
                self.used_texts.add(t.text)
            told.append(read)
        return told

    def quote_line(self, quote: Quote, *, first: bool, before: Quote | None = None) -> Line:
        heard = (spoken(quote.start_s, quote.end_s),)
        voice = self.pick(VOICE)
        if first or before is None:
            return Line(f'{upper_first(voice)} says: "{quote.text}"', heard)
        # A change of speaker is said only when the sound tells the two voices apart.
        if quote.voice is not None and before.voice is not None:
            role = "quote_same_voice" if quote.voice == before.voice else "quote_other_voice"
            return Line(self.say(role, quote=quote.text), heard)
        return Line(self.say("quote_more", quote=quote.text), heard)

    def during(self, line: ScreenText) -> str:
        position = shot_at(self.evidence, line.first_seen_s) if len(self.scenes) > 1 else None
        if position is None:
            return self.pick(("at one point", "for a moment", "in the clip"))
        nth = ordinal(position)
        return f"in the {nth} shot" if nth else "in a later shot"

    # --- what is seen ------------------------------------------------------------------

    def seen_paragraph(self, plan: str) -> list[Line]:
        told: list[Line] = []
        if self.people and plan != "people":
            who, plural = self.who()
            where = self.where() or self.pick(("in shot", "before the camera", "on screen"))
            moving = (
                self.pick((", moving", ", in motion", ", on the move")) if self.moving() else ""
            )
            sentence = self.say(
                "people_seen",
                who=upper_first(who),
                who_lower=who,
                where=where,
                where_cap=upper_first(where),
                moving=moving,
                be="are" if plural else "is",
            )
            told.append(Line(sentence, self.people_shots()))
        duration = length(self.evidence.media.duration_s)
        shots = max(1, len(self.scenes))
        take = "in one take" if shots == 1 else f"across {count(shots, 'shot')}"
        setting = self.setting() if plan != "scene" else ""
        backdrop = (
            self.pick((f", with {setting} as the backdrop", f", taking in {setting}"))
            if setting
            else ""
        )
        every_shot = seen_in(self.scenes)
        if self.camera and plan != "scene":
            sentence = self.say(
                "camera_seen",
                length=duration,
                take=take,
                backdrop=backdrop,
                **self.camera_slots(),
            )
        else:
            sentence = self.say("runs", length=duration, take=take, backdrop=backdrop)
        told.append(Line(sentence, every_shot))
        told += self.shot_details()
        if not self.people and self.camera == "still":
            share = max((s.movement for s in self.scenes), default=0.0)
            if share >= MOVING:
                amount = "much" if share >= 0.3 else "part" if share >= 0.1 else "a small part"
                in_motion = seen_in(s for s in self.scenes if s.movement >= MOVING)
                told.append(Line(self.say("things_move", amount=amount), in_motion))
        light = self.light()
        if light:
            told.append(
                Line(self.say("light", light=light, light_cap=upper_first(light)), every_shot)
            )
        return told

    def light(self) -> str:
        """The light, when it is out of the ordinary (dark, dim or bright)."""
        look = main_look(self.evidence)
        if look is None:
            return ""
        key = (
            "dark"
            if look.brightness < 0.2
            else "dim"
            if look.brightness < 0.35
            else "bright"
            if look.brightness > 0.72
            else None
        )
        return self.pick(LIGHT[key]) if key else ""

    def shot_details(self) -> list[Line]:
        """What changes from shot to shot: people arriving, another setting."""
        told: list[Line] = []
        if len(self.scenes) < 2:
            return told
        with_people = [i for i, s in enumerate(self.scenes) if max(s.people, s.faces)]
        if with_people and with_people[0] > 0 and (nth := ordinal(with_people[0])):
            scene = self.scenes[with_people[0]]
            n = max(scene.people, scene.faces)
            who = "one person" if n == 1 else f"{number(n)} people"
            agree = {
                "come": "comes" if n == 1 else "come",
                "appear": "appears" if n == 1 else "appear",
                "be": "is" if n == 1 else "are",
            }
            sentence = self.say(
                "people_arrive", who=upper_first(who), who_lower=who, nth=nth, **agree
            )
            told.append(Line(sentence, seen_in([scene])))
        first = sightings(self.scenes[0].look)
        for i, scene in enumerate(self.scenes[1:], start=1):
            seen = sightings(scene.look)
            if seen and seen[0][1] and (not first or seen[0][0] != first[0][0]):
                nth = ordinal(i)
                if nth:
                    noun = self.pick(SETTING_NOUN[seen[0][0]])
                    sentence = self.say("setting_change", nth=nth, setting=noun)
                    told.append(Line(sentence, seen_in([scene])))
                break
        return told

    def shape(self) -> str:
        width, height = self.evidence.media.width, self.evidence.media.height
        return "square" if width == height else "landscape" if width > height else "portrait"

    # --- sound and the close -----------------------------------------------------------

    def close(self) -> list[Line]:
        told: list[Line] = []
        media = self.evidence.media
        transcript = self.evidence.transcript
        duration = length(media.duration_s)
        role = "close"
        if transcript is None or not transcript.text:
            if not media.has_audio:
                role = "close_silent"
            elif self.evidence.speech_note is SpeechNote.UNREADABLE_AUDIO:
                told.append(Line(self.say("unreadable_audio")))  # what is not known
            else:
                role = "close_ambient"
        # The end of the clip is where its last shot ends.
        last_shot = seen_in(self.scenes[-1:])
        if media.truncated:
            told.append(Line(self.say("truncated"), last_shot))
        told.append(Line(self.say(role, length=duration), last_shot))
        # At most one sentence on what is unknown (the unreadable sound or the cut-off file
        # is one already), and not in every story.
        if not told[:-1] and self.rng.random() < 0.1:
            told.append(Line(self.say("unknown")))  # stands on nothing measured
        return told
