"""`storyteller webhooks ...`: a running service's webhook endpoints, through its API."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from storyteller.commands.client import ApiKeyOption, Client, Server
from storyteller.commands.common import echo
from storyteller.notifications.events import EVENT_NAMES

app = typer.Typer(
    help="Webhooks: URLs told when videos and jobs end (add, list, remove, rotate, test, "
    "deliveries).",
    no_args_is_help=True,
)

IdArgument = Annotated[
    str, typer.Argument(help="The webhook's id (see `storyteller webhooks list`).")
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print the server's answer as JSON.")]


def _line(hook: dict[str, Any]) -> str:
    state = "enabled" if hook["enabled"] else f"disabled ({hook['disabledReason']})"
    return f"{hook['id']}  {hook['url']}  {','.join(hook['events'])}  {state}"


@app.command()
def add(
    url: Annotated[str, typer.Argument(help="The https URL to POST the events to.")],
    event: Annotated[
        list[str] | None,
        typer.Option(
            "--event",
            help=f"An event to send ({', '.join(EVENT_NAMES)}); repeat for several. Default: all.",
        ),
    ] = None,
    description: Annotated[str | None, typer.Option(help="A note to tell it by.")] = None,
    server: Server = None,
    api_key: ApiKeyOption = None,
    as_json: JsonOption = False,
) -> None:
    """Register a webhook and print its signing secret (shown only now)."""
    body: dict[str, Any] = {"url": url, "events": event or EVENT_NAMES}
    if description:
        body["description"] = description
    with Client(server, api_key) as client:
        hook = client.call("POST", "/api/webhooks", json=body)
    if as_json:
        echo(json.dumps(hook))
        return
    echo(_line(hook))
    echo(f"secret: {hook['secret']}  (shown only now: keep it to verify the signatures)")


@app.command("list")
def list_webhooks(
    server: Server = None, api_key: ApiKeyOption = None, as_json: JsonOption = False
) -> None:
    """Your webhooks."""
    with Client(server, api_key) as client:
        answer = client.call("GET", "/api/webhooks")
    if as_json:
        echo(json.dumps(answer))
        return
    for hook in answer["webhooks"]:
        echo(_line(hook))
    if not answer["webhooks"]:
        echo("no webhooks: add one with `storyteller webhooks add URL`")


@app.command()
def remove(webhook_id: IdArgument, server: Server = None, api_key: ApiKeyOption = None) -> None:
    """Delete a webhook and its delivery log."""
    with Client(server, api_key) as client:
        client.fetch("DELETE", f"/api/webhooks/{webhook_id}")
    echo(f"webhook {webhook_id} removed")


@app.command()
def rotate(webhook_id: IdArgument, server: Server = None, api_key: ApiKeyOption = None) -> None:
    """Give a webhook a new signing secret (the old one stops at once)."""
    with Client(server, api_key) as client:
        hook = client.call("POST", f"/api/webhooks/{webhook_id}/rotate")
    echo(f"secret: {hook['secret']}  (shown only now)")


@app.command()
def test(webhook_id: IdArgument, server: Server = None, api_key: ApiKeyOption = None) -> None:
    """Send a webhook.test event (see how it went with `deliveries`)."""
    with Client(server, api_key) as client:
        sent = client.call("POST", f"/api/webhooks/{webhook_id}/test")
    echo(f"test event queued: {sent['messageId']}")


@app.command()
def deliveries(
    webhook_id: IdArgument,
    limit: Annotated[
        int, typer.Option(min=1, max=500, help="How many messages, newest first.")
    ] = 20,
    server: Server = None,
    api_key: ApiKeyOption = None,
    as_json: JsonOption = False,
) -> None:
    """The webhook's newest messages and every attempt of each."""
    with Client(server, api_key) as client:
        log = client.call("GET", f"/api/webhooks/{webhook_id}/deliveries", params={"limit": limit})
    if as_json:
        echo(json.dumps(log))
        return
    for message in log["deliveries"]:
        echo(
            f"{message['messageId']}  {message['event']}  {message['state']}  {message['createdAt']}"
        )
        for attempt in message["attempts"]:
            status = attempt["status"] if attempt["status"] is not None else "-"
            echo(
                f"    {attempt['at']}  {status}  {attempt['latencyMs']} ms  {attempt['error'] or ''}"
            )
    if not log["deliveries"]:
        echo("nothing sent yet")
