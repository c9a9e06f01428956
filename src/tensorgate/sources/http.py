"""Fetch an image from an ``https://`` URL without letting the server be turned on its
own network (SSRF).

Guards, each checked on every hop of a redirect chain:

- URLs are off unless a policy enables them; ``https`` only unless the policy allows
  more; a URL with ``user@`` in it is refused (it hides the real host from readers).
- The host is resolved once, *at connect time*, and every address it resolves to must
  be public: loopback, private, link-local (cloud metadata), CGNAT, multicast, reserved
  and unspecified addresses are refused, as are IPv4 addresses hidden in IPv6 (mapped,
  NAT64, 6to4, Teredo). The connection goes to the address that was checked, so DNS
  rebinding between check and connect is not possible. TLS still verifies the name.
- Connect timeout, total deadline, byte limit (checked on Content-Length and while
  reading), and at most N redirects.

``allow_networks`` lets a deployment (or a test) name networks it trusts anyway.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import ssl
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpcore

from tensorgate.errors import BlockedSourceError, SourceError, SourceTooLargeError
from tensorgate.protocol.numbers import is_decimal

__all__ = ["UrlPolicy", "check_address", "check_url", "fetch_url"]

MiB = 1024 * 1024
_NAT64 = ipaddress.ip_network("64:ff9b::/96")

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True, slots=True)
class UrlPolicy:
    """What URL inputs may do.

    Attributes:
        enabled: URLs are refused unless True.
        schemes: allowed schemes (``https`` only by default).
        allow_networks: CIDR networks trusted even though they are not public.
        connect_timeout_s: TCP (and TLS) connect timeout per hop.
        total_timeout_s: deadline for the whole fetch, redirects included.
        max_bytes: body size limit.
        max_redirects: redirects followed at most, each re-checked.
    """

    enabled: bool = False
    schemes: tuple[str, ...] = ("https",)
    allow_networks: tuple[str, ...] = ()
    connect_timeout_s: float = 3.0
    total_timeout_s: float = 5.0
    max_bytes: int = 20 * MiB
    max_redirects: int = 3

    def trusted(self, address: IPAddress) -> bool:
        return any(address in ipaddress.ip_network(n, strict=False) for n in self.allow_networks)


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    return None


def check_address(address: IPAddress, policy: UrlPolicy, host: str) -> None:
    """Raise BlockedSourceError unless ``address`` is public (or trusted by the policy)."""
    if policy.trusted(address):
        return
    inner = _embedded_ipv4(address) if isinstance(address, ipaddress.IPv6Address) else None
    for candidate in (address, inner):
        if candidate is None:
            continue
        if not candidate.is_global or candidate.is_multicast:
            raise BlockedSourceError(
                f"URL host {host!r} resolves to {address}, which is not a public address "
                "(loopback, private, link-local, CGNAT, multicast or reserved); "
                "only public hosts may be fetched"
            )


def check_url(url: str, policy: UrlPolicy) -> tuple[str, str, int]:
    """Validate a URL's form; return (scheme, host, port)."""
    if not policy.enabled:
        raise BlockedSourceError(
            "URL inputs are disabled on this server; send the image bytes instead, "
            "or start the server with URL inputs enabled"
        )
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise SourceError(f"URL {url!r:.200} is malformed: {exc}") from None
    scheme = parts.scheme.lower()
    if scheme not in policy.schemes:
        raise BlockedSourceError(
            f"URL scheme {scheme or '(none)'!r} is not allowed; use {', '.join(policy.schemes)}"
        )
    if "@" in parts.netloc:
        raise BlockedSourceError(
            f"URL {url!r:.200} carries credentials (user@host); they are not allowed"
        )
    host = parts.hostname
    if not host:
        raise SourceError(f"URL {url!r:.200} has no host")
    return scheme, host, port or (443 if scheme == "https" else 80)


