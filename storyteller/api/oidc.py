"""Signing in through an OpenID Connect provider (Authlib), when `OIDC_ISSUER` is set.

`GET /api/auth/oidc/login` sends the browser to the provider with a state, a nonce and a
PKCE challenge, kept meanwhile in a short-lived cookie signed with the client secret;
`GET /api/auth/oidc/callback` checks the state, trades the code for tokens, has Authlib
check the ID token (signature by the provider's JWKS, issuer, audience, nonce, expiry) and
signs in the EXISTING user its `OIDC_USER_CLAIM` names, with the same session row and
cookie as a password. Nobody is created here: an admin adds users first. Off, both 404.
"""

from __future__ import annotations

import hashlib
import time
from typing import Annotated, Any
from urllib.parse import urlsplit

import anyio.to_thread
import httpx
from authlib.common.errors import AuthlibBaseError
from authlib.integrations.starlette_client import OAuth, StarletteOAuth2App
from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import OctKey
from pydantic import BaseModel, Field

from storyteller.accounts.signin import Viewer, sign_in_named
from storyteller.api.accounts import set_session_cookie
from storyteller.api.deps import DatabaseDep, SettingsDep
from storyteller.api.errors import ApiError
from storyteller.config import Settings

router = APIRouter(tags=["accounts"])

# The cookie that carries a sign-in in progress from the login route to the callback,
# and how long the person has at the provider.
STATE_COOKIE = "storyteller_oidc"
STATE_SECONDS = 600
CALLBACK_PATH = "/api/auth/oidc/callback"
START_AGAIN = "start again from the sign-in page"


class SignInMethods(BaseModel):
    password: bool = True
    oidc: str | None = Field(
        description="The host of the OpenID Connect provider to sign in with "
        "(`GET /api/auth/oidc/login`), or None when it is off."
    )


def provider(settings: Settings) -> StarletteOAuth2App | None:
    """Authlib's client of the provider (its discovery document is read on first use and
    kept), or None when OpenID Connect is off."""
    if not settings.oidc_issuer:
        return None
    secret = settings.oidc_client_secret
    client: StarletteOAuth2App = OAuth().register(
        "oidc",
        client_id=settings.oidc_client_id,
        client_secret=secret.get_secret_value() if secret else None,
        server_metadata_url=settings.oidc_issuer.rstrip("/") + "/.well-known/openid-configuration",
        client_kwargs={"scope": settings.oidc_scopes, "code_challenge_method": "S256"},
    )
    return client


async def get_provider(request: Request) -> StarletteOAuth2App:
    client: StarletteOAuth2App | None = request.app.state.oidc
    if client is None:
        raise ApiError(404, "sign-in through OpenID Connect is off (STORYTELLER_OIDC_ISSUER)")
    return client


ProviderDep = Annotated[StarletteOAuth2App, Depends(get_provider)]


def _state_key(settings: Settings) -> OctKey:
    """The state cookie's HMAC key: from the client secret, whatever its length."""
    secret = settings.oidc_client_secret.get_secret_value() if settings.oidc_client_secret else ""
    return OctKey.import_key(hashlib.sha256(f"storyteller-oidc-state:{secret}".encode()).digest())


def _redirect_uri(request: Request, settings: Settings) -> str:
    if settings.public_url:
        return settings.public_url.rstrip("/") + CALLBACK_PATH
    return str(request.url_for("oidc_callback"))


@router.get(
    "/api/auth/methods",
    response_model=SignInMethods,
    summary="How one may sign in (read by the page before anyone is signed in)",
)
def methods(settings: SettingsDep) -> SignInMethods:
    return SignInMethods(oidc=urlsplit(settings.oidc_issuer).hostname or None)


@router.get(
    "/api/auth/oidc/login",
    status_code=302,
    summary="Sign in through the OpenID Connect provider (redirects to it)",
    responses={302: {"description": "To the provider's authorization endpoint"}},
)
async def oidc_login(
    request: Request,
    settings: SettingsDep,
    client: ProviderDep,
) -> RedirectResponse:
    redirect_uri = _redirect_uri(request, settings)
    try:
        started: dict[str, Any] = await client.create_authorization_url(redirect_uri)
    except (httpx.HTTPError, ValueError, RuntimeError) as exc:
        raise ApiError(503, _unreachable(settings, exc)) from None
    keep = {
        "state": started["state"],
        "nonce": started["nonce"],
        "verifier": started["code_verifier"],
        "redirect_uri": redirect_uri,
        "exp": int(time.time()) + STATE_SECONDS,
    }
    response = RedirectResponse(started["url"], status_code=302)
    response.set_cookie(
        STATE_COOKIE,
        jwt.encode({"alg": "HS256"}, keep, _state_key(settings)),
        max_age=STATE_SECONDS,
        httponly=True,
        samesite="lax",  # sent back on the provider's top-level redirect
        secure=request.url.scheme == "https",
        path=CALLBACK_PATH,
    )
    return response


