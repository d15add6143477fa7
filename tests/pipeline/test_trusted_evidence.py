"""Evidence that can be trusted: sound read packet by packet, labels from several cues,
people who are not facing the camera, and what the camera does."""

from __future__ import annotations

from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from storyteller.config import Settings
from storyteller.pipeline.evidence import ScreenText, Segment, SpeechNote
from storyteller.pipeline.frames import read_frames
from storyteller.pipeline.look import guess_season, look_of
from storyteller.pipeline.motion import scene_motion
from storyteller.pipeline.people import find_people
from storyteller.pipeline.probe import ProbeStage
from storyteller.pipeline.speech import (
    SpeechStage,
    decode_speech_audio,
    is_filler,
    merge_sentences,
    tell_voices,
    voice_pitch,
)
from storyteller.pipeline.stage import Context
from storyteller.pipeline.text import drop_partial_readings, join_captions, mend
from storyteller.story.season import Season
from tests.media import Clip, draw_look, speech_text, word_error_rate
from tests.real_footage import REAL

# --- sound ---------------------------------------------------------------------------


def damaged_ac3(source: Path, target: Path, *, damaged: int) -> None:
    """`source`'s picture and sound remuxed into Matroska with the sound in AC3, the first
    `damaged` audio packets overwritten with junk (as real files' first AC3 frame can be)."""
    with av.open(str(source)) as src, av.open(str(target), "w") as out:
        vin, ain = src.streams.video[0], src.streams.audio[0]
        vout = out.add_stream_from_template(vin)
        aout = out.add_stream("ac3", rate=48_000)
        resampler = av.AudioResampler(format="fltp", layout="stereo", rate=48_000)
        spoiled = 0
        for packet in src.demux(vin, ain):
            if packet.dts is None:
                continue
            if packet.stream is vin:
                packet.stream = vout
                out.mux(packet)
                continue
            for frame in packet.decode():
                for piece in resampler.resample(frame):
                    piece.pts = None
                    for encoded in aout.encode(piece):
                        if spoiled < damaged:
                            junk = bytes((i * 37 + 11) % 256 for i in range(encoded.size))
                            encoded.update(junk)
                            spoiled += 1
                        out.mux(encoded)
        out.mux(aout.encode())


