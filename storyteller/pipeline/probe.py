"""The probe stage: is this file a video we can read, and what is in it."""

from __future__ import annotations

import av
import av.error

from storyteller.pipeline.evidence import MediaInfo
from storyteller.pipeline.stage import Context, VideoRejected
from storyteller.storage.sniff import describe_bytes

# Containers FFmpeg opens for still pictures: a photo renamed .mp4 lands in one of these.
IMAGE_FORMATS = {
    "image2",
    "png_pipe",
    "jpeg_pipe",
    "webp_pipe",
    "bmp_pipe",
    "tiff_pipe",
    "gif_pipe",
    "svg_pipe",
    "heif",
    "jpegxl_pipe",
    "pam_pipe",
    "ppm_pipe",
}

MIN_SECONDS = 0.2


class ProbeStage:
    """Opens the file, checks it holds decodable footage of an acceptable length, and
    measures it. Reads packets rather than decoding every frame: the scene pass that
    follows decodes everything and corrects the frame count."""

    name = "probe"

    def run(self, ctx: Context) -> None:
        ctx.progress(self.name, 0.0)
        ctx.media = probe(ctx)
        ctx.progress(self.name, 1.0)


def _refuse(ctx: Context, why: str, code: str = "not_a_video") -> VideoRejected:
    return VideoRejected(f"{ctx.name} is not a video: {why}", code=code)


def probe(ctx: Context) -> MediaInfo:
    size = ctx.path.stat().st_size
    with ctx.path.open("rb") as f:
        head = f.read(64)
    if size == 0:
        raise _refuse(ctx, "the file is empty", "empty_file")
    try:
        container = av.open(str(ctx.path), mode="r")
    except (av.error.FFmpegError, UnicodeDecodeError, ValueError) as exc:
        raise _refuse(ctx, describe_bytes(head)) from exc
    with container:
        if container.format.name in IMAGE_FORMATS:
            raise _refuse(ctx, f"{describe_bytes(head)}, a still picture")
        videos = [
            s
            for s in container.streams.video
            if not s.disposition & av.stream.Disposition.attached_pic
        ]
        if not videos:
            if container.streams.audio:
                raise _refuse(ctx, "it has only sound, no picture", "audio_only")
            raise _refuse(ctx, "no video stream found")
        stream = videos[0]
        codec = stream.codec_context.name if stream.codec_context else None
        if not codec or codec == "none":
            raise VideoRejected(
                f"{ctx.name} uses a video codec that cannot be decoded here",
                code="unsupported_codec",
            )
        first = _first_frame(ctx, container, stream, codec)
        duration, frames = _demuxed_length(container, stream)
        audio = container.streams.audio[0] if container.streams.audio else None
        header = (container.duration / 1_000_000) if container.duration else None
        fps = float(stream.average_rate or stream.guessed_rate or 0) or (
            frames / duration if duration else 25.0
        )
        rotation = int(first.rotation or 0) % 360
        width, height = (
            (first.height, first.width) if rotation in (90, 270) else (first.width, first.height)
        )
        media = MediaInfo(
            container=container.format.name,
            size_bytes=size,
            duration_s=round(duration, 3),
            header_duration_s=round(header, 3) if header else None,
            width=width,
            height=height,
            rotation=rotation,
            fps=round(fps, 3),
            frame_count=frames,
            video_codec=codec,
            audio_codec=audio.codec_context.name if audio and audio.codec_context else None,
            audio_sample_rate=audio.codec_context.sample_rate
            if audio and audio.codec_context
            else None,
        )
    check_limits(ctx, media)
    if frames <= 1 or duration < MIN_SECONDS:
        raise _refuse(ctx, "it holds a single still picture, not footage", "too_short")
    limit = ctx.settings.max_video_seconds
    if duration > limit:
        raise VideoRejected(
            f"{ctx.name} is {_clock(duration)} long; videos of at most {_clock(limit)} are accepted",
            code="too_long",
        )
    return media


def _first_frame(
    ctx: Context, container: av.container.InputContainer, stream: av.VideoStream, codec: str
) -> av.VideoFrame:
    try:
        for frame in container.decode(stream):
            return frame
    except av.error.FFmpegError as exc:
        raise VideoRejected(
            f"{ctx.name} cannot be read: its {codec} video data is damaged ({exc.strerror or exc})",
            code="unreadable",
        ) from exc
    raise VideoRejected(
        f"{ctx.name} cannot be read: no picture could be decoded", code="unreadable"
    )


def _demuxed_length(
    container: av.container.InputContainer, stream: av.VideoStream
) -> tuple[float, int]:
    """Seconds and frames of video actually present, from the packets in the file.

    A file cut short keeps a header that promises its full length; counting its
    packets tells what is really there.
    """
    container.seek(0, stream=stream, backward=True)
    time_base = float(stream.time_base or 0)
    start = float(stream.start_time or 0) * time_base
    end, count = 0.0, 0
    try:
        for packet in container.demux(stream):
            if packet.size == 0 or packet.pts is None:
                continue
            count += 1
            end = max(end, (packet.pts + (packet.duration or 0)) * time_base)
    except av.error.FFmpegError:
        pass  # A damaged tail: what was read before it is what the file holds.
    return max(0.0, end - start), count


def _clock(seconds: float) -> str:
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes} min {secs:02d} s" if minutes else f"{secs} s"


def check_limits(ctx: Context, media: MediaInfo) -> None:
    """Refuse a video outside the service's media limits (settings), with the reason: a
    container not in `video_formats`, a picture over `max_video_pixels`, a frame rate
    over `max_video_fps`."""
    settings = ctx.settings
    # FFmpeg names a demuxer by every format it reads: "mov,mp4,m4a,3gp,3g2,mj2".
    names = set(media.container.split(","))
    allowed = {name.strip().lower() for name in settings.video_formats}
    if not names & allowed:
        raise VideoRejected(
            f"{ctx.name} is in a format this service does not take ({media.container}); "
            f"accepted: {', '.join(sorted(allowed))}",
            code="format_refused",
        )
    pixels = media.width * media.height
    if pixels > settings.max_video_pixels:
        raise VideoRejected(
            f"{ctx.name} is {media.width} × {media.height} pixels; at most "
            f"{settings.max_video_pixels:,} pixels (width × height) are accepted",
            code="too_many_pixels",
        )
    if media.fps > settings.max_video_fps:
        raise VideoRejected(
            f"{ctx.name} runs at {media.fps:g} frames a second; at most "
            f"{settings.max_video_fps:g} are accepted",
            code="frame_rate_too_high",
        )
