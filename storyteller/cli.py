"""The `storyteller` command: a thin layer over the library for everything the page does.

The commands live in `storyteller/commands/`, a module for each kind; this module only
names them.
"""

from __future__ import annotations

import typer

from storyteller import __version__
from storyteller.commands import accounts, admin, client, export, local, service

app = typer.Typer(
    name="storyteller",
    help="Turn videos into short, grounded, news-style stories.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

for command in (
    local.tell,
    local.evidence,
    service.serve,
    service.worker,
    client.submit,
    client.status,
    client.retry,
    client.cancel,
    client.regenerate,
    client.delete,
    export.export,
    local.estimate,
):
    app.command()(command)
app.add_typer(admin.app, name="admin")
app.add_typer(client.story, name="story")

app.add_typer(accounts.users, name="users")
app.add_typer(accounts.keys, name="keys")


@app.command()
def version() -> None:
    """Print the version."""
    typer.echo(__version__)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
