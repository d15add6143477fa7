"""A small OpenID Connect provider for tests, served on loopback: discovery, an authorize
endpoint that approves at once (for `Provider.user`), a token endpoint that checks the
client secret and the PKCE verifier and signs an RS256 ID token, and the JWKS."""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from urllib.parse import urlencode

from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from tests.service.server import served_in_thread

CLIENT_ID = "storyteller-test"
CLIENT_SECRET = "a-secret-only-the-test-knows"


@dataclass
class Provider:
    """The provider's state: who it says signed in, how it signs, what it was sent."""

    issuer: str = ""
    user: str = "ann"
    key: RSAKey = field(default_factory=lambda: RSAKey.generate_key(2048, parameters={"kid": "k1"}))
    # Signs ID tokens with this key instead (one the JWKS does not hold) when set.
    forged_by: RSAKey | None = None
    codes: dict[str, dict[str, str]] = field(default_factory=dict)
    # Claims of the ID token replaced with these (a wrong audience, issuer, nonce...).
    wrong_claims: dict[str, object] = field(default_factory=dict)

    def app(self) -> Starlette:
        async def discovery(request: Request) -> Response:
            return JSONResponse(
                {
                    "issuer": self.issuer,
                    "authorization_endpoint": f"{self.issuer}/authorize",
                    "token_endpoint": f"{self.issuer}/token",
                    "jwks_uri": f"{self.issuer}/jwks",
                    "response_types_supported": ["code"],
                    "subject_types_supported": ["public"],
                    "id_token_signing_alg_values_supported": ["RS256"],
                }
            )

        async def authorize(request: Request) -> Response:
            asked = dict(request.query_params)
            assert asked["client_id"] == CLIENT_ID and asked["response_type"] == "code"
            code = secrets.token_urlsafe(16)
            self.codes[code] = asked
            back = {"code": code, "state": asked["state"]}
            return RedirectResponse(f"{asked['redirect_uri']}?{urlencode(back)}", status_code=302)

        async def token(request: Request) -> Response:
            form = await request.form()
            basic = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
            if request.headers.get("authorization") != f"Basic {basic}":
                return JSONResponse({"error": "invalid_client"}, status_code=401)
            asked = self.codes.pop(str(form.get("code")), None)
            verifier = str(form.get("code_verifier"))
            challenge = (
                base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
                .rstrip(b"=")
                .decode()
            )
            if asked is None or asked["code_challenge"] != challenge:
                return JSONResponse({"error": "invalid_grant"}, status_code=400)
            now = int(time.time())
            claims = {
                "iss": self.issuer,
                "sub": f"sub-{self.user}",
                "aud": CLIENT_ID,
                "iat": now,
                "exp": now + 300,
                "nonce": asked["nonce"],
                "preferred_username": self.user,
            }
            claims.update(self.wrong_claims)
            key = self.forged_by or self.key
            id_token = jwt.encode({"alg": "RS256", "kid": "k1"}, claims, key)
            return JSONResponse(
                {
                    "access_token": "at",
                    "token_type": "Bearer",
                    "expires_in": 300,
                    "id_token": id_token,
                }
            )

        async def jwks(request: Request) -> Response:
            return JSONResponse(KeySet([self.key]).as_dict(private=False))

        return Starlette(
            routes=[
                Route("/.well-known/openid-configuration", discovery),
                Route("/authorize", authorize),
                Route("/token", token, methods=["POST"]),
                Route("/jwks", jwks),
            ]
        )


@contextmanager
def provider_served() -> Iterator[Provider]:
    """A provider on a loopback port while the block runs; its `issuer` is its address."""
    state = Provider()
    with served_in_thread(state.app()) as address:
        state.issuer = address
        yield state
