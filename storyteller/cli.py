"""The `storyteller` command: a thin layer over the library for everything the page does."""

from __future__ import annotations

import json
import os
import sys
import threading
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from multiprocessing import get_context
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError

from storyteller import __version__
from storyteller.config import Settings
from storyteller.pipeline.run import OverallProgress, StageFailed, gather_evidence
from storyteller.pipeline.stage import Progress, VideoRejected, no_progress
from storyteller.tellers.registry import teller_names
from storyteller.telling import Telling, tell_video

app = typer.Typer(
    name="storyteller",
    help="Turn videos into short, grounded, news-style stories.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

RULE = "─" * 72

Files = Annotated[
    list[Path],
    typer.Argument(
        exists=True, dir_okay=False, readable=True, help="Video files.", show_default=False
    ),
]


def _settings() -> Settings:
    try:
        return Settings()
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or 'settings'}: {e['msg']}" for e in exc.errors()
        )
        typer.echo(f"storyteller: bad setting: {problems}", err=True)
        raise typer.Exit(2) from exc


@contextmanager
def _progress_bar(label: str) -> Iterator[Progress]:
    """A progress bar on a terminal; nothing when stderr is a file or a pipe."""
    if not sys.stderr.isatty():
        yield no_progress
        return
    from rich.console import Console
    from rich.progress import BarColumn, TextColumn, TimeElapsedColumn
    from rich.progress import Progress as Bar

    lock = threading.Lock()
    with Bar(
        TextColumn("{task.description}"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"),
        TextColumn("{task.fields[stage]}"), TimeElapsedColumn(), transient=True,
        console=Console(stderr=True),
    ) as bar:  # fmt: skip
        task = bar.add_task(label, total=1.0, stage="")

        def report(fraction: float, stage: str) -> None:
            with lock:
                bar.update(task, completed=fraction, stage=stage)

        yield OverallProgress(report)


def _tell_one(path: Path, settings: Settings, teller: str | None, seed: int) -> Telling:
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


@app.command()
def tell(
    files: Files,
    teller: Annotated[
        str | None, typer.Option(help=f"Teller to write with: {', '.join(teller_names())}.")
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="One JSON object per line per file.")
    ] = False,
    seed: Annotated[int, typer.Option(help="Ask for another version of the same story.")] = 0,
    concurrency: Annotated[int, typer.Option(min=1, help="Videos analysed at once.")] = 1,
) -> None:
    """Watch and listen to each video and print its story."""
    settings = _settings()
    if teller is not None and teller not in teller_names():
        typer.echo(
            f"storyteller: unknown teller {teller!r}; choose one of: {', '.join(teller_names())}",
            err=True,
        )
        raise typer.Exit(2)
    results: list[Telling] = []
    if concurrency == 1 or len(files) == 1:
        for index, path in enumerate(files):
            with _progress_bar(path.name) as progress:
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


@app.command()
def evidence(
    file: Annotated[
        Path, typer.Argument(exists=True, dir_okay=False, readable=True, help="A video file.")
    ],
) -> None:
    """Print what the pipeline saw and heard in a video, as JSON."""
    settings = _settings()
    try:
        with _progress_bar(file.name) as progress:
            found = gather_evidence(file, settings, progress=progress)
    except (VideoRejected, StageFailed) as exc:
        typer.echo(f"storyteller: {exc.reason}", err=True)
        raise typer.Exit(1) from exc
    typer.echo(found.model_dump_json(indent=2))


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int | None, typer.Option(help="Port (default: the PORT setting).")] = None,
) -> None:
    """Start the web service."""
    typer.echo(
        "The web service arrives with its issue (the batch service). "
        "Until then, use `storyteller tell FILE...`.",
        err=True,
    )
    raise typer.Exit(1)


@app.command()
def version() -> None:
    """Print the version."""
    typer.echo(__version__)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