@pytest.fixture(scope="module")
def ac3_speech(speech_clip: Clip, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("ac3") / "damaged-ac3.mkv"
    damaged_ac3(speech_clip.path, path, damaged=1)
    return path


def test_a_damaged_first_audio_packet_is_skipped(ac3_speech: Path, settings: Settings) -> None:
    from faster_whisper import decode_audio

    with av.open(str(ac3_speech)) as container:
        assert container.streams.audio[0].codec_context.name == "ac3"
    whole_file = decode_audio(str(ac3_speech), sampling_rate=16_000)
    audio, stream_length = decode_speech_audio(Context(path=ac3_speech, settings=settings))
    # The whole-file decoder stops at the damaged packet; packet by packet loses one frame.
    assert len(whole_file) < 0.1 * len(audio)
    assert len(audio) / 16_000 == pytest.approx(stream_length, abs=0.2)


def test_speech_after_a_damaged_packet_is_transcribed(
    ac3_speech: Path, speech_clip: Clip, settings: Settings
) -> None:
    ctx = Context(path=ac3_speech, settings=settings)
    ProbeStage().run(ctx)
    SpeechStage().run(ctx)
    assert ctx.transcript is not None, ctx.speech_note
    assert word_error_rate(speech_text(speech_clip.speech), ctx.transcript.text) < 0.25


def test_sound_that_cannot_be_read_is_not_called_silence(
    speech_clip: Clip, settings: Settings, tmp_path: Path
) -> None:
    path = tmp_path / "all-damaged.mkv"
    damaged_ac3(speech_clip.path, path, damaged=10_000)
    ctx = Context(path=path, settings=settings)
    ProbeStage().run(ctx)
    SpeechStage().run(ctx)
    assert ctx.transcript is None
    assert ctx.speech_note is SpeechNote.UNREADABLE_AUDIO


def test_pieces_of_a_sentence_are_joined() -> None:
    pieces = [
        Segment(start=0.0, end=1.0, text="You don't judge a book by its cover"),
        Segment(start=1.2, end=2.5, text="or a person from the outside."),
        Segment(start=2.8, end=3.5, text="Oh, that's a relief to hear."),
        Segment(start=6.0, end=7.0, text="Well"),
        Segment(start=9.5, end=10.5, text="that seems petty."),
    ]
    merged = merge_sentences(pieces)
    assert [s.text for s in merged] == [
        "You don't judge a book by its cover or a person from the outside.",
        "Oh, that's a relief to hear.",
        "Well",
        "that seems petty.",
    ]
    assert (merged[0].start, merged[0].end) == (0.0, 2.5)


# --- labels from several cues ----------------------------------------------------------


def real_frame(name: str, at: float, width: int = 160) -> np.ndarray:
    ((_, frame),) = read_frames(REAL / name, [at], width=width)
    return frame


def test_a_white_wall_is_not_snow_and_a_warm_dim_room_is_not_foliage() -> None:
    wall = look_of(real_frame("cup_wall.mp4", 4.0))
    door = look_of(real_frame("man_at_door.mp4", 1.0))
    room = look_of(real_frame("megamind.avi", 2.0))
    for look in (wall, door):
        assert look.snow < 0.4 and look.sky < 0.4
        assert guess_season(look).season is Season.NEUTRAL
    assert room.foliage < 0.4
    assert room.indoor >= 0.6
    assert guess_season(room).season is Season.NEUTRAL


def test_snow_and_foliage_are_still_seen() -> None:
    snow = look_of(cv2.resize(draw_look("snow", (640, 360)), (160, 90)))
    leaves = look_of(cv2.resize(draw_look("autumn", (640, 360)), (160, 90)))
    assert snow.snow >= 0.6 and guess_season(snow).season is Season.WINTER
    assert leaves.foliage >= 0.6 and guess_season(leaves).season is Season.AUTUMN


def test_a_street_is_not_called_indoors_and_a_blue_card_is_not_water() -> None:
    street = look_of(real_frame("street_bikes.mp4", 8.5))
    card = look_of(real_frame("title_card.mp4", 1.0))
    lawn = look_of(real_frame("people_walking.mp4", 5.0))
    assert street.indoor < 0.4
    assert card.water < 0.4 and card.sky >= 0.6
    assert lawn.outdoor >= 0.6 and lawn.indoor < 0.4


# --- people ----------------------------------------------------------------------------


def test_people_who_do_not_face_the_camera_are_found() -> None:
    walkers = find_people(real_frame("people_walking.mp4", 5.0, width=480))
    assert len(walkers) >= 2
    assert all(0 <= x <= 1 and 0 < h <= 1 for x, _, _, h in walkers)
    assert find_people(real_frame("cup_wall.mp4", 4.0, width=480)) == []


# --- motion ----------------------------------------------------------------------------


def moved(shift: tuple[float, float], zoom: float, frames: int) -> list[tuple[float, np.ndarray]]:
    """Half-second samples of a textured picture, the camera moving as told each time."""
    base = cv2.resize(draw_look("spring", (640, 360)), (320, 180))
    samples = []
    for i in range(frames):
        scale = (1 + zoom) ** i
        matrix = cv2.getRotationMatrix2D((160, 90), 0, scale)
        matrix[:, 2] += (shift[0] * i * (1 if i % 2 or shift[1] == 0 else -1), shift[1] * i)
        picture = cv2.warpAffine(base, matrix, (320, 180), borderMode=cv2.BORDER_REFLECT)
        samples.append((i * 0.5, cv2.resize(picture[45:135, 80:240], (160, 90))))
    return samples


def test_what_the_camera_does() -> None:
    assert scene_motion(moved((0, 0), 0.0, 6))[0] == "still"
    assert scene_motion(moved((8, 0), 0.0, 6))[0] == "pan"
    assert scene_motion(moved((0, 0), 0.06, 6))[0] == "zoom"


def jittered(pixels: float) -> list[tuple[float, np.ndarray]]:
    """Half-second samples of a still picture, shifted by `pixels` one way then the other."""
    samples = []
    for i, (t, frame) in enumerate(moved((0, 0), 0.0, 8)):
        shift = np.float32([[1, 0, pixels if i % 2 else -pixels], [0, 1, 0]])
        samples.append((t, cv2.warpAffine(frame, shift, (160, 90), borderMode=cv2.BORDER_REFLECT)))
    return samples


def test_a_camera_neither_still_nor_shaking_is_not_told() -> None:
    """Between steady and shaking (a camera braced in a moving car), the camera's motion is
    unknown: calling it fixed would say what the footage contradicts."""
    assert scene_motion(jittered(0.2))[0] == "still"
    assert scene_motion(jittered(0.5))[0] is None
    assert scene_motion(jittered(1.2))[0] == "handheld"


def test_how_much_of_the_frame_moves() -> None:
    still, moving = moved((0, 0), 0.0, 6), []
    for t, frame in still:
        frame = frame.copy()
        x = int(10 + 20 * t)
        cv2.rectangle(frame, (x, 30), (x + 12, 70), (20, 20, 20), -1)
        moving.append((t, frame))
    assert scene_motion(still)[1] < 0.01
    camera, share = scene_motion(moving)
    assert camera == "still" and share > 0.01


def test_samples_are_not_needed_for_a_one_frame_scene() -> None:
    assert scene_motion([(0.0, np.zeros((90, 160, 3), np.uint8))]) == (None, 0.0)


# --- on-screen text ----------------------------------------------------------------------


def line(
    text: str, first: float, last: float, frames: int = 2, confidence: float = 0.9
) -> ScreenText:
    return ScreenText(
        text=text, confidence=confidence, first_seen_s=first, last_seen_s=last, frames=frames
    )


def test_obvious_ocr_slips_are_mended_and_real_words_kept() -> None:
    assert mend("CITY MARATHCN") == "CITY MARATHON"
    assert mend("ROUTE 9 CL0SED") == "ROUTE 9 CLOSED"
    assert mend("Harbour Festivai") == "Harbour Festival"  # British spelling left as it is
    assert mend("Caminandes") == "Caminandes"  # a name: no near word to take for it
    assert mend("Marché de Noël") == "Marché de Noël"


def test_the_lines_of_one_caption_are_joined() -> None:
    joined = join_captions(
        [
            line("BREAKING NEWS", 1.0, 3.0),
            line("Flooding closes the high street", 1.0, 3.0),
            line("Later sign", 5.0, 6.0),
        ]
    )
    assert [j.text for j in joined] == [
        "BREAKING NEWS Flooding closes the high street",
        "Later sign",
    ]


def test_a_title_caught_half_drawn_is_not_a_line_of_its_own() -> None:
    kept = drop_partial_readings(
        [line("Camnad", 0.5, 0.5, 1, 0.92), line("Caminandes", 1.0, 3.1, 4, 1.0)]
    )
    assert [k.text for k in kept] == ["Caminandes"]


# --- voices ------------------------------------------------------------------------------


def voiced(pitch: float, seconds: float) -> np.ndarray:
    """A buzz with a voice's harmonics at `pitch` Hz, 16 kHz."""
    t = np.arange(int(seconds * 16_000)) / 16_000
    return sum(np.sin(2 * np.pi * pitch * k * t) / k for k in range(1, 6)).astype(np.float32)


def test_voices_are_told_apart_by_pitch() -> None:
    audio = np.concatenate([voiced(115, 1.5), voiced(230, 1.5), voiced(120, 1.5)])
    assert voice_pitch(audio, 0.0, 1.5) == pytest.approx(115, rel=0.05)
    segments = [
        Segment(start=0.0, end=1.5, text="First line."),
        Segment(start=1.5, end=3.0, text="An answer."),
        Segment(start=3.0, end=4.5, text="The first voice again."),
    ]
    assert [s.voice for s in tell_voices(segments, audio)] == [0, 1, 0]


def test_vocal_sounds_are_not_speech() -> None:
    assert is_filler("Mm-hmm.") and is_filler("Uh, oh")
    assert not is_filler("Oh, that's a relief to hear.")
