"""What keeps the service safe to reach over a network, before any route runs: host names
it answers to (DNS rebinding), cross-site requests that would change something (CSRF),
CORS, and the headers that tell browsers how to treat every answer.

- `Host` must be one of `allowed_hosts`: a page on evil.example whose name was made to
  point at 127.0.0.1 still sends `Host: evil.example`, and is refused.
- POST, PUT, PATCH and DELETE from a browser name their page's origin (`Origin`, or
  `Referer` without it); one that is neither this service (its `Host`) nor one of
  `cors_origins` is refused with 403. Requests that name no page (the command line,
  scripts, curl) pass: only a browser carries a visitor's sign-in to another site.
- CORS answers only the origins of `cors_origins` (none by default: same origin only).
- Every answer says `nosniff`, may not be framed, sends no referrer to other sites, and
  (pages) may load nothing but this origin's own files (Content-Security-Policy).
"""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import urlsplit

from fastapi import FastAPI
from starlette._utils import parse_host_header
from starlette.datastructures import Headers, MutableHeaders
from starlette.middleware.cors import CORSMiddleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from storyteller.api.errors import error_response
from storyteller.config import Settings

STATE_CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})

# The page: its own scripts, styles, pictures and API only; no plugins, no framing, no
# <base> or form sent elsewhere.
PAGE_POLICY = (
    "default-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; "
    "frame-ancestors 'none'"
)
# FastAPI's /docs and /redoc pages load Swagger UI and ReDoc from jsDelivr and start them
# with an inline script; they show the schema and nothing a user uploaded.
DOCS_POLICY = (
    "default-src 'self'; script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; "
    "style-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net https://fonts.googleapis.com; "
    "font-src 'self' https://fonts.gstatic.com; img-src 'self' data: https:; "
    "worker-src 'self' blob:; object-src 'none'; base-uri 'self'; frame-ancestors 'none'"
)
DOCS_PATHS = ("/docs", "/redoc")


class AllowedHosts(TrustedHostMiddleware):
    """Starlette's check of the `Host` header (its patterns: `stories.example`,
    `*.example.com`, `*`), answered as every error is: JSON with the reason."""

    def __init__(self, app: ASGIApp, allowed_hosts: Sequence[str]) -> None:
        super().__init__(app, allowed_hosts=allowed_hosts, www_redirect=False)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.allow_any or scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        parsed = parse_host_header(Headers(scope=scope).get("host"))
        host = parsed.host.lower() if parsed else ""
        if host and any(
            host == pattern or (pattern.startswith("*.") and host.endswith(pattern[1:]))
            for pattern in self.allowed_hosts
        ):
            await self.app(scope, receive, send)
            return
        shown = f"host {host!r}" if host else "a request without a valid Host header"
        refusal = error_response(
            400,
            f"{shown} is not served here: the host names this service answers to are "
            "set by STORYTELLER_ALLOWED_HOSTS",
        )
        await refusal(scope, receive, send)


def origin_of(url: str) -> str | None:
    """`scheme://host[:port]` of a URL, lowercased; None when it has none."""
    parts = urlsplit(url.strip())
    if not parts.scheme or not parts.netloc:
        return None
    return f"{parts.scheme}://{parts.netloc}".lower()


class SameOriginWrites:
    """Refuses (403) a state-changing request whose page is on another origin than this
    service and is not one of `allowed_origins` (`*`: any)."""

    def __init__(self, app: ASGIApp, allowed_origins: Sequence[str]) -> None:
        self.app = app
        self.allow_any = "*" in allowed_origins
        self.allowed = {origin.rstrip("/").lower() for origin in allowed_origins}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in STATE_CHANGING or self.allow_any:
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        origin = headers.get("origin")
        named = "Origin"
        if origin is None and "referer" in headers:
            origin, named = origin_of(headers["referer"]) or "null", "Referer"
        if origin is None or self.allows(origin, headers.get("host", "")):
            await self.app(scope, receive, send)
            return
        refusal = error_response(
            403,
            f"cross-site request refused: its page ({named} {origin}) is neither this "
            "service nor an origin of STORYTELLER_CORS_ORIGINS",
        )
        await refusal(scope, receive, send)

    def allows(self, origin: str, host: str) -> bool:
        origin = origin.strip().rstrip("/").lower()
        if origin in self.allowed:
            return True
        # This service's own pages. Host and port are compared, not the scheme: behind
        # a proxy that ends TLS the page is https:// while the request reaches us as
        # http://. The Host itself was checked against the allowed hosts.
        parts = urlsplit(origin)
        return (
            bool(parts.netloc)
            and parts.scheme in ("http", "https")
            and parts.netloc == host.lower()
        )


class SecurityHeaders:
    """Adds the headers every answer carries (unless a route set its own)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")
        policy = DOCS_POLICY if path in DOCS_PATHS else PAGE_POLICY

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers.setdefault("Content-Security-Policy", policy)
                headers.setdefault("X-Content-Type-Options", "nosniff")
                headers.setdefault("X-Frame-Options", "DENY")
                headers.setdefault("Referrer-Policy", "same-origin")
                headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
            await send(message)

        await self.app(scope, receive, send_with_headers)


def install(app: FastAPI, settings: Settings) -> None:
    """The guards, outermost last: headers on every answer, then the host check, CORS
    (which answers preflights), then the cross-site check."""
    origins = settings.cors_origins
    app.add_middleware(SameOriginWrites, allowed_origins=origins)
    app.add_middleware(
        CORSMiddleware,
        allow_origins=origins,
        allow_methods=["*"],
        allow_headers=["*"],
        allow_credentials="*" not in origins,
    )
    app.add_middleware(AllowedHosts, allowed_hosts=settings.allowed_hosts)
    app.add_middleware(SecurityHeaders)
