"""Commands that run the service: the web server with its engine, and headless workers."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from storyteller.commands.common import load_settings
from storyteller.config import DEFAULT_ALLOWED_HOSTS, Settings


def _check_storage(settings: Settings) -> None:
    """Stop at once, with what to fix, when the video storage cannot be used."""
    from storyteller.storage.objects import StorageError, video_store

    try:
        video_store(settings).check()
    except StorageError as exc:
        typer.echo(f"storyteller: the video storage cannot be used: {exc.detail}", err=True)
        raise typer.Exit(2) from None


def is_loopback(host: str) -> bool:
    """Whether an address to listen on is reachable from this machine only."""
    import ipaddress

    if host.strip("[]").lower() in ("localhost", "localhost."):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name: it may resolve to anything


def _check_users(settings: Settings, host: str) -> None:
    """Beyond loopback every request needs a user: refuse to start without one."""
    from storyteller.accounts.users import any_user
    from storyteller.db.migrate import migrate
    from storyteller.db.session import default_database_url, make_engine, make_session_factory

    url = default_database_url(settings)
    if url.startswith("sqlite"):
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    migrate(url)
    engine = make_engine(url)
    try:
        with make_session_factory(engine)() as session:
            found = any_user(session)
    finally:
        engine.dispose()
    if not found:
        typer.echo(
            f"storyteller: --host {host} listens beyond this machine, so everyone must sign "
            "in, and there is no user yet. Create one first:\n"
            "  storyteller users add NAME --role admin --password-stdin",
            err=True,
        )
        raise typer.Exit(2)


def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int | None, typer.Option(help="Port (default: the PORT setting).")] = None,
) -> None:
    """Start the web service with its job engine (what `make run` calls)."""
    import uvicorn

    from storyteller.app import create_app

    settings = load_settings()
    port = port or settings.port
    _check_storage(settings)
    loopback = is_loopback(host)
    if not loopback:
        _check_users(settings, host)
    typer.echo(
        f"Video Storyteller on http://{host}:{port} (API docs at /docs); "
        f"data in {settings.data_dir}",
        err=True,
    )
    if host not in ("127.0.0.1", "localhost", "::1") and set(settings.allowed_hosts) == set(
        DEFAULT_ALLOWED_HOSTS
    ):
        typer.echo(
            f"storyteller: listening on {host}, but only the loopback names are served: set "
            "STORYTELLER_ALLOWED_HOSTS to the names people use (see docs/deploy.md)",
            err=True,
        )
    # Live-update streams never end by themselves: on SIGTERM they get a few seconds,
    # then they are closed and the engine stops (browsers reconnect to the next server).
    from storyteller.logs import uvicorn_config

    options: dict[str, Any] = {}
    config = uvicorn_config(settings.log_format)
    if config is not None:
        options["log_config"] = config
    uvicorn.run(
        create_app(settings, loopback=loopback),
        host=host,
        port=port,
        log_level="info",
        timeout_graceful_shutdown=5,
        **options,
    )


def worker(
    concurrency: Annotated[
        int | None,
        typer.Option(min=1, help="Videos at once (default: the MAX_CONCURRENT_JOBS setting)."),
    ] = None,
    health_port: Annotated[
        int | None,
        typer.Option(min=0, max=65535, help="Answer GET /health on this port (0: any free one)."),
    ] = None,
    health_host: Annotated[
        str, typer.Option(help="Address the health endpoint listens on.")
    ] = "127.0.0.1",
    queue: Annotated[
        list[str] | None,
        typer.Option(
            metavar="PRIORITY",
            help="Take only videos of this priority: high, normal or low (repeat, or"
            " comma-separate, for several; default: all). E.g. keep a worker for high.",
        ),
    ] = None,
    job: Annotated[
        str | None, typer.Option(hidden=True, help="Job function as module:function (tests).")
    ] = None,
) -> None:
    """Process videos from the shared queue, without a web server, until SIGTERM or Ctrl-C.

    Run any number, on any machines, beside web processes started with
    STORYTELLER_JOB_ENGINE=workers, all on one PostgreSQL (STORYTELLER_DATABASE_URL)."""
    import logging

    from sqlalchemy.exc import OperationalError

    from storyteller.db.migrate import MigrationError
    from storyteller.jobs.priorities import parse_queues
    from storyteller.jobs.work import DEFAULT_JOB
    from storyteller.jobs.worker import Worker, WorkerRefused
    from storyteller.logs import configure

    settings = load_settings()
    configure(settings.log_format, logging.INFO)
    try:
        queues = parse_queues(queue or [])
    except ValueError as exc:
        typer.echo(f"storyteller: --queue: {exc}", err=True)
        raise typer.Exit(2) from exc
    try:
        process = Worker(settings, concurrency=concurrency, job=job or DEFAULT_JOB, queues=queues)
    except WorkerRefused as exc:
        typer.echo(f"storyteller: {exc.reason}", err=True)
        raise typer.Exit(2) from exc
    process.stop_on_signals()
    try:
        supervised = process.run(health_port=health_port, health_host=health_host)
    except WorkerRefused as exc:
        typer.echo(f"storyteller: {exc.reason}", err=True)
        raise typer.Exit(2) from exc
    except MigrationError as exc:
        typer.echo(f"storyteller: {exc.reason}", err=True)
        raise typer.Exit(1) from exc
    except OperationalError as exc:
        typer.echo(f"storyteller: cannot use the database: {exc.orig or exc}", err=True)
        raise typer.Exit(1) from exc
    raise typer.Exit(0 if supervised else 1)