@router.get(
    CALLBACK_PATH,
    status_code=302,
    summary="Where the OpenID Connect provider sends the browser back (signs in, then to /)",
    responses={302: {"description": "Signed in: to the page, with the session cookie"}},
)
async def oidc_callback(
    request: Request,
    settings: SettingsDep,
    database: DatabaseDep,
    client: ProviderDep,
) -> RedirectResponse:
    params = request.query_params
    if "error" in params:
        said = params.get("error_description") or params["error"]
        raise ApiError(401, f"the sign-in provider refused: {said}")
    kept = _kept_state(request, settings)
    if not params.get("state") or params["state"] != kept["state"]:
        raise ApiError(400, f"the sign-in's state does not match this browser's: {START_AGAIN}")
    if not params.get("code"):
        raise ApiError(400, f"the provider sent no code: {START_AGAIN}")
    try:
        token = await client.fetch_access_token(
            redirect_uri=kept["redirect_uri"], code=params["code"], code_verifier=kept["verifier"]
        )
    except (AuthlibBaseError, httpx.HTTPStatusError) as exc:
        raise ApiError(401, f"the sign-in provider refused the code: {exc}") from None
    except (httpx.HTTPError, ValueError) as exc:
        raise ApiError(503, _unreachable(settings, exc)) from None
    if "id_token" not in token:
        raise ApiError(401, "the sign-in provider sent no ID token: is `openid` in OIDC_SCOPES?")
    try:
        issuer = settings.oidc_issuer
        claims = await client.parse_id_token(
            token,
            nonce=kept["nonce"],
            claims_options={"iss": {"essential": True, "values": [issuer, issuer.rstrip("/")]}},
            leeway=60,
        )
    except (JoseError, AuthlibBaseError, ValueError) as exc:
        raise ApiError(401, f"the provider's ID token is not valid: {exc}") from None
    except httpx.HTTPError as exc:
        raise ApiError(503, _unreachable(settings, exc)) from None
    claim = settings.oidc_user_claim
    name = claims.get(claim)
    if not isinstance(name, str) or not name:
        raise ApiError(
            401,
            f"the provider's ID token names nobody in its {claim!r} claim: set "
            "STORYTELLER_OIDC_USER_CLAIM to the claim that holds the user name here",
        )
    address = request.client.host if request.client else None

    def sign() -> tuple[Viewer, str] | None:
        with database.write() as session:
            return sign_in_named(
                session, name=name, hours=settings.session_hours, client=address, how="oidc"
            )

    signed = await anyio.to_thread.run_sync(sign)
    if signed is None:
        raise ApiError(
            401,
            f"{name!r} is not a user here, or is disabled: an admin adds them with "
            f"`storyteller users add {name} --role member --no-password`",
        )
    response = RedirectResponse("/", status_code=302)
    set_session_cookie(response, signed[1], request=request, settings=settings)
    response.delete_cookie(STATE_COOKIE, path=CALLBACK_PATH, httponly=True, samesite="lax")
    return response


def _kept_state(request: Request, settings: Settings) -> dict[str, Any]:
    """What the login route kept for this browser: its signature and age checked."""
    kept = request.cookies.get(STATE_COOKIE)
    if not kept:
        raise ApiError(
            400, f"this browser holds no sign-in in progress (cookies off?): {START_AGAIN}"
        )
    try:
        decoded = jwt.decode(kept, _state_key(settings), algorithms=["HS256"])
        jwt.JWTClaimsRegistry(exp={"essential": True}).validate(decoded.claims)
    except (JoseError, ValueError):
        raise ApiError(
            400, f"the sign-in in progress expired or was tampered with: {START_AGAIN}"
        ) from None
    claims: dict[str, Any] = decoded.claims
    return claims


def _unreachable(settings: Settings, exc: Exception) -> str:
    return (
        f"the sign-in provider at {settings.oidc_issuer} cannot be reached or answers "
        f"nonsense ({type(exc).__name__}); try again, or tell an admin"
    )
