"""`storyteller export`: a job's stories (or one video's) as a document."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from storyteller.commands.client import ApiKeyOption, Client, Server
from storyteller.commands.common import echo, load_settings


def _export_locally(
    job_id: str, *, video: bool, chosen: str, formats: str, appendix: bool
) -> tuple[bytes, str]:
    """The document and its file name, read from this machine's data folder (no service)."""
    from storyteller.db.session import default_database_url, make_engine, make_session_factory
    from storyteller.export import archive, record
    from storyteller.export.document import load_batch, load_video
    from storyteller.export.formats import FORMATS, ZIP, UnknownFormat, parse_formats

    settings = load_settings()
    engine = make_engine(default_database_url(settings))
    try:
        with make_session_factory(engine)() as session:
            load = load_video if video else load_batch
            document = load(session, job_id, settings)
    finally:
        engine.dispose()
    if document is None:
        typer.echo(f"storyteller: no {'video' if video else 'job'} with that id", err=True)
        raise typer.Exit(1)
    try:
        if chosen == ZIP:
            body = archive.render(
                document,
                stories_json=record.render(document),
                formats=parse_formats(formats),
                appendix=appendix,
            )
        elif chosen in FORMATS:
            body = FORMATS[chosen].render(document, appendix)
        else:
            raise UnknownFormat(chosen)
    except UnknownFormat as exc:
        typer.echo(f"storyteller: {exc}", err=True)
        raise typer.Exit(2) from exc
    stem = document.videos[0].name.rsplit(".", 1)[0] if video else f"stories-{job_id[:8]}"
    return body, f"{stem}.{chosen}"


def export(
    job_id: Annotated[
        str,
        typer.Argument(
            metavar="JOB", help="The job's id (a video's with --video).", show_default=False
        ),
    ],
    format: Annotated[
        str, typer.Option("--format", "-f", help="pdf, docx, md, json, csv or zip.")
    ] = "pdf",
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            help="File to write; '-' for standard output "
            "(default: the name the server suggests, here).",
            show_default=False,
        ),
    ] = None,
    video: Annotated[bool, typer.Option("--video", help="JOB is a video's id.")] = False,
    appendix: Annotated[
        bool, typer.Option("--appendix", help="PDF, Word: add what each story stands on.")
    ] = False,
    formats: Annotated[
        str, typer.Option(help="zip: formats to add to the archive, e.g. pdf,docx.")
    ] = "",
    local: Annotated[
        bool,
        typer.Option(
            "--local",
            help="Read this machine's data folder (or STORYTELLER_DATABASE_URL) instead of "
            "asking a running service.",
        ),
    ] = False,
    server: Server = None,
    api_key: ApiKeyOption = None,
) -> None:
    """Write a job's stories (or one video's) as a PDF, Word, Markdown, JSON, CSV or ZIP file.

    Exits 1 when there is no such job or the service refused; 2 on a bad format or an
    unreachable service."""
    chosen = format.strip().lower()
    if local:
        body, suggested = _export_locally(
            job_id, video=video, chosen=chosen, formats=formats, appendix=appendix
        )
    else:
        path = f"/api/videos/{job_id}/export" if video else f"/api/job/{job_id}/export"
        params: dict[str, str] = {"format": chosen}
        if formats:
            params["formats"] = formats
        if appendix:
            params["appendix"] = "true"
        with Client(server, api_key) as client:
            answer = client.fetch("GET", path, params=params)
        body = answer.content
        suggested = answer.headers.get("content-disposition", "")
        suggested = _file_name(suggested) or f"stories-{job_id[:8]}.{chosen}"
    if output is not None and str(output) == "-":
        sys.stdout.buffer.write(body)
        sys.stdout.flush()
        return
    target = output or Path(suggested)
    target.write_bytes(body)
    echo(f"{target} ({len(body):,} bytes)", err=True)  # a name the server chose


def _file_name(disposition: str) -> str | None:
    """The file name of a Content-Disposition header (RFC 6266's `filename*` first), kept
    to its last part so that it can only name a file in the current folder."""
    import re
    from urllib.parse import unquote

    exact = re.search(r"filename\*=UTF-8''([^;\s]+)", disposition, flags=re.IGNORECASE)
    plain = re.search(r'filename="([^"]*)"', disposition)
    name = unquote(exact.group(1)) if exact else plain.group(1) if plain else ""
    name = Path(name.replace("\\", "/")).name
    return name if name not in ("", ".", "..") else None
