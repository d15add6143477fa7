"""The speech stage: what is said in the video, with word times, by a bundled Whisper model."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import replace
from typing import TYPE_CHECKING

import av
import numpy as np

from storyteller.pipeline.evidence import Segment, SpeechNote, Transcript, Word
from storyteller.pipeline.stage import Context
from storyteller.pipeline.whisper_models import PROFILES, load_whisper

if TYPE_CHECKING:
    from faster_whisper.transcribe import Segment as WhisperSegment

SAMPLE_RATE = 16_000  # what Whisper listens at

NO_AUDIO = SpeechNote.NO_AUDIO
NO_SPEECH = SpeechNote.NO_SPEECH
UNREADABLE_AUDIO = SpeechNote.UNREADABLE_AUDIO

# Whisper's own rule for "this window is silence", applied again to what it returned:
# it thinks no one speaks and is unsure of the words it wrote.
NO_SPEECH_PROB = 0.6
# Sound is transcribed in windows of at most this long (memory), cut at a quiet moment
# found in the last CUT_SEARCH_S seconds of each window.
WINDOW_S = 120.0
CUT_SEARCH_S = 15.0
LOW_AVG_LOGPROB = -1.0
# Text this repetitive ("the the the ...") is Whisper looping, not speech.
MAX_COMPRESSION_RATIO = 2.4

# What Whisper writes over silence or music (learnt from subtitled videos). Kept only
# beside real speech: on their own they are taken as nothing said.
HALLUCINATIONS = frozenset(
    {
        "you",
        "thank you",
        "thank you very much",
        "thanks",
        "thank you for watching",
        "thanks for watching",
        "thank you so much for watching",
        "please subscribe",
        "subscribe to my channel",
        "bye",
        "music",
        "applause",
        "silence",
    }
)
# "[Music]", "(upbeat music)", "♪ ♪": sound descriptions, never words someone said.
_SOUND_TAG = re.compile(r"\[[^\]]*\]|\([^)]*\)|[♪♫♬*]+")
_NOT_WORD = re.compile(r"[^\w' ]+")


def _plain(text: str) -> str:
    """Lower case words only, for comparing with the hallucination phrases."""
    return " ".join(_NOT_WORD.sub(" ", text.lower()).split())


def is_sound_tag(text: str) -> bool:
    """The segment only describes a sound ("[Music]", "♪") or is empty."""
    return not _SOUND_TAG.sub(" ", text).strip(" .,!?-")


# Sounds a throat makes, not words: a yawn or a grunt is written "Mm-hmm" or "Uh".
FILLERS = frozenset(
    {"mm", "hmm", "mhm", "mm-hmm", "uh-huh", "uh", "um", "ah", "oh", "ooh", "huh", "hm", "mmm"}
)


def is_filler(text: str) -> bool:
    """Only vocal sounds ("Mm-hmm.", "Uh, oh"), no word anyone said."""
    words = re.findall(r"[\w'-]+", _SOUND_TAG.sub(" ", text).lower())
    return bool(words) and all(w.strip("-") in FILLERS for w in words)


def is_hallucination(text: str) -> bool:
    """Whisper's stock phrase for silence or music, a sound description, or vocal sounds."""
    return (
        is_sound_tag(text) or _plain(_SOUND_TAG.sub(" ", text)) in HALLUCINATIONS or is_filler(text)
    )


def keep_heard(segments: Iterable[WhisperSegment]) -> list[WhisperSegment]:
    """The segments that are speech: drops what Whisper wrote over silence, loops and
    sound descriptions; stock phrases ("Thanks for watching") survive only beside real speech."""
    kept = [
        s
        for s in segments
        if not (s.no_speech_prob > NO_SPEECH_PROB and s.avg_logprob < LOW_AVG_LOGPROB)
        and s.compression_ratio <= MAX_COMPRESSION_RATIO
        and not is_sound_tag(s.text)
    ]
    if all(is_hallucination(s.text) for s in kept):
        return []
    return kept


def _clamp(t: float, length: float) -> float:
    return round(min(max(t, 0.0), length), 3)


def to_segment(segment: WhisperSegment, length: float, after: float = 0.0) -> Segment:
    """One evidence segment, its words in order, none starting before `after` or ending
    after `length` (Whisper's word times can overlap a little or run past the end)."""
    words: list[Word] = []
    cursor = _clamp(after, length)
    for w in segment.words or []:
        text = w.word.strip()
        if not text:
            continue
        start = max(_clamp(w.start, length), cursor)
        end = max(_clamp(w.end, length), start)
        words.append(Word(start=start, end=end, text=text, probability=round(w.probability, 3)))
        cursor = end
    start = max(_clamp(segment.start, length), _clamp(after, length))
    if words:
        start = min(start, words[0].start)
    end = max(_clamp(segment.end, length), words[-1].end if words else start)
    return Segment(start=start, end=end, text=segment.text.strip(), words=words)


