"""What the commands share: the settings, the teller choice, a progress bar, option types."""

from __future__ import annotations

import re
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError

from storyteller.config import Settings
from storyteller.pipeline.stage import Progress, no_progress
from storyteller.tellers.registry import has_models, teller_names, with_model

RULE = "─" * 72

# Control characters but the line break, and the bidi overrides and isolates.
_UNSAFE_ON_A_TERMINAL = re.compile(r"[\x00-\x09\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def visible(text: str) -> str:
    """`text` safe to print on a terminal: control characters (but line breaks) and bidi
    overrides are shown as `\\uXXXX`, never obeyed, so a name from the server cannot
    retitle the terminal, move its cursor or read backwards. Inside JSON, still JSON."""
    return _UNSAFE_ON_A_TERMINAL.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def echo(text: str, *, err: bool = False) -> None:
    """Print what came from a server or a user (see `visible`)."""
    typer.echo(visible(text), err=err)


Files = Annotated[
    list[Path],
    typer.Argument(
        exists=True, dir_okay=False, readable=True, help="Video files.", show_default=False
    ),
]


ModelOption = Annotated[
    str | None,
    typer.Option(help="The AI teller's model (default: its configured one, e.g. GEMINI_MODEL)."),
]


def load_settings() -> Settings:
    try:
        return Settings()
    except ValidationError as exc:
        # (pydantic prefixes what our validators say with "Value error, ")
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or 'settings'}: "
            f"{e['msg'].removeprefix('Value error, ')}"
            for e in exc.errors()
        )
        typer.echo(f"storyteller: bad setting: {problems}", err=True)
        raise typer.Exit(2) from exc


@contextmanager
def progress_bar(label: str) -> Iterator[Progress]:
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

        from storyteller.pipeline.progress import OverallProgress

        yield OverallProgress(report)


def choose_teller(settings: Settings, teller: str | None, model: str | None) -> Settings:
    """Settings for writing with `teller` (and `model`, if given); exits 2 on a bad choice."""
    name = teller or settings.default_teller
    problem = None
    if name not in teller_names():
        problem = f"unknown teller {name!r}; choose one of: {', '.join(teller_names())}"
    elif model and not has_models(name):
        problem = f"the {name} teller has no models to choose from"
    if problem:
        typer.echo(f"storyteller: {problem}", err=True)
        raise typer.Exit(2)
    return with_model(settings, name, model) if model else settings
