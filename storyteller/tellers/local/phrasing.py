"""The local teller's words: sentence templates with many ways to say each thing, and the
small helpers (numbers, lists, headline case) that fill them without inventing anything."""

from __future__ import annotations

import random
import re
from collections.abc import Iterable, Sequence

from storyteller.tellers.local.reading import Light, Setting, Tone, word_set

# --- numbers and lists -------------------------------------------------------------------

_NUMBER_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
_ORDINALS = (
    "first", "second", "third", "fourth", "fifth",
    "sixth", "seventh", "eighth", "ninth", "tenth",
)  # fmt: skip


def number(n: int) -> str:
    """News style: words for zero to nine, digits from 10."""
    return _NUMBER_WORDS[n] if 0 <= n < len(_NUMBER_WORDS) else str(n)


def count(n: int, noun: str, plural: str | None = None) -> str:
    """'one shot', 'three shots', '12 shots'."""
    return f"{number(n)} {noun if n == 1 else plural or noun + 's'}"


def ordinal(position: int) -> str | None:
    """'first' for position 0; None past the tenth (the story then says 'a later shot')."""
    return _ORDINALS[position] if 0 <= position < len(_ORDINALS) else None


def join(items: Sequence[str]) -> str:
    """'a', 'a and b', 'a, b and c'."""
    if len(items) <= 1:
        return "".join(items)
    return f"{', '.join(items[:-1])} and {items[-1]}"


def length(seconds: float) -> str:
    """A duration as a reader says it, rounded: 'about eight seconds', 'about three minutes'."""
    if seconds < 0.5:
        return "less than a second"
    if seconds >= 90:
        return f"about {count(round(seconds / 60), 'minute')}"
    return f"about {count(round(seconds), 'second')}"


def upper_first(text: str) -> str:
    return text[:1].upper() + text[1:]


_SMALL_WORDS = word_set("a an and as at but by for in nor of on or per the to up via vs")


def headline_case(text: str) -> str:
    """Headline capitalisation: every word capitalised but short joining words (not first or
    last). A line written all in capitals is lowered first; other words keep their inner
    capitals ('iPhone', 'NASA')."""
    if not any(ch.islower() for ch in text):
        text = text.lower()
    words = text.split()
    out: list[str] = []
    for i, word in enumerate(words):
        lowered = word.lower()
        if 0 < i < len(words) - 1 and lowered in _SMALL_WORDS:
            out.append(lowered)
        elif word[:1].islower():
            out.append(upper_first(word))
        else:
            out.append(word)
    return " ".join(out)


def sign_headline(text: str) -> str:
    """On-screen text as a headline: kept as written when its writer chose the capitals
    ('Marché de Noël'), put in headline case when it is all capitals or all lower case."""
    letters = [ch for ch in text if ch.isalpha()]
    if any(ch.isupper() for ch in letters) and any(ch.islower() for ch in letters):
        return upper_first(text)
    return headline_case(text)


# --- choosing and filling --------------------------------------------------------------

_SLOT = re.compile(r"\{(\w+)\}")