def speech_windows(audio: np.ndarray, window_s: float | None = None) -> list[tuple[int, int]]:
    """Sample ranges of at most `window_s` seconds covering the sound track, each cut at
    the quietest half second near its end, so no word is split between two windows.

    Whisper works on 30-second pieces anyway, but faster-whisper computes the features
    of all it is given at once: for ten minutes of sound that is over half a gigabyte."""
    total = len(audio)
    limit = int((window_s or WINDOW_S) * SAMPLE_RATE)
    if total <= limit:
        return [(0, total)]
    step = SAMPLE_RATE // 2
    windows: list[tuple[int, int]] = []
    start = 0
    while total - start > limit:
        search_from = start + limit - int(CUT_SEARCH_S * SAMPLE_RATE)
        candidates = range(search_from, start + limit - step + 1, step)
        quietest = min(candidates, key=lambda at: float(np.square(audio[at : at + step]).mean()))
        cut = quietest + step // 2
        windows.append((start, cut))
        start = cut
    windows.append((start, total))
    return windows


def shifted(piece: WhisperSegment, offset: float) -> WhisperSegment:
    """A segment of a window moved to its place in the whole sound track."""
    if not offset:
        return piece
    words = [replace(w, start=w.start + offset, end=w.end + offset) for w in piece.words or []]
    return replace(
        piece, start=piece.start + offset, end=piece.end + offset, words=words or piece.words
    )


# Sound decoded to less than this share of the sound stream's length was not read: what is
# missing may hold speech, so "no speech" cannot be said of it.
MIN_DECODED_SHARE = 0.5


def decode_speech_audio(ctx: Context) -> tuple[np.ndarray, float]:
    """The sound track as 16 kHz mono float32 samples, and the stream's length in seconds.

    Decoded packet by packet with PyAV: a damaged packet (a bad first AC3 frame is common)
    is skipped, not the end of the sound, as it is for a whole-file decoder."""
    chunks: list[np.ndarray] = []
    length = 0.0
    with av.open(str(ctx.path)) as container:
        stream = container.streams.audio[0]
        resampler = av.AudioResampler(format="s16", layout="mono", rate=SAMPLE_RATE)
        first: float | None = None
        for packet in container.demux(stream):
            if packet.pts is not None and packet.time_base is not None:
                at = float(packet.pts * packet.time_base)
                first = at if first is None else min(first, at)
                end = at + float((packet.duration or 0) * packet.time_base)
                length = max(length, end - first)
            try:
                frames = packet.decode()
            except av.FFmpegError:
                continue  # a damaged packet: skipped, the rest of the sound still counts
            for frame in frames:
                for piece in resampler.resample(frame):
                    chunks.append(piece.to_ndarray().reshape(-1))
        for piece in resampler.resample(None):
            chunks.append(piece.to_ndarray().reshape(-1))
    # 16-bit samples, as faster-whisper's own decoder gives them (the model's input is
    # the same, to the bit, as with `faster_whisper.decode_audio` on a sound file).
    audio = (
        np.concatenate(chunks).astype(np.float32) / 32768.0 if chunks else np.zeros(0, np.float32)
    )
    return audio, length


# Voices are told apart by their pitch: two sentences whose median pitch differs by more
# than this ratio are spoken by different voices (men and women differ by 1.5-2x; one
# speaker's sentences stay within about 15%).
VOICE_RATIO = 1.3
MIN_VOICED_FRAMES = 8


def voice_pitch(audio: np.ndarray, start: float, end: float) -> float | None:
    """The median pitch (Hz) of the voiced, louder frames between two times, or None."""
    piece = audio[int(start * SAMPLE_RATE) : int(end * SAMPLE_RATE)].astype(np.float32)
    size, hop = 1024, 320
    if len(piece) < 2 * size:
        return None
    frames = np.lib.stride_tricks.sliding_window_view(piece, size)[::hop]
    loudness = np.sqrt((frames**2).mean(axis=1))
    frames = frames[loudness >= max(1e-3, float(np.median(loudness)))]
    if len(frames) < MIN_VOICED_FRAMES:
        return None
    frames = (frames - frames.mean(axis=1, keepdims=True)) * np.hanning(size)
    spectrum = np.fft.rfft(frames, 2 * size)
    lags = np.fft.irfft(np.abs(spectrum) ** 2)[:, :size]
    lags /= np.maximum(lags[:, :1], 1e-9)
    low, high = SAMPLE_RATE // 400, SAMPLE_RATE // 70  # 70-400 Hz: speaking voices
    peak = np.argmax(lags[:, low:high], axis=1) + low
    strength = lags[np.arange(len(lags)), peak]
    voiced = strength >= 0.45
    if int(voiced.sum()) < MIN_VOICED_FRAMES:
        return None
    return float(np.median(SAMPLE_RATE / peak[voiced]))


