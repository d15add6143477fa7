"""`storyteller mail ...`: check the e-mail settings by sending a message with them."""

from __future__ import annotations

from typing import Annotated

import typer

from storyteller.commands.common import echo, load_settings
from storyteller.notifications.mail import MailError, send_test

app = typer.Typer(
    name="mail",
    help="Check the e-mail (SMTP) settings that notifications are sent with.",
    no_args_is_help=True,
)


@app.command()
def test(
    address: Annotated[
        str, typer.Argument(help="Where to send the test message.", show_default=False)
    ],
) -> None:
    """Send a test message with the configured SMTP settings, and say whether it left."""
    settings = load_settings()
    try:
        send_test(settings, address)
    except MailError as exc:
        echo(f"error: {exc.reason}", err=True)
        raise typer.Exit(1) from exc
    echo(
        f"sent a test message to {address.strip()} through {settings.smtp_host}:"
        f"{settings.smtp_port_or_default}: the SMTP server accepted it"
    )
