"""`storyteller users ...` and `storyteller keys ...`: accounts, managed on the server's
own database (the data folder's, or STORYTELLER_DATABASE_URL), no server needed."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from typing import Annotated

import typer
from sqlalchemy.orm import Session

from storyteller.commands.common import load_settings

users = typer.Typer(
    help="Users of the service: add, list, disable, set limits.", no_args_is_help=True
)
keys = typer.Typer(help="API keys: create, list, revoke.", no_args_is_help=True)


class RoleChoice(StrEnum):
    admin = "admin"
    member = "member"


class PriorityChoice(StrEnum):
    high = "high"
    normal = "normal"
    low = "low"


@contextmanager
def _database() -> Iterator[Session]:
    """A transaction on the service's database, migrated first; an account error ends
    the command with its reason."""
    from storyteller.accounts.users import AccountError
    from storyteller.db.migrate import MigrationError, migrate
    from storyteller.db.session import (
        default_database_url,
        make_engine,
        make_session_factory,
        write_engine,
    )

    settings = load_settings()
    url = default_database_url(settings)
    if url.startswith("sqlite"):
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    try:
        migrate(url)
    except MigrationError as exc:
        typer.echo(f"storyteller: {exc.reason}", err=True)
        raise typer.Exit(1) from exc
    engine = make_engine(url)
    try:
        # Reads, then writes, beside a running service: on SQLite the write lock is taken
        # at BEGIN, so it waits for the service's writes instead of failing "locked".
        with make_session_factory(write_engine(engine)).begin() as session:
            yield session
    except AccountError as exc:
        typer.echo(f"storyteller: {exc.reason}", err=True)
        raise typer.Exit(1) from exc
    finally:
        engine.dispose()


def _password(from_stdin: bool) -> str:
    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    return password


Name = Annotated[str, typer.Argument(help="The user's name.", show_default=False)]
PasswordStdin = Annotated[
    bool,
    typer.Option(
        "--password-stdin", help="Read the password from the first line of standard input."
    ),
]


@users.command("add")
def add(
    name: Name,
    role: Annotated[RoleChoice, typer.Option(help="admin or member.")] = RoleChoice.member,
    priority: Annotated[
        PriorityChoice, typer.Option(help="Their batches' priority: high, normal or low.")
    ] = PriorityChoice.normal,
    password_stdin: PasswordStdin = False,
    no_password: Annotated[
        bool,
        typer.Option(
            "--no-password",
            help="No password: they sign in only through the OpenID Connect provider "
            "(STORYTELLER_OIDC_ISSUER) or a trusted proxy.",
        ),
    ] = False,
) -> None:
    """Add a user (asks for the password, or reads it with --password-stdin; none with
    --no-password)."""
    from storyteller.accounts.users import add_user

    password = None if no_password else _password(password_stdin)
    with _database() as session:
        add_user(session, name=name, role=role.value, password=password, priority=priority.value)
    typer.echo(f"added {name} ({role.value})")


@users.command("list")
def list_() -> None:
    """Every user, their role, priority, quotas and whether they are disabled."""
    from storyteller.accounts.users import list_users

    with _database() as session:
        for user in list_users(session):
            quotas = ", ".join(
                f"{label} {value}"
                for label, value in (
                    ("videos/day", user.videos_per_day),
                    ("bytes", user.bytes_stored),
                    ("AI $/day", user.ai_usd_per_day),
                )
                if value is not None
            )
            state = " (disabled)" if user.disabled else ""
            typer.echo(f"{user.name}\t{user.role}\t{user.priority}\t{quotas or 'no quotas'}{state}")


@users.command("disable")
def disable(name: Name) -> None:
    """Sign the user out everywhere; their keys stop working."""
    from storyteller.accounts.users import set_disabled

    with _database() as session:
        set_disabled(session, name=name, disabled=True)
    typer.echo(f"disabled {name}")


@users.command("enable")
def enable(name: Name) -> None:
    """Let a disabled user in again."""
    from storyteller.accounts.users import set_disabled

    with _database() as session:
        set_disabled(session, name=name, disabled=False)
    typer.echo(f"enabled {name}")


@users.command("set")
def set_(
    name: Name,
    role: Annotated[RoleChoice | None, typer.Option(help="admin or member.")] = None,
    priority: Annotated[
        PriorityChoice | None,
        typer.Option(help="The default and highest priority of their batches."),
    ] = None,
    videos_per_day: Annotated[
        int | None, typer.Option(min=0, help="Videos a day (UTC); 0: no limit.")
    ] = None,
    bytes_stored: Annotated[
        int | None, typer.Option(min=0, help="Bytes of video stored at most; 0: no limit.")
    ] = None,
    ai_usd_per_day: Annotated[
        float | None, typer.Option(min=0, help="AI dollars a day (UTC); 0: no limit.")
    ] = None,
) -> None:
    """Change a user's role, priority or quotas."""
    from storyteller.accounts.users import Limits, set_limits
    from storyteller.db.models import Priority, Role

    limits = Limits(
        role=Role(role.value) if role else None,
        priority=Priority(priority.value) if priority else None,
        videos_per_day=videos_per_day,
        bytes_stored=bytes_stored,
        ai_usd_per_day=ai_usd_per_day,
    )
    with _database() as session:
        set_limits(session, name=name, limits=limits)
    typer.echo(f"changed {name}")


@users.command("reset-password")
def reset_password(name: Name, password_stdin: PasswordStdin = False) -> None:
    """A new password (signs the user out everywhere)."""
    from storyteller.accounts.users import set_password

    password = _password(password_stdin)
    with _database() as session:
        set_password(session, name=name, password=password)
    typer.echo(f"new password for {name}")


@keys.command("create")
def create(name: Name) -> None:
    """A new API key of the user, printed once as the last line (only its hash is kept)."""
    from storyteller.accounts.users import create_key, find_user

    with _database() as session:
        row, key = create_key(session, user=find_user(session, name))
        prefix = row.prefix
    typer.echo(f"API key {prefix}… for {name}; it is not shown again:", err=True)
    typer.echo(key)


@keys.command("list")
def list_keys(name: Name) -> None:
    """The user's keys: id, prefix, created, last used, revoked."""
    from storyteller.accounts.users import find_user
    from storyteller.accounts.users import list_keys as keys_of

    with _database() as session:
        for key in keys_of(session, user=find_user(session, name)):
            used = key.last_used_at.isoformat(timespec="seconds") if key.last_used_at else "never"
            revoked = (
                f"revoked {key.revoked_at.isoformat(timespec='seconds')}"
                if key.revoked_at
                else "active"
            )
            typer.echo(
                f"{key.id}\t{key.prefix}…\tcreated {key.created_at.isoformat(timespec='seconds')}"
                f"\tused {used}\t{revoked}"
            )


@keys.command("revoke")
def revoke(key_id: Annotated[str, typer.Argument(help="The key's id (keys list).")]) -> None:
    """Refuse the key from the next request on."""
    from storyteller.accounts.users import revoke_key

    with _database() as session:
        revoke_key(session, key_id=key_id)
    typer.echo(f"revoked {key_id}")
