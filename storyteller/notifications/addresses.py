"""Where a webhook may be sent: no request forgery through a user's URL.

A user names the URL, the service sends to it: without a guard that lets anyone with an
account reach what only the server reaches (the cloud's metadata service, a database's
admin page on 127.0.0.1, the office network). So a URL must be https, its host name is
resolved once, every address it resolves to must be public (not loopback, private,
link-local, shared/CGNAT, multicast, reserved, unspecified, nor an IPv6 form embedding
one of those), and the request then goes to that checked address (`Target.address`),
never to a second resolution an attacker's DNS could answer differently. The operator
may allow internal receivers by name or network (`STORYTELLER_WEBHOOK_ALLOWED_HOSTS`),
and plain http to them. The check runs when an endpoint is registered and again before
every delivery (DNS answers change).
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass

import httpx

from storyteller.config import Settings
from storyteller.errors import StorytellerError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

# IPv6 prefixes that carry an IPv4 address in their last 32 bits (NAT64).
_NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))
MAX_URL_LENGTH = 2000


class Refused(StorytellerError):
    """A webhook URL the service will not send to, and why, in words a user can act on."""


@dataclass(frozen=True)
class Allowed:
    """What the operator allowed beyond the public internet."""

    hosts: frozenset[str]
    networks: tuple[Network, ...]

    @classmethod
    def from_settings(cls, settings: Settings) -> Allowed:
        hosts: set[str] = set()
        networks: list[Network] = []
        for entry in settings.webhook_allowed_hosts.split(","):
            entry = entry.strip().lower()
            if not entry:
                continue
            try:
                networks.append(ipaddress.ip_network(entry.strip("[]"), strict=False))
            except ValueError:
                hosts.add(entry.rstrip("."))
        return cls(hosts=frozenset(hosts), networks=tuple(networks))

    def allows(self, host: str, addresses: list[IPAddress]) -> bool:
        if host in self.hosts:
            return True
        return bool(addresses) and all(
            any(address in network for network in self.networks) for address in addresses
        )


@dataclass(frozen=True)
class Target:
    """A checked URL and the address to connect to."""

    url: httpx.URL
    host: str  # as in the URL, lowercase, no trailing dot: for Host, SNI and certificates
    address: IPAddress


def forbidden(address: IPAddress) -> bool:
    """Whether an address is one a webhook must never reach unless allowed."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is None and address.teredo is not None:
            embedded = address.teredo[1]
        if embedded is None and any(address in prefix for prefix in _NAT64):
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if embedded is not None:
            return forbidden(embedded)
    return not address.is_global or address.is_multicast or address.is_reserved


def parse(url: str) -> httpx.URL:
    if len(url) > MAX_URL_LENGTH:
        raise Refused(f"the URL is longer than {MAX_URL_LENGTH} characters")
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError, ValueError) as error:
        raise Refused(f"{url!r} is not a URL: {error}") from None
    if parsed.scheme not in ("https", "http") or not parsed.host:
        raise Refused(f"{url!r} is not an http(s) URL with a host: give https://host/path")
    if parsed.userinfo:
        raise Refused("a webhook URL may not hold a user name or password (they would be sent)")
    return parsed


def resolve(host: str, port: int) -> list[IPAddress]:
    """Every address `host` resolves to (a literal address is itself)."""
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    try:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as error:
        raise Refused(f"the host {host} cannot be resolved ({error})") from None
    addresses: list[IPAddress] = []
    for *_, sockaddr in found:
        address = ipaddress.ip_address(str(sockaddr[0]).split("%")[0])
        if address not in addresses:
            addresses.append(address)
    if not addresses:
        raise Refused(f"the host {host} resolves to no address")
    return addresses


NOT_HTTPS = (
    "{url} is not https: webhooks go over https (plain http only to a host the operator "
    "allowed in STORYTELLER_WEBHOOK_ALLOWED_HOSTS)"
)


def check(url: str, allowed: Allowed) -> Target:
    """The URL checked and resolved; raises `Refused` saying why not."""
    parsed = parse(url)
    host = parsed.host.lower().rstrip(".")
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    if parsed.scheme != "https" and host not in allowed.hosts and not allowed.networks:
        raise Refused(NOT_HTTPS.format(url=url))  # before asking any server anything
    addresses = resolve(host, port)
    if allowed.allows(host, addresses):
        return Target(url=parsed, host=host, address=addresses[0])
    if parsed.scheme != "https":
        raise Refused(NOT_HTTPS.format(url=url))
    bad = [address for address in addresses if forbidden(address)]
    if bad:
        raise Refused(
            f"{host} is a private, loopback or otherwise internal address ({bad[0]}): "
            "webhooks go only to public addresses, unless the operator allows the host in "
            "STORYTELLER_WEBHOOK_ALLOWED_HOSTS"
        )
    return Target(url=parsed, host=host, address=addresses[0])
