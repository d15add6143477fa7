"""Signing in through OpenID Connect, against a small provider the test serves on loopback
(discovery, an authorize endpoint that approves at once, token and JWKS), the app driven
in-process with the redirects followed by hand."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from fastapi import FastAPI
from joserfc.jwk import RSAKey
from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.orm import sessionmaker

from storyteller.accounts import users
from storyteller.app import create_app
from storyteller.config import Settings
from storyteller.db.models import AuditEntry
from storyteller.db.session import make_engine, write_engine
from tests.accounts.provider import CLIENT_ID, CLIENT_SECRET, Provider, provider_served

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(120)]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def provider() -> Iterator[Provider]:
    with provider_served() as state:
        yield state


MakeApp = Callable[..., Awaitable[httpx.AsyncClient]]


@pytest.fixture
async def make_app(settings: Settings, database_url: str) -> AsyncIterator[MakeApp]:
    """make_app(**settings): a client of the app running in-process, its lifespan run."""
    running: list[tuple[Any, httpx.AsyncClient]] = []

    async def make(**overrides: Any) -> httpx.AsyncClient:
        app: FastAPI = create_app(
            settings.model_copy(update={"database_url": database_url, **overrides})
        )
        lifespan = app.router.lifespan_context(app)
        await lifespan.__aenter__()
        client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app), base_url="http://storyteller.test", timeout=30
        )
        running.append((lifespan, client))
        return client

    yield make
    for lifespan, client in reversed(running):
        await client.aclose()
        await lifespan.__aexit__(None, None, None)


def add_user(database_url: str, name: str, *, disabled: bool = False) -> None:
    """A user as an admin adds one for OpenID Connect: no password."""
    engine = make_engine(database_url)
    try:
        # Read then write beside the running service: SQLite's write lock taken at BEGIN.
        with sessionmaker(write_engine(engine)).begin() as session:
            users.add_user(session, name=name, role="member", password=None)
            if disabled:
                users.set_disabled(session, name=name, disabled=True)
    finally:
        engine.dispose()


def audit_entries(database_url: str) -> list[tuple[str | None, str, str | None]]:
    engine = make_engine(database_url)
    try:
        with sessionmaker(engine)() as session:
            rows = session.scalars(select(AuditEntry).order_by(AuditEntry.id))
            return [(row.actor, row.action, row.detail) for row in rows]
    finally:
        engine.dispose()


async def oidc_app(make_app: MakeApp, provider: Provider) -> httpx.AsyncClient:
    return await make_app(
        oidc_issuer=provider.issuer,
        oidc_client_id=CLIENT_ID,
        oidc_client_secret=SecretStr(CLIENT_SECRET),
    )


async def to_provider(client: httpx.AsyncClient) -> str:
    """The login route's redirect, followed to the provider, which approves at once: the
    callback address it sends the browser back to."""
    start = await client.get("/api/auth/oidc/login")
    assert start.status_code == 302, start.text
    authorize = start.headers["location"]
    assert authorize.startswith(f"{client_issuer(authorize)}/authorize?")
    asked = parse_qs(urlsplit(authorize).query)
    assert asked["redirect_uri"] == ["http://storyteller.test/api/auth/oidc/callback"]
    assert asked["code_challenge_method"] == ["S256"] and asked["nonce"] and asked["state"]
    async with httpx.AsyncClient() as browser:
        approved = await browser.get(authorize)
    assert approved.status_code == 302
    back: str = approved.headers["location"]
    assert back.startswith("http://storyteller.test/api/auth/oidc/callback?")
    return back


def client_issuer(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


async def test_a_known_user_signs_in_and_the_cookie_works(
    make_app: MakeApp, provider: Provider, database_url: str
) -> None:
    client = await oidc_app(make_app, provider)
    add_user(database_url, "ann")
    methods = (await client.get("/api/auth/methods")).json()
    assert methods["oidc"] == "127.0.0.1"
    assert (await client.get("/api/jobs")).status_code == 401

    done = await client.get(await to_provider(client))
    assert done.status_code == 302, done.text
    assert done.headers["location"] == "/"
    me = await client.get("/api/auth/me")
    assert me.status_code == 200 and me.json()["name"] == "ann"
    assert (await client.get("/api/jobs")).status_code == 200
    assert ("ann", "sign_in", "oidc") in audit_entries(database_url)

    # The code was spent: the same callback again is refused (the state cookie is gone).
    again = await client.get(done.request.url)
    assert again.status_code == 400 and "start again" in again.json()["error"]


async def test_an_unknown_user_is_refused(
    make_app: MakeApp, provider: Provider, database_url: str
) -> None:
    client = await oidc_app(make_app, provider)
    add_user(database_url, "ann")
    provider.user = "mallory"
    refused = await client.get(await to_provider(client))
    assert refused.status_code == 401
    error = refused.json()["error"]
    assert "'mallory' is not a user here" in error and "storyteller users add mallory" in error
    assert "storyteller_session" not in client.cookies
    assert (await client.get("/api/auth/me")).status_code == 401
    assert ("mallory", "sign_in_failed", "oidc") in audit_entries(database_url)


async def test_a_disabled_user_is_refused(
    make_app: MakeApp, provider: Provider, database_url: str
) -> None:
    client = await oidc_app(make_app, provider)
    add_user(database_url, "ann", disabled=True)
    refused = await client.get(await to_provider(client))
    assert refused.status_code == 401
    assert "is disabled" in refused.json()["error"]
    assert (await client.get("/api/jobs")).status_code == 401


async def test_a_tampered_state_is_refused(
    make_app: MakeApp, provider: Provider, database_url: str
) -> None:
    client = await oidc_app(make_app, provider)
    add_user(database_url, "ann")
    back = await to_provider(client)
    query = parse_qs(urlsplit(back).query)
    tampered = f"/api/auth/oidc/callback?code={query['code'][0]}&state=not-the-state"
    refused = await client.get(tampered)
    assert refused.status_code == 400
    assert "state does not match" in refused.json()["error"]
    # A state cookie forged without the client secret is refused as well.
    client.cookies.set("storyteller_oidc", "e30.e30.forged", path="/api/auth/oidc/callback")
    forged = await client.get(back)
    assert forged.status_code == 400 and "tampered" in forged.json()["error"]
    assert (await client.get("/api/jobs")).status_code == 401


async def test_an_id_token_signed_by_another_key_is_refused(
    make_app: MakeApp, provider: Provider, database_url: str
) -> None:
    client = await oidc_app(make_app, provider)
    add_user(database_url, "ann")
    provider.forged_by = RSAKey.generate_key(2048, parameters={"kid": "k1"})
    refused = await client.get(await to_provider(client))
    assert refused.status_code == 401
    assert "ID token is not valid" in refused.json()["error"]
    assert (await client.get("/api/jobs")).status_code == 401


@pytest.mark.parametrize(
    "wrong",
    [
        {"aud": "another-client"},
        {"iss": "http://127.0.0.1:1/another-issuer"},
        {"nonce": "a-nonce-of-another-sign-in"},
        {"exp": 1_000_000_000, "iat": 999_999_000},
    ],
    ids=["audience", "issuer", "nonce", "expired"],
)
async def test_an_id_token_with_a_wrong_claim_is_refused(
    make_app: MakeApp, provider: Provider, database_url: str, wrong: dict[str, object]
) -> None:
    client = await oidc_app(make_app, provider)
    add_user(database_url, "ann")
    provider.wrong_claims = wrong
    refused = await client.get(await to_provider(client))
    assert refused.status_code == 401, refused.text
    assert "ID token is not valid" in refused.json()["error"]
    assert (await client.get("/api/jobs")).status_code == 401


async def test_the_provider_saying_no_is_told(make_app: MakeApp, provider: Provider) -> None:
    client = await oidc_app(make_app, provider)
    await client.get("/api/auth/oidc/login")
    refused = await client.get(
        "/api/auth/oidc/callback?error=access_denied&error_description=the+user+said+no"
    )
    assert refused.status_code == 401
    assert refused.json()["error"] == "the sign-in provider refused: the user said no"


async def test_off_the_routes_answer_404(make_app: MakeApp, database_url: str) -> None:
    client = await make_app()
    add_user(database_url, "ann")
    for path in ("/api/auth/oidc/login", "/api/auth/oidc/callback?code=x&state=y"):
        answer = await client.get(path)
        assert answer.status_code == 404, path
        assert "OpenID Connect is off" in answer.json()["error"]
    assert (await client.get("/api/auth/methods")).json()["oidc"] is None


def test_an_issuer_without_client_credentials_is_refused() -> None:
    with pytest.raises(ValueError, match="STORYTELLER_OIDC_CLIENT_SECRET"):
        Settings(_env_file=None, oidc_issuer="https://id.example", oidc_client_id="x")  # type: ignore[call-arg]