class _GuardedBackend(httpcore.AsyncNetworkBackend):
    """Resolves, checks every address, then connects to the checked address."""

    def __init__(self, policy: UrlPolicy) -> None:
        self._policy = policy
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's signature)
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            literal: IPAddress | None = ipaddress.ip_address(host.strip("[]"))
        except ValueError:
            literal = None
        if literal is not None:
            addresses: list[IPAddress] = [literal]
        else:
            try:
                infos = await asyncio.get_running_loop().getaddrinfo(
                    host, port, type=socket.SOCK_STREAM
                )
            except OSError as exc:
                raise SourceError(f"URL host {host!r} cannot be resolved: {exc}") from None
            addresses = list(dict.fromkeys(ipaddress.ip_address(i[4][0]) for i in infos))
        for address in addresses:
            check_address(address, self._policy, host)
        stream: httpcore.AsyncNetworkStream = await self._inner.connect_tcp(
            str(addresses[0]), port, timeout, local_address, socket_options
        )
        return stream

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


async def _fetch(url: str, policy: UrlPolicy) -> bytes:
    pool = httpcore.AsyncConnectionPool(
        ssl_context=ssl.create_default_context(),
        network_backend=_GuardedBackend(policy),
        max_connections=1,
        retries=0,
    )
    timeouts = {
        "connect": policy.connect_timeout_s,
        "read": policy.total_timeout_s,
        "write": policy.total_timeout_s,
        "pool": policy.total_timeout_s,
    }
    async with pool:
        for _ in range(policy.max_redirects + 1):
            check_url(url, policy)
            async with pool.stream(
                "GET", url, headers={"Accept": "image/*"}, extensions={"timeout": timeouts}
            ) as response:
                if response.status in (301, 302, 303, 307, 308):
                    location = _header(response, b"location")
                    if location is None:
                        raise SourceError(f"URL {url!r:.200} redirects without a Location")
                    url = urljoin(url, location)
                    continue
                if response.status != 200:
                    raise SourceError(f"URL {url!r:.200} answered HTTP {response.status}")
                declared = _header(response, b"content-length")
                if (
                    declared is not None
                    and is_decimal(declared)
                    and int(declared) > policy.max_bytes
                ):
                    raise SourceTooLargeError(
                        f"URL {url!r:.200} holds {int(declared):,} bytes; the limit is "
                        f"{policy.max_bytes:,}"
                    )
                body = bytearray()
                async for chunk in response.aiter_stream():
                    body += chunk
                    if len(body) > policy.max_bytes:
                        raise SourceTooLargeError(
                            f"URL {url!r:.200} sent more than {policy.max_bytes:,} bytes, the limit"
                        )
                return bytes(body)
    raise BlockedSourceError(
        f"URL redirected more than {policy.max_redirects} times; stopped at {url!r:.200}"
    )


def _header(response: httpcore.Response, name: bytes) -> str | None:
    for key, value in response.headers:
        if key.lower() == name:
            return value.decode("latin-1")
    return None


async def fetch_url(url: str, policy: UrlPolicy) -> bytes:
    """The body of ``url`` under ``policy``.

    Raises:
        BlockedSourceError: the URL, a redirect or an address is not allowed (403).
        SourceTooLargeError: the body is over ``max_bytes`` (413).
        SourceError: anything else: unreachable, slow, not HTTP 200 (400).
    """
    try:
        async with asyncio.timeout(policy.total_timeout_s):
            return await _fetch(url, policy)
    except TimeoutError:
        raise SourceError(
            f"URL {url!r:.200} was not fetched within {policy.total_timeout_s:g} s"
        ) from None
    except httpcore.TimeoutException:
        raise SourceError(f"URL {url!r:.200} timed out") from None
    except (httpcore.NetworkError, httpcore.ProtocolError, httpcore.UnsupportedProtocol) as exc:
        raise SourceError(f"URL {url!r:.200} could not be fetched: {exc}") from None