def tell_voices(segments: list[Segment], audio: np.ndarray) -> list[Segment]:
    """Each segment's voice, by pitch; a segment whose pitch cannot be read gets None."""
    voices: list[float] = []
    told: list[Segment] = []
    for segment in segments:
        pitch = voice_pitch(audio, segment.start, segment.end)
        voice = None
        if pitch is not None:
            near = [i for i, v in enumerate(voices) if max(v, pitch) / min(v, pitch) < VOICE_RATIO]
            if near:
                voice = min(near, key=lambda i: abs(np.log(voices[i] / pitch)))
            else:
                voices.append(pitch)
                voice = len(voices) - 1
        told.append(segment.model_copy(update={"voice": voice}))
    return told


def merge_sentences(segments: list[Segment], max_gap_s: float = 1.2) -> list[Segment]:
    """Whisper's pieces joined into whole sentences: a piece that does not end a sentence
    is joined with the next one when it follows closely."""
    merged: list[Segment] = []
    for segment in segments:
        last = merged[-1] if merged else None
        if (
            last is not None
            and last.text
            and last.text[-1] not in ".!?…"
            and segment.start - last.end <= max_gap_s
        ):
            merged[-1] = Segment(
                start=last.start,
                end=segment.end,
                text=f"{last.text} {segment.text}".strip(),
                words=[*last.words, *segment.words],
            )
        else:
            merged.append(segment)
    return merged


class SpeechStage:
    """Fills `ctx.transcript`, or leaves it None and says why in `ctx.speech_note`."""

    name = "speech"

    def run(self, ctx: Context) -> None:
        if ctx.media is None:
            raise RuntimeError("the speech stage needs the probe stage's media facts")
        ctx.transcript, ctx.speech_note = None, None
        if not ctx.media.has_audio:
            ctx.speech_note = NO_AUDIO
            ctx.progress(self.name, 1.0)
            return
        try:
            audio, stream_length = decode_speech_audio(ctx)
        except (av.FFmpegError, IndexError):  # IndexError: no audio stream after all
            ctx.speech_note = UNREADABLE_AUDIO
            ctx.progress(self.name, 1.0)
            return
        length = len(audio) / SAMPLE_RATE
        # Much less sound than the stream holds: what could not be read may hold speech.
        unread = stream_length > 1.0 and length < MIN_DECODED_SHARE * stream_length
        if length < 0.1:
            ctx.speech_note = UNREADABLE_AUDIO if unread or stream_length > 1.0 else NO_SPEECH
            ctx.progress(self.name, 1.0)
            return

        settings = ctx.settings
        model = load_whisper(settings)
        profile = PROFILES[settings.whisper_model]
        ctx.progress(self.name, 0.0)
        # The English-only model knows no other language; base detects it once.
        language: str | None = "en" if settings.whisper_model.endswith(".en") else None
        heard: list[WhisperSegment] = []
        info = None
        for start, stop in speech_windows(audio):
            pieces, window_info = model.transcribe(
                audio[start:stop],
                language=language,
                beam_size=profile.beam_size,
                vad_filter=settings.whisper_vad,
                word_timestamps=True,
                condition_on_previous_text=False,  # one misheard window must not steer the next
            )
            info = info or window_info
            language = language or window_info.language
            offset = start / SAMPLE_RATE
            for piece in pieces:  # decoding happens while iterating: report as it goes
                heard.append(shifted(piece, offset))
                ctx.progress(self.name, min(1.0, heard[-1].end / length))
        ctx.progress(self.name, 1.0)
        assert info is not None

        segments: list[Segment] = []
        for piece in keep_heard(heard):
            segment = to_segment(piece, length, after=segments[-1].end if segments else 0.0)
            if segment.text:
                segments.append(segment)
        segments = tell_voices(merge_sentences(segments), audio)
        if not segments:
            ctx.speech_note = UNREADABLE_AUDIO if unread else NO_SPEECH
            return
        ctx.transcript = Transcript(
            language=info.language,
            language_probability=round(info.language_probability, 3),
            model=f"whisper-{settings.whisper_model}",
            segments=segments,
        )
