"""The local teller's news wording: sentences by the role they play in a news story, each
with many structures (not synonyms) so seeds read differently. Slots are filled from the
evidence only; templates hold no numbers."""

from __future__ import annotations

# A voice: who says a quoted line. The footage never tells who, so neither does the story.
VOICE = (
    "a voice in the footage",
    "a speaker heard in the clip",
    "one of the voices on the recording",
    "a voice on the sound track",
    "someone heard in the video",
)

NEWS: dict[str, tuple[str, ...]] = {
    # --- ledes: the strongest grounded fact first -------------------------------------------
    "lede_quote": (
        '"{quote_trim}", {voice} says{context}.',
        '{Voice} says{context}: "{quote}"',
        '{Context_first}{voice} says: "{quote}"',
        '{Voice} puts it plainly{context}: "{quote}"',
        '"{quote_trim}", {voice} tells the camera{context}.',
    ),
    "lede_caption": (
        "A caption reading '{text}' fills the screen{context}.",
        "'{text}', the words on screen announce{context}.",
        "The screen spells out '{text}'{context}.",
        "Lettering spelling out '{text}' takes over the frame{context}.",
        "On screen, the words '{text}' stand out{context}.",
    ),
    "lede_people": (
        "{who} {act} {where}{setting}, in footage {camera_by}.",
        "{setting_first}{who_lower} {act} {where}, {camera_as}.",
        "Footage {camera_by} follows {who_lower} as {they_act} {where}{setting}.",
        "{who} {act} {where}{setting}, and the camera {camera_verb}.",
        "In a clip {camera_by}, {who_lower} {act} {where}{setting}.",
    ),
    "lede_scene": (
        "The footage takes in {setting_noun}, {camera_as}.",
        "{setting_noun_cap} fills the frame in footage {camera_by}.",
        "A camera that {camera_verb} shows {setting_noun}.",
        "The clip shows {setting_noun}, {camera_as}.",
        "In footage {camera_by}, {setting_noun} is the whole story.",
    ),
    "lede_bare": (
        "The clip runs {length} {take}, in {frame}.",
        "In {frame}, the short clip runs {length} {take}.",
        "The clip lasts {length} {take}, filmed in {frame}.",
        "Some {length} of footage in {frame}, {take}, is all the clip holds.",
        "The recording plays for {length} {take}, in {frame}.",
    ),
    # --- supporting detail --------------------------------------------------------------------
    "quote_more": (
        'Later comes: "{quote}"',
        'Then comes another line: "{quote}"',
        'The talk goes on: "{quote}"',
        'A later line runs: "{quote}"',
        'Further on: "{quote}"',
    ),
    "quote_same_voice": (
        'The same voice goes on: "{quote}"',
        'The speaker continues: "{quote}"',
        'The same speaker adds: "{quote}"',
        'Later the same voice says: "{quote}"',
        'The voice carries on: "{quote}"',
    ),
    "quote_other_voice": (
        'A second voice answers: "{quote}"',
        'Another voice replies: "{quote}"',
        'A different voice comes back: "{quote}"',
        'The reply, in another voice: "{quote}"',
        'Another speaker answers: "{quote}"',
    ),
    "exchange": (
        "Two or more voices trade lines {share}.",
        "The talk is an exchange between voices, heard {share}.",
        "Voices answer one another {share}.",
        "The sound carries a conversation {share}.",
        "More than one voice can be told apart, speaking {share}.",
    ),
    "monologue": (
        "Speech is heard {share}.",
        "Talk runs {share}.",
        "The words are spoken {share}.",
        "A voice fills the sound track {share}.",
        "Speaking goes on {share}.",
    ),
    "caption_more": (
        "The screen also carries {texts}.",
        "Further lettering reads {texts}.",
        "{texts} can be read on screen too.",
        "Elsewhere the frame shows {texts}.",
        "Text on screen adds {texts}.",
    ),
    "caption_support": (
        "The words '{text}' appear on screen {during}.",
        "{during_cap}, a caption reads '{text}'.",
        "Lettering on screen reads '{text}' {during}.",
        "'{text}' is written across the frame {during}.",
        "{during_cap}, the screen shows the words '{text}'.",
    ),
    # --- what is seen ------------------------------------------------------------------------
    "people_seen": (
        "{who} can be seen {where}{moving}.",
        "The camera picks out {who_lower} {where}{moving}.",
        "{where_cap}, {who_lower} can be made out{moving}.",
        "At the busiest moment, {who_lower} {be} on camera {where}{moving}.",
        "The footage shows {who_lower} {where}{moving}.",
    ),
    "camera_seen": (
        "Shot by a camera that {camera_verb}, the clip runs {length} {take}{backdrop}.",
        "For {length} {take}, the camera {camera_verb}{backdrop}.",
        "The picture comes {take} from a camera that {camera_verb}{backdrop}, over {length}.",
        "Over {length} {take}, the camera {camera_verb}{backdrop}.",
        "The camera {camera_verb} for {length} {take}{backdrop}.",
    ),
    "runs": (
        "The clip runs {length} {take}{backdrop}.",
        "It lasts {length} {take}{backdrop}.",
        "Over {length} {take}, the footage plays out{backdrop}.",
        "The footage runs {length} {take}{backdrop}.",
        "It all takes {length} {take}{backdrop}.",
    ),
    "things_move": (
        "Something in the frame moves while the view holds, {amount} of the picture in motion.",
        "Within the frame, {amount} of the picture is in motion.",
        "Movement fills {amount} of the picture as the clip goes on.",
        "The picture stirs: {amount} of it moves.",
        "Something moves before the camera, {amount} of the picture in motion.",
    ),
    "people_arrive": (
        "{who} {come} into view in the {nth} shot.",
        "The {nth} shot is where {who_lower} {appear}.",
        "By the {nth} shot, {who_lower} {be} in the frame.",
        "{who} {appear} from the {nth} shot on.",
        "In the {nth} shot, the camera finds {who_lower}.",
    ),
    "setting_change": (
        "By the {nth} shot, the view has moved to {setting}.",
        "The {nth} shot turns to {setting}.",
        "Then, in the {nth} shot, comes {setting}.",
        "The edit moves on to {setting} in the {nth} shot.",
        "In the {nth} shot, the picture shifts to {setting}.",
    ),
    "light": (
        "The light is {light}.",
        "It is all filmed in {light}.",
        "The scene sits in {light}.",
        "The pictures are lit by {light}.",
        "{light_cap} falls over the scene.",
    ),
    # --- the sound ---------------------------------------------------------------------------
    "close_ambient": (
        "With only background sound, the clip ends after {length}.",
        "Ambient sound runs under the pictures until the clip ends at {length}.",
        "Room sound carries the clip to its end after {length}.",
        "Background noise is all that is heard before the footage stops at {length}.",
        "The footage closes after {length}, with ambient sound throughout.",
    ),
    "close_silent": (
        "Silent throughout, the clip ends after {length}.",
        "The pictures, silent throughout, stop after {length}.",
        "The footage, a silent recording, closes after {length}.",
        "Pictures alone, silent, run {length} and stop.",
        "The silent recording ends after {length}.",
    ),
    "unreadable_audio": (
        "The sound track could not be read in full, so what is said cannot be quoted.",
        "Much of the audio could not be decoded, and no words are quoted from it.",
        "The sound could not be decoded, so speech in it cannot be reported.",
        "The audio track proved unreadable; whatever is said there goes unquoted.",
        "Its sound could not be read, so the story quotes no one.",
    ),
    "foreign": (
        "The speech is in {language}, and is quoted as spoken.",
        "The words are {language}, quoted here unchanged.",
        "Speakers use {language}; quotes keep their words.",
        "The talk is in {language}, given as heard.",
        "What is said is in {language} and appears here as spoken.",
    ),
    "unclear": (
        "A voice is heard {share}, too faint to quote.",
        "Speech comes through {share}, though unclearly.",
        "Someone speaks {share}, indistinctly.",
        "Talk can be heard {share}, muffled.",
        "A voice runs {share}, hard to make out.",
    ),
    "truncated": (
        "The file appears to stop short of its stated length.",
        "The recording seems cut off early, before its stated end.",
        "Part of the file looks to be missing at the end.",
        "The file breaks off early, before its stated length.",
        "The footage seems truncated, ending early.",
    ),
    # --- the close (one sentence at most on what is unknown) ---------------------------------------------------------------------------
    "close": (
        "The clip ends after {length}.",
        "After {length}, the footage stops.",
        "The recording closes {length} in.",
        "That is where the footage ends, {length} in.",
        "The video wraps up after {length}.",
    ),
    "unknown": (
        "Who filmed it, and when, is not known.",
        "The person behind the camera was not identified.",
        "There was no word on who made the recording.",
        "Why the footage was shot is not known.",
        "Its origin could not be established.",
    ),
}

