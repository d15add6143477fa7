"""Commands on video files, with no service: tell, evidence, estimate."""

from __future__ import annotations

import json
import os
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from storyteller.commands.common import (
    RULE,
    Files,
    ModelOption,
    choose_teller,
    load_settings,
    progress_bar,
)
from storyteller.config import Settings
from storyteller.tellers.registry import teller_names

if TYPE_CHECKING:
    from storyteller.telling import Telling


def _tell_one(path: Path, settings: Settings, teller: str | None, seed: int) -> Telling:
    from storyteller.telling import tell_video

    return tell_video(path, settings, teller_name=teller, seed=seed)


def _print_telling(result: Telling, as_json: bool, first: bool) -> None:
    if as_json:
        typer.echo(json.dumps(result.as_json(), ensure_ascii=False))
        return
    if not first:
        typer.echo(f"\n{RULE}\n")
    if result.story:
        typer.echo(result.story.text)
    else:
        typer.echo(f"{result.file}: failed: {result.error}")


def tell(
    files: Files,
    teller: Annotated[
        str | None, typer.Option(help=f"Teller to write with: {', '.join(teller_names())}.")
    ] = None,
    model: ModelOption = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="One JSON object per line per file.")
    ] = False,
    seed: Annotated[int, typer.Option(help="Ask for another version of the same story.")] = 0,
    concurrency: Annotated[int, typer.Option(min=1, help="Videos analysed at once.")] = 1,
) -> None:
    """Watch and listen to each video and print its story."""
    from storyteller.telling import tell_video  # the media stack: only for these commands

    settings = choose_teller(load_settings(), teller, model)
    results: list[Telling] = []
    if concurrency == 1 or len(files) == 1:
        for index, path in enumerate(files):
            with progress_bar(path.name) as progress:
                result = tell_video(
                    path, settings, teller_name=teller, seed=seed, progress=progress
                )
            _print_telling(result, as_json, first=index == 0)
            results.append(result)
    else:
        # Each worker gets its share of the cores for speech, so N workers do not fight.
        cores = os.cpu_count() or 1
        if not settings.whisper_threads:
            settings = settings.model_copy(update={"whisper_threads": max(1, cores // concurrency)})
        with ProcessPoolExecutor(max_workers=concurrency, mp_context=get_context("spawn")) as pool:
            futures = [pool.submit(_tell_one, path, settings, teller, seed) for path in files]
            for index, future in enumerate(futures):  # printed in the order given
                result = future.result()
                _print_telling(result, as_json, first=index == 0)
                results.append(result)
    failed = [r for r in results if r.status != "completed"]
    if failed and not as_json:
        typer.echo(f"\n{len(failed)} of {len(results)} videos failed.", err=True)
    raise typer.Exit(1 if failed else 0)


def evidence(
    file: Annotated[
        Path, typer.Argument(exists=True, dir_okay=False, readable=True, help="A video file.")
    ],
) -> None:
    """Print what the pipeline saw and heard in a video, as JSON."""
    from storyteller.pipeline.run import StageFailed, gather_evidence
    from storyteller.pipeline.stage import VideoRejected

    settings = load_settings()
    try:
        with progress_bar(file.name) as progress:
            found = gather_evidence(file, settings, progress=progress)
    except (VideoRejected, StageFailed) as exc:
        typer.echo(f"storyteller: {exc.reason}", err=True)
        raise typer.Exit(1) from exc
    typer.echo(found.model_dump_json(indent=2))


def estimate(
    files: Files,
    teller: Annotated[
        str | None, typer.Option(help=f"Teller to price: {', '.join(teller_names())}.")
    ] = None,
    model: ModelOption = None,
    priority: Annotated[
        str,
        typer.Option(help="low is priced at Gemini Batch Mode's price when Batch Mode is on."),
    ] = "normal",
    as_json: Annotated[bool, typer.Option("--json", help="The estimate as JSON.")] = False,
) -> None:
    """Tokens, dollars and time the videos would cost with a teller, before sending them."""
    from storyteller.pipeline.probe import probe
    from storyteller.pipeline.stage import Context, VideoRejected
    from storyteller.tellers.estimate import estimate_batch
    from storyteller.tellers.gemini_batch import in_batch_mode

    settings = choose_teller(load_settings(), teller, model)
    teller = teller or settings.default_teller
    lengths, refused = [], []
    for path in files:
        try:
            lengths.append((path.name, probe(Context(path=path, settings=settings)).duration_s))
        except VideoRejected as exc:
            refused.append(exc.reason)
    batch = estimate_batch(
        settings, teller, lengths, batch=in_batch_mode(settings, teller, priority)
    )
    if as_json:
        typer.echo(json.dumps({
            "teller": batch.teller, "model": batch.model, "tokens_in": batch.tokens_in,
            "tokens_out": batch.tokens_out, "dollars": batch.dollars,
            "expected_s": batch.expected_s, "refused": refused,
            "videos": [video.__dict__ for video in batch.videos],
        }))  # fmt: skip
    else:
        model = f" ({batch.model})" if batch.model else ""
        for video in batch.videos:
            cost = "?" if video.dollars is None else f"${video.dollars:.4f}"
            typer.echo(
                f"{video.name}: {video.duration_s:.0f} s, {video.tokens_in:,} tokens in, "
                f"{video.tokens_out:,} out, {cost}"
            )
        total = (
            "unknown (no price for this model)"
            if batch.dollars is None
            else f"${batch.dollars:.4f}"
        )
        typer.echo(
            f"{len(batch.videos)} video{'' if len(batch.videos) == 1 else 's'} with "
            f"{batch.teller}{model}: {batch.tokens_in:,} tokens in, "
            f"{batch.tokens_out:,} out, {total}; about {batch.expected_s / 60:.1f} minutes"
        )
        for reason in refused:
            typer.echo(f"not counted: {reason}", err=True)
    raise typer.Exit(1 if refused else 0)
