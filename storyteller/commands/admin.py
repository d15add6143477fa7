"""`storyteller admin ...`: the dashboard's numbers and controls from a terminal, through
the running service's API."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from storyteller.commands.client import Client, Server

app = typer.Typer(
    name="admin",
    help="Watch and steer the queue of a running service: pause, resume, drain workers.",
    no_args_is_help=True,
)

WorkerArgument = Annotated[
    str, typer.Argument(help="The worker's id (`storyteller admin workers`).", show_default=False)
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print the server's answer as JSON.")]


@app.command()
def pause(server: Server = None) -> None:
    """Pause all processing: nothing new is claimed anywhere; running videos finish."""
    with Client(server) as client:
        client.call("POST", "/api/admin/pause")
    typer.echo("processing paused: running videos finish, nothing new starts")


@app.command()
def resume(server: Server = None) -> None:
    """Resume all processing."""
    with Client(server) as client:
        client.call("POST", "/api/admin/resume")
    typer.echo("processing resumed")


@app.command()
def summary(server: Server = None, as_json: JsonOption = False) -> None:
    """The dashboard's numbers: the queue, what runs, failures by cause, spending."""
    with Client(server) as client:
        figures = client.call("GET", "/api/admin/summary")
    if as_json:
        typer.echo(json.dumps(figures, ensure_ascii=False))
        return
    typer.echo(f"processing: {'PAUSED' if figures['paused'] else 'on'}")
    waiting = ", ".join(
        f"{row['priority']} {row['count']}"
        + (f" (oldest {_duration(row['oldestWaitS'])})" if row["count"] else "")
        for row in figures["waiting"]
    )
    typer.echo(f"waiting: {waiting}")
    typer.echo(f"running: {len(figures['running'])}")
    for video in figures["running"]:
        typer.echo(
            f"  {video['videoId']}  {video['stage'] or '-':<8} {_duration(video['runningS']):>7}"
            f"  {video['name']}  on {video['workerId']}"
        )
    for span, label in (("lastHour", "last hour"), ("lastDay", "last day")):
        ended = figures["ended"][span]
        typer.echo(
            f"ended in the {label}: {ended['completed']} completed, {ended['failed']} failed, "
            f"{ended['cancelled']} cancelled"
        )
    last_hour = sum(figures["throughput"][-60:])
    typer.echo(f"throughput: {last_hour / 60:.2f} videos a minute over the last hour")
    for stage in figures["stages"]:
        typer.echo(
            f"  {stage['stage']:<10} p50 {stage['p50S']:.1f} s  p95 {stage['p95S']:.1f} s"
            f"  ({stage['count']} runs)"
        )
    if figures["failures"]:
        typer.echo("failures by cause:")
        for row in figures["failures"]:
            typer.echo(f"  {row['count']:>6}  {row['label']}  ({row['code']})")
    spending = figures["spending"]
    budget = spending["dailyBudgetUsd"]
    typer.echo(
        f"spending: today ${spending['todayUsd']:.4f}"
        + (f" of ${budget:.2f}" if budget else "")
        + f", this month ${spending['monthUsd']:.4f}"
        + f" (failed attempts: ${spending['failedMonthUsd']:.4f})"
    )
    _print_workers(figures["workers"])


@app.command()
def workers(server: Server = None, as_json: JsonOption = False) -> None:
    """The engines that run videos: where, since when, what they run."""
    with Client(server) as client:
        listed = client.fetch("GET", "/api/admin/workers").json()
    if as_json:
        typer.echo(json.dumps(listed, ensure_ascii=False))
        return
    _print_workers(listed)


@app.command()
def drain(worker: WorkerArgument, server: Server = None) -> None:
    """Let a worker finish what it holds and take nothing new (it stays up, idle)."""
    _order(server, worker, "drain", "draining: it finishes what it holds, takes nothing new")


@app.command("undrain")
def undrain(worker: WorkerArgument, server: Server = None) -> None:
    """Let a drained worker take videos again."""
    _order(server, worker, "resume", "taking videos again")


@app.command()
def stop(worker: WorkerArgument, server: Server = None) -> None:
    """Stop a worker as SIGTERM does (running videos may finish within the grace)."""
    _order(server, worker, "stop", "stopping")


def _order(server: str | None, worker: str, order: str, said: str) -> None:
    with Client(server) as client:
        client.call("POST", f"/api/admin/workers/{worker}/{order}")
    typer.echo(f"worker {worker}: {said}")


def _print_workers(listed: list[dict[str, Any]]) -> None:
    typer.echo(f"workers: {len(listed)}")
    for worker in listed:
        typer.echo(
            f"  {worker['id']}  {worker['state']:<8} {worker['kind']:<8} "
            f"{worker['videosDone']} done, running {len(worker['current'])}"
            f" of {worker['concurrency']}, since {worker['startedAt']}"
        )


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