class Phrasebook:
    """Picks wording with one random generator, so the same seed gives the same story, and
    avoids saying the same thing twice in one story while other wordings are left."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.used: set[str] = set()

    def pick(self, options: Iterable[str]) -> str:
        options = list(options)
        fresh = [o for o in options if o not in self.used] or options
        choice = self.rng.choice(fresh)
        self.used.add(choice)
        return choice

    def say(self, role: str, **slots: str) -> str:
        """One sentence of `role`, its slots filled, starting with a capital."""
        return upper_first(fill(self.pick(SENTENCES[role]), slots))


def fill(template: str, slots: dict[str, str]) -> str:
    # A slot value is never read as a template, so quoted words with braces stay as they are.
    return _SLOT.sub(lambda m: slots[m.group(1)], template)


def slots_of(template: str) -> set[str]:
    return set(_SLOT.findall(template))


# --- what the picture shows ------------------------------------------------------------

SETTING_PHRASES: dict[Setting, tuple[str, ...]] = {
    Setting.SNOW: (
        "snow-covered ground",
        "a snowy landscape",
        "ground blanketed in white",
        "a wintry, snow-covered view",
        "a stretch of fresh snow",
        "snow lying over the ground",
        "a snowbound scene",
    ),
    Setting.BEACH: (
        "a sandy shoreline",
        "sand running down to the water",
        "a beach beside open water",
        "a stretch of sand by the water",
        "the water's edge on a sandy shore",
        "sand and water side by side",
    ),
    Setting.WATER: (
        "a view over open water",
        "a waterfront",
        "a broad stretch of water",
        "the water's edge",
        "a scene by the water",
        "an expanse of water",
    ),
    Setting.FOLIAGE: (
        "trees in autumn colours",
        "autumn-coloured foliage",
        "leaves in shades of orange and red",
        "a landscape of turning leaves",
        "russet and orange leaves",
        "foliage in its autumn shades",
    ),
    Setting.GREEN: (
        "a green, leafy setting",
        "plenty of greenery",
        "a green outdoor space",
        "lush greenery",
        "a setting thick with green",
        "fresh green growth",
    ),
    Setting.INDOOR: (
        "an indoor setting",
        "an interior space",
        "a room indoors",
        "a scene shot indoors",
        "the inside of a building",
        "an indoor space",
    ),
    Setting.SKY: (
        "an outdoor view under open sky",
        "a wide view of the sky",
        "an open-air scene beneath the sky",
        "a scene with plenty of sky",
        "an outdoor setting under a broad sky",
        "a view that opens onto the sky",
    ),
    Setting.DARK: (
        "a dark, hard-to-read scene",
        "a scene in near darkness",
        "a view lost to shadow",
        "a dark setting",
        "a shadowy scene",
        "a scene with very little light",
    ),
    Setting.PLAIN: (
        "an everyday scene",
        "a plain view",
        "a simple setting",
        "an ordinary-looking scene",
        "an unremarkable view",
        "a nondescript setting",
    ),
}

# Short names for a summary of several shots: 'moving between snow and open sky'.
SETTING_NAMES: dict[Setting, tuple[str, ...]] = {
    Setting.SNOW: ("snow", "snowy ground", "the snow"),
    Setting.BEACH: ("the beach", "the shoreline", "sand and water"),
    Setting.WATER: ("the water", "open water", "the waterfront"),
    Setting.FOLIAGE: ("autumn leaves", "autumn foliage", "turning leaves"),
    Setting.GREEN: ("greenery", "green spaces", "leafy green"),
    Setting.INDOOR: ("indoor views", "interiors", "rooms indoors"),
    Setting.SKY: ("open sky", "outdoor views", "the open air"),
    Setting.DARK: ("darkness", "shadowy views", "low light"),
    Setting.PLAIN: ("plain views", "everyday scenes", "ordinary views"),
}

LIGHT_PHRASES: dict[Light, tuple[str, ...]] = {
    Light.DARK: (
        "low light",
        "very little light",
        "deep shadow",
        "gloomy light",
        "murky light",
        "scant light",
    ),
    Light.DIM: (
        "dim light",
        "subdued light",
        "soft, low light",
        "muted light",
        "half-light",
        "faint light",
    ),
    Light.EVEN: (
        "even light",
        "steady light",
        "moderate light",
        "ordinary light",
        "balanced light",
        "soft, even light",
    ),
    Light.BRIGHT: (
        "bright light",
        "strong light",
        "plenty of light",
        "clear, bright light",
        "full light",
        "generous light",
    ),
}

LIGHT_CHANGES: dict[str, tuple[str, ...]] = {
    "brighter": (
        "the light brightens",
        "the picture grows brighter",
        "more light comes into the frame",
        "the scene lightens",
        "it gets brighter",
        "the frame brightens",
    ),
    "darker": (
        "the light drops",
        "the picture darkens",
        "things grow dimmer",
        "the scene dims",
        "it gets darker",
        "the frame darkens",
    ),
}

FRAME_SHAPES: dict[str, tuple[str, ...]] = {
    "landscape": ("a wide, landscape frame", "a landscape frame", "a horizontal frame"),
    "portrait": ("a tall, portrait frame", "an upright frame", "a vertical frame"),
    "square": ("a square frame", "a square picture", "an even, square frame"),
}

TONE_WORDS: dict[Tone, tuple[str, ...]] = {
    Tone.MUTED: ("muted", "washed-out", "pale", "faded", "soft", "quiet"),
    Tone.NORMAL: ("",),
    Tone.VIVID: ("vivid", "rich", "strong", "bold", "saturated", "deep"),
}

COLOUR_CLAUSES = (
    ", mostly {colours}",
    ", with {colours} to the fore",
    ", its colours mostly {colours}",
    ", in shades of {colours}",
    ", dominated by {colours}",
    ", largely {colours} in tone",
)

PEOPLE: dict[str, tuple[str, ...]] = {
    "one": ("at least one person", "someone", "one person or more", "at least one face"),
    "many": ("at least {n} people", "{n} or more people", "no fewer than {n} people"),
}


def people(faces: int, book: Phrasebook) -> tuple[str, bool]:
    """How many people the face count lets the story say are there, never more than it
    shows, and whether the verb is plural: ('at least two people', True)."""
    if faces == 1:
        return book.pick(PEOPLE["one"]), False
    return fill(book.pick(PEOPLE["many"]), {"n": number(faces)}), True


SPEECH_SHARE: dict[str, tuple[str, ...]] = {
    "most": ("for most of the clip", "through much of the footage", "nearly throughout"),
    "part": ("for part of the clip", "at times", "now and then"),
    "brief": ("only briefly", "for a few moments", "just briefly"),
}

LANGUAGES = {
    "ar": "Arabic", "bg": "Bulgarian", "bn": "Bengali", "ca": "Catalan", "cs": "Czech",
    "cy": "Welsh", "da": "Danish", "de": "German", "el": "Greek", "en": "English",
    "es": "Spanish", "et": "Estonian", "fa": "Persian", "fi": "Finnish", "fr": "French",
    "ga": "Irish", "he": "Hebrew", "hi": "Hindi", "hr": "Croatian", "hu": "Hungarian",
    "id": "Indonesian", "is": "Icelandic", "it": "Italian", "ja": "Japanese", "ko": "Korean",
    "lt": "Lithuanian", "lv": "Latvian", "ms": "Malay", "nb": "Norwegian", "nl": "Dutch",
    "nn": "Norwegian", "no": "Norwegian", "pl": "Polish", "pt": "Portuguese",
    "ro": "Romanian", "ru": "Russian", "sk": "Slovak", "sl": "Slovenian", "sr": "Serbian",
    "sv": "Swedish", "sw": "Swahili", "ta": "Tamil", "th": "Thai", "tl": "Tagalog",
    "tr": "Turkish", "uk": "Ukrainian", "ur": "Urdu", "vi": "Vietnamese", "zh": "Chinese",
}  # fmt: skip


def language_name(code: str) -> str | None:
    return LANGUAGES.get(code.lower().split("-")[0])


# --- sentences, by the role they play ------------------------------------------------
# Each role has the same slots in every template; `Phrasebook.say` fills them. Templates
# hold no numbers: every number in a story comes from the evidence through a slot.

SENTENCES: dict[str, tuple[str, ...]] = {
    "clip": (
        "the video",
        "the footage",
        "the clip",
        "the recording",
        "this video",
        "the video footage",
    ),
    # The lede: what the footage shows overall.
    "lede": (
        "{clip} runs {length} and shows {setting}, {in_shots}.",
        "Over {length}, {clip} shows {setting} {in_shots}.",
        "{clip} captures {setting} {in_shots}, lasting {length} in all.",
        "Shot over {length}, {clip} takes in {setting} {in_shots}.",
        "{clip} offers {length} of {setting}, {in_shots}.",
        "In {length} of footage, told {in_shots}, the camera takes in {setting}.",
        "{clip} is a look at {setting}, {in_shots} over {length}.",
        "What {clip} shows, {in_shots} over {length}, is {setting}.",
    ),
    "lede_unseen": (
        "{clip} runs {length}, {in_shots}.",
        "Over {length}, {clip} plays out {in_shots}.",
        "{clip} lasts {length} and is told {in_shots}.",
        "Shot over {length}, {clip} unfolds {in_shots}.",
        "{clip} offers {length} of footage, {in_shots}.",
        "In {length} of footage, {clip} moves {in_shots}.",
    ),
    "people_none": (
        "No faces can be made out in any shot.",
        "Nobody's face is clearly in view at any point.",
        "No one is seen face-on.",
        "The camera catches no clear faces.",
        "No face shows up clearly in the footage.",
        "Faces do not feature; none can be made out.",
    ),
    "people_some": (
        "In the busiest shot, {people} can be seen.",
        "{people} can be seen in the footage.",
        "The camera picks out {people}.",
        "{people} {be} seen face-on at some point.",
        "Among the shots, {people} {be} clearly in view.",
        "At one point, {people} {be} on camera.",
        "{people} can be made out in the busiest shot.",
    ),
    # The scenes, in order.
    "single_shot": (
        "The camera holds a single shot from start to finish.",
        "There are no cuts: the view stays on one shot throughout.",
        "It is one continuous shot, with no change of scene.",
        "The clip never cuts away from its one shot.",
        "A single take carries the whole clip, without a cut.",
        "No edits break up the footage, which stays on one view.",
    ),
    "single_desc": (
        "It shows {desc}.",
        "What it shows is {desc}.",
        "The view is of {desc}.",
        "The frame holds {desc}.",
        "On screen is {desc}.",
        "The camera stays on {desc}.",
    ),
    "run_open": (
        "{where} {show} {desc}.",
        "At the start, {where} {show} {desc}.",
        "The footage begins with {desc}, in {where}.",
        "First comes {desc}, filling {where}.",
        "The camera starts on {desc} in {where}.",
        "In {where}, the camera takes in {desc}.",
    ),
    "run_change": (
        "Then {where} {turn} to {desc}.",
        "In {where}, the picture changes to {desc}.",
        "Next, {where} {show} {desc}.",
        "After a cut, {where} {show} {desc}.",
        "By {where}, the camera has moved to {desc}.",
        "The edit then moves on to {desc} in {where}.",
        "{where} {bring} {desc}.",
    ),
    "shift": (
        "In {where}, {change}.",
        "Then, in {where}, {change}.",
        "With {where}, {change}.",
        "By {where}, {change}.",
        "Come {where}, {change}.",
        "Later, in {where}, {change}.",
    ),
    "run_unseen": (
        "{where} {run} {length}.",
        "{where} {last} {length}.",
        "{where} {run} on for {length}.",
        "{where} {take} up {length}.",
        "{where} {fill} {length} of the footage.",
        "{where} {hold} the screen for {length}.",
    ),
    "run_people": (
        "{people} {be} in view.",
        "{people} can be seen there.",
        "The frame shows {people}.",
        "{people} {be} on camera there.",
        "{people} {appear} in the frame.",
        "The camera picks out {people} there.",
    ),
    "run_no_people": (
        "No faces are in view there.",
        "No one is seen face-on there.",
        "Faces are missing from the frame there.",
        "There are no faces to be seen.",
        "The frame holds no clear faces.",
        "No face can be made out there.",
    ),
    "people_arrive": (
        "In {where}, {people} {be} in view.",
        "{people} {come} into view in {where}.",
        "By {where}, {people} {be} on camera.",
        "With {where}, {people} {appear}.",
        "Then {people} {appear}, in {where}.",
        "In {where}, the camera finds {people}.",
    ),
    "people_change": (
        "In {where}, {people} {be} in view.",
        "By {where}, the frame holds {people}.",
        "{people} {be} on screen in {where}.",
        "The count of faces changes in {where}: {people} {be} in view.",
        "In {where}, the camera picks out {people}.",
        "With {where}, {people} {be} on camera.",
    ),
    "people_gone": (
        "In {where}, no faces are in view.",
        "By {where}, the faces have gone from the frame.",
        "No one is seen face-on in {where}.",
        "There are no faces in {where}.",
        "With {where}, the frame empties of faces.",
        "Faces drop out of view in {where}.",
    ),
    "frame": (
        "It is filmed in {frame}{definition}.",
        "The footage comes in {frame}{definition}.",
        "The picture sits in {frame}{definition}.",
        "Everything plays out in {frame}{definition}.",
        "The camera frames it all in {frame}{definition}.",
        "It was recorded in {frame}{definition}.",
    ),
    "same_look": (
        "The look hardly changes from one shot to the next.",
        "From shot to shot, the picture stays much the same.",
        "The cuts bring little change in what the camera sees.",
        "Each shot looks much like the one before.",
        "Little changes in the picture as the shots go by.",
        "The view stays consistent across the cuts.",
    ),
    "rest": (
        "After that, the clip moves through {more}, showing {settings}.",
        "The remaining footage, {more}, shows {settings}.",
        "The clip goes on for {more}, taking in {settings}.",
        "From there, the camera spends {more} on {settings}.",
        "The rest of the clip, {more} in all, shows {settings}.",
        "Across {more} after that, the camera takes in {settings}.",
    ),
    "rest_unseen": (
        "After that, the clip moves through {more}.",
        "The remaining footage runs to {more}.",
        "The clip goes on for {more}.",
        "The rest of the clip, {more} in all, follows on.",
        "From there, the camera runs through {more}.",
        "Across {more}, the footage carries on.",
    ),
    "longest": (
        "The longest shot, the {ordinal}, runs {length}.",
        "The {ordinal} shot is the longest, at {length}.",
        "At {length}, the {ordinal} shot lasts longest.",
        "The camera lingers longest in the {ordinal} shot, for {length}.",
        "No shot runs longer than the {ordinal}, at {length}.",
        "The {ordinal} shot holds the screen longest: {length}.",
    ),
    # What is said.
    "speech_share": (
        "Speech can be heard {share}.",
        "A voice is heard {share}.",
        "Someone speaks {share}.",
        "Words are spoken {share}.",
        "There is talking {share}.",
        "The sound carries speech {share}.",
    ),
    "speech_language": (
        "The words are in {language}, and are quoted here as spoken.",
        "The speech is in {language}; quotes keep the original words.",
        "What is said is in {language}, quoted here as heard.",
        "Whoever speaks does so in {language}, and the quotes stay in it.",
        "The talk is in {language}; the words are given as spoken.",
        "Speech in the clip is in {language}, and it is quoted unchanged.",
    ),
    "speech_unnamed": (
        "The words are quoted here as spoken.",
        "What is said is quoted as heard.",
        "Quotes below keep the words as they were spoken.",
        "The speech is given here as heard.",
        "The words are set down as spoken.",
        "Quoted lines keep the speaker's own words.",
    ),
    "quote_lead": (
        'One voice in the video says, "{quote}"',
        'A speaker can be heard saying, "{quote}"',
        'A voice on the recording says: "{quote}"',
        'Someone in the clip says, "{quote}"',
        'One line heard in the footage: "{quote}"',
        'A voice can be heard saying, "{quote}"',
        'The words heard include: "{quote}"',
    ),
    "quote_after": (
        '"{quote}", one voice in the video says.',
        '"{quote}", a speaker can be heard saying.',
        '"{quote}", a voice on the recording says.',
        '"{quote}", someone in the clip says.',
        '"{quote}", a voice can be heard saying.',
        '"{quote}", says a voice in the footage.',
    ),
    "quote_then_lead": (
        'Later, a voice says, "{quote}"',
        'A little later comes: "{quote}"',
        'Further on, a speaker says, "{quote}"',
        'Then comes another line: "{quote}"',
        'Later in the clip, the words are: "{quote}"',
        'A later line runs: "{quote}"',
    ),
    "quote_then_after": (
        '"{quote}", a voice says later.',
        '"{quote}", comes a little later.',
        '"{quote}", a speaker adds further on.',
        '"{quote}", the recording continues.',
        '"{quote}", a voice says later in the clip.',
        '"{quote}", follows a little later.',
    ),
    "no_audio": (
        "The clip has no sound track, so there are no words to quote.",
        "There is no audio in the file, and nothing spoken to report.",
        "The footage is silent: the file carries no sound.",
        "No sound was recorded with the footage, so no one can be quoted.",
        "Without a sound track, the clip offers no spoken words.",
        "The video carries no audio at all.",
    ),
    "no_speech": (
        "No clear speech can be heard, so nothing is quoted here.",
        "No words can be made out on the sound track.",
        "Nobody can be heard speaking clearly.",
        "The audio carries no speech that could be made out.",
        "There is sound, but no clear words to quote.",
        "Nothing said in the clip can be made out.",
    ),
    "unreadable_audio": (
        "The sound track could not be read, so nothing said is quoted.",
        "The audio could not be decoded, and no words are quoted.",
        "The clip's sound could not be read, so no speech is quoted.",
        "Its audio could not be decoded, leaving no words to quote.",
        "The sound track proved unreadable, so there are no quotes.",
        "What is said cannot be reported: the audio could not be decoded.",
    ),
    "unclear_speech": (
        "A voice can be heard, but no line is clear enough to quote.",
        "There is speech, though none of it is clear enough to quote.",
        "Someone speaks, but the words are too unclear to quote.",
        "Talking can be heard, but no line comes through clearly.",
        "A voice is heard, though its words cannot be made out with confidence.",
        "Speech is present but too indistinct to quote.",
    ),
    # What is written on screen.
    "text_first": (
        "Text on screen reads '{text}' {during}.",
        "{during}, words on screen read '{text}'.",
        "The words '{text}' can be read on screen {during}.",
        "{during}, the frame shows the words '{text}'.",
        "'{text}' appears on screen {during}.",
        "{during}, a caption or sign reads '{text}'.",
        "Lettering reads '{text}' {during}.",
    ),
    "text_more": (
        "{texts} can also be read on screen.",
        "Elsewhere, {texts} {appear} in the frame.",
        "The screen also shows {texts}.",
        "Other lettering reads {texts}.",
        "{texts} {appear} on screen as well.",
        "Further text in the footage reads {texts}.",
    ),
    "no_text": (
        "No text appears on screen.",
        "No writing can be read in the frame.",
        "There are no captions or signs to read.",
        "Nothing written shows up on screen.",
        "The frame carries no legible text.",
        "No words are written anywhere in view.",
    ),
    # The close.
    "closing": (
        "It was not immediately clear what happened next; the footage ends after {shots}.",
        "What came after is not shown: the recording stops after {length}.",
        "The video gives no hint of what followed, and it ends after {shots}.",
        "It is not clear from the footage how things went on from there; the clip closes after {shots}.",
        "Nothing in the clip says what came next. It ends after {length}.",
        "Whatever happened next stays off camera; the footage stops after {shots}.",
        "How the moment ended is not recorded; the clip wraps up after {length}.",
    ),
    "unknown": (
        "Who filmed it, and why, is not known.",
        "It is not known who was behind the camera.",
        "Who recorded the footage was not clear.",
        "The person who filmed it was not identified.",
        "There was no word on who made the recording.",
        "Why the footage was shot is not known.",
    ),
    "truncated": (
        "The file itself appears to stop short of its full length.",
        "The file seems cut short, holding less footage than it claims.",
        "The recording appears to end early, before its stated length.",
        "Part of the file seems to be missing at the end.",
        "The file looks truncated, ending before its stated end.",
        "The footage appears to break off before the file's stated end.",
    ),
}

# Verbs that agree with a run of one shot or several.
VERBS: dict[str, tuple[str, str]] = {
    "show": ("shows", "show"),
    "turn": ("turns", "turn"),
    "bring": ("brings", "bring"),
    "run": ("runs", "run"),
    "last": ("lasts", "last"),
    "take": ("takes", "take"),
    "fill": ("fills", "fill"),
    "hold": ("holds", "hold"),
    "be": ("is", "are"),
    "come": ("comes", "come"),
    "appear": ("appears", "appear"),
}


def verbs(plural: bool) -> dict[str, str]:
    return {name: forms[1 if plural else 0] for name, forms in VERBS.items()}


# --- titles --------------------------------------------------------------------------

TITLES_FROM_TEXT = (
    "{text}",
    "{text}, on Camera",
    "On Camera: {text}",
    "'{text}' Seen on Screen",
    "{text}: What the Footage Shows",
    "In the Frame: {text}",
    "Words on Screen: {text}",
)

TITLES_FROM_SPEECH = (
    "{phrase}",
    "'{phrase}'",
    "{phrase}, a Voice Says",
    "Heard on Camera: {phrase}",
    "In Their Words: {phrase}",
    "'{phrase}', Says a Voice",
)

TITLES_FROM_LOOK: dict[Setting, tuple[str, ...]] = {
    Setting.SNOW: (
        "Snow Blankets the Ground",
        "A Snowy Day, Caught on Camera",
        "Fresh Snow Covers the Scene",
        "Winter White Fills the Frame",
        "Snow Settles Over Everything in View",
        "A Cold, White World on Camera",
        "Snow Lies Over the Ground",
    ),
    Setting.BEACH: (
        "Where the Sand Meets the Water",
        "A Day by the Water's Edge",
        "Sand and Sea on Camera",
        "The Shoreline, Up Close",
        "Light on the Shoreline",
        "A Stretch of Sand and Water",
    ),
    Setting.WATER: (
        "By the Water, on Camera",
        "Open Water Fills the Frame",
        "A View Across the Water",
        "Life by the Water",
        "Waterside Scenes on Camera",
        "The Water's Edge, Up Close",
    ),
    Setting.FOLIAGE: (
        "Autumn Colours Take Over",
        "Leaves Turn Orange and Red",
        "Fall Foliage Fills the Frame",
        "A Season of Turning Leaves",
        "Autumn Paints the Scene",
        "Russet Leaves Set the Scene",
    ),
    Setting.GREEN: (
        "Green Spaces on Camera",
        "A Leafy, Green Scene",
        "Greenery Fills the Frame",
        "Out Among the Green",
        "A Green Scene Outdoors",
        "Fresh Green All Around",
    ),
    Setting.INDOOR: (
        "A Look Indoors",
        "An Indoor Scene, Up Close",
        "Indoors, in the Frame",
        "A Moment Indoors",
        "Inside the Room",
        "Inside, on Camera",
    ),
    Setting.SKY: (
        "Under an Open Sky",
        "Big Skies Over the Scene",
        "A Day Under Open Skies",
        "The Sky Takes Centre Stage",
        "Out Under the Sky",
        "Open Air, Wide Sky",
    ),
    Setting.DARK: (
        "In the Shadows",
        "A Scene in Low Light",
        "Glimpses in the Dark",
        "Shadows Fill the Frame",
        "Little Light, Deep Shadow",
        "A Dim View on Camera",
    ),
    Setting.PLAIN: (
        "A Moment Caught on Camera",
        "An Ordinary Scene, Recorded",
        "Everyday Scene on Camera",
        "A Glimpse of the Everyday",
        "Caught on Camera",
        "A Passing Moment on Film",
    ),
}

# Added to a setting's titles when faces are seen: they name no number of people.
TITLES_WITH_PEOPLE: dict[Setting, tuple[str, ...]] = {
    Setting.SNOW: ("Out in the Snow", "Braving the Snow on Camera", "Faces in the Snow"),
    Setting.BEACH: ("A Day at the Beach", "Beachgoers on the Shoreline", "Out on the Sand"),
    Setting.WATER: ("Out by the Water", "Faces by the Water", "A Day on the Waterfront"),
    Setting.FOLIAGE: ("Out Among the Autumn Leaves", "Faces in the Fall Colours"),
    Setting.GREEN: ("Out in the Green", "A Day Out Among the Trees"),
    Setting.INDOOR: ("Faces in the Room", "Gathered Indoors", "Caught on Camera Indoors"),
    Setting.SKY: ("Out Under Open Skies", "Faces in the Open Air"),
    Setting.DARK: ("Faces in the Half-Light", "Figures in the Shadows"),
    Setting.PLAIN: ("Faces on Camera", "People in the Frame", "Caught on Camera"),
}