CAMERA_VERB = {
    "still": ("holds still", "stays fixed", "stays put"),
    "pan": ("pans across the scene", "sweeps sideways", "turns across the view"),
    "zoom": ("zooms", "pushes in and out", "changes its zoom"),
    "handheld": ("is held by hand", "moves with the hand holding it", "sways in the hand"),
    None: ("rolls", "keeps rolling", "records"),  # unknown: says nothing of its motion
}
CAMERA_BY = {
    "still": ("from a fixed camera", "shot from a fixed position", "from a camera held still"),
    "pan": ("from a panning camera", "shot as the camera pans", "from a camera on the move"),
    "zoom": ("shot with a zoom", "from a zooming camera", "as the camera zooms"),
    "handheld": ("shot by hand", "from a handheld camera", "filmed handheld"),
    None: ("recorded on video", "captured on video", "caught on video"),
}
CAMERA_AS = {
    "still": ("seen from a fixed camera", "the camera held still", "from one fixed position"),
    "pan": ("as the camera pans", "the camera sweeping across", "the view panning"),
    "zoom": ("as the camera zooms", "the lens zooming", "the view drawing in and out"),
    "handheld": ("filmed handheld", "the camera in someone's hand", "shot by hand"),
    None: ("as the camera rolls", "on video", "as the recording runs"),
}
WHERE = {
    "left": ("on the left of the frame", "to the left", "at the left side"),
    "right": ("on the right of the frame", "to the right", "at the right side"),
    "centre": ("in the middle of the frame", "at the centre", "mid-frame"),
    "across": ("across the frame", "all over the frame", "throughout the shot"),
}
# How a story puts someone in a setting: "on fresh snow", "amid greenery", "under open sky".
SETTING_PREPOSITION = {
    "snow": "on",
    "sand": "on",
    "water": "by",
    "foliage": "among",
    "green": "amid",
    "sky": "under",
    "indoor": "in",
    "outdoor": "in",
    "night": "in",
}
# Short names for headlines: "Two People Move About in a Green Space".
TITLE_SETTING = {
    "snow": "the Snow",
    "sand": "the Sand",
    "water": "the Water",
    "foliage": "Autumn Leaves",
    "green": "a Green Space",
    "sky": "the Open Air",
    "indoor": "a Room",
    "outdoor": "the Open Air",
    "night": "the Night",
}
# What each visual label is called: stated, and hedged ("what looks like ...").
SETTING_NOUN = {
    "snow": ("snow-covered ground", "a snowy landscape", "fresh snow"),
    "sand": ("a sandy shore", "sand by the water", "a stretch of beach"),
    "water": ("open water", "a waterfront", "a stretch of water"),
    "foliage": ("trees in autumn colours", "turning autumn leaves", "autumn foliage"),
    "green": ("green, leafy surroundings", "greenery", "a stretch of grass and trees"),
    "sky": ("open sky", "a wide sky", "a broad sky"),
    "indoor": ("an indoor space", "a room indoors", "an interior"),
    "outdoor": ("an outdoor scene", "the open air", "a scene outdoors"),
    "night": ("a night scene", "a street at night", "the dark of night"),
}

LIGHT = {
    "dark": ("deep shadow", "very little light", "gloom"),
    "dim": ("dim light", "low light", "subdued light"),
    "bright": ("bright light", "strong light", "full light"),
}
