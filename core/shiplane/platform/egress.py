"""The egress policy: which addresses the server itself may connect to for a tenant.

A tenant's A/B release names URLs the server GETs (HTTP probes). Without a policy a
tenant could make the server reach what only it can reach: the cloud's metadata
service (169.254.169.254, credentials), its own loopback ports, the host's link-local
network. The policy is checked **at connect time on the address actually dialled**:
the host name is resolved once, every address it resolves to must be allowed, and the
connection goes to that checked address (so a DNS answer that changes between the check
and the connect cannot slip through). TLS still verifies the certificate against the
host name.

Refused: an address in ``SHIPLANE_EGRESS_DENY_NETWORKS`` (default: link-local and the
cloud metadata addresses, the unspecified and multicast ranges; in production also
loopback) unless it is in ``SHIPLANE_EGRESS_ALLOW_NETWORKS`` (default empty). Private
networks (10/8, 172.16/12, 192.168/16, fc00::/7) are allowed by default: that is where
canaries run.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import ssl
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import httpcore
import httpx

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Always refused unless allowed: link-local (the metadata services of AWS, GCP, Azure,
# OpenStack live at 169.254.169.254; AWS's IPv6 one at fd00:ec2::254), Alibaba's
# metadata address, "this network", multicast and reserved ranges.
DEFAULT_DENY = (
    "0.0.0.0/8",
    "169.254.0.0/16",
    "100.100.100.200/32",
    "224.0.0.0/4",
    "240.0.0.0/4",
    "::/128",
    "fe80::/10",
    "fd00:ec2::254/128",
    "ff00::/8",
)
LOOPBACK = ("127.0.0.0/8", "::1/128")
RESOLVE_TIMEOUT = 5.0


class EgressRefused(httpcore.ConnectError):
    """A connection the egress policy does not allow (an ``httpx.ConnectError`` to callers)."""


def _networks(values: Iterable[str]) -> tuple[IPNetwork, ...]:
    return tuple(ipaddress.ip_network(v.strip(), strict=False) for v in values if v.strip())


@dataclass(frozen=True)
class EgressPolicy:
    deny: tuple[IPNetwork, ...]
    allow: tuple[IPNetwork, ...] = ()

    @classmethod
    def from_settings(cls, settings: Any) -> EgressPolicy:
        deny = settings.egress_deny_networks
        if deny is None:
            deny = [*DEFAULT_DENY, *(LOOPBACK if settings.mode == "production" else ())]
        return cls(_networks(deny), _networks(settings.egress_allow_networks))

    def refusal(self, address: str) -> str | None:
        """Why ``address`` may not be dialled, or None when it may."""
        ip: IPAddress = ipaddress.ip_address(address.split("%", 1)[0])
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        if any(ip in net for net in self.allow if net.version == ip.version):
            return None
        for net in self.deny:
            if net.version == ip.version and ip in net:
                return f"the egress policy refuses {ip} (in {net}; SHIPLANE_EGRESS_ALLOW_NETWORKS allows it)"
        return None

    async def resolve(self, host: str, port: int) -> list[str]:
        """Every address ``host`` resolves to, each allowed; else :class:`EgressRefused`."""
        try:
            literal = ipaddress.ip_address(host.strip("[]"))
            addresses = [str(literal)]
        except ValueError:
            loop = asyncio.get_running_loop()
            try:
                async with asyncio.timeout(RESOLVE_TIMEOUT):
                    found = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
            except (OSError, TimeoutError) as exc:
                raise httpcore.ConnectError(f"cannot resolve {host!r}: {exc}") from None
            addresses = list(dict.fromkeys(str(info[4][0]) for info in found))
        for address in addresses:
            why = self.refusal(address)
            if why:
                raise EgressRefused(f"{host}: {why}")
        return addresses

    async def check_url(self, url: str) -> str | None:
        """Why a URL's host is refused now (None: allowed, or not resolvable yet)."""
        parsed = httpx.URL(url)
        try:
            await self.resolve(parsed.host, parsed.port or (443 if parsed.scheme == "https" else 80))
        except EgressRefused as exc:
            return str(exc)
        except httpcore.ConnectError:
            return None  # may resolve where and when it runs; checked again at connect time
        return None

    def client(self, **kwargs: Any) -> httpx.AsyncClient:
        """An httpx client whose every connection goes through this policy (no proxies
        from the environment: a proxy would dial on our behalf, unchecked)."""
        transport = httpx.AsyncHTTPTransport(trust_env=False)
        # httpx builds its pool without a way to pass a network backend; the pool is
        # rebuilt with the same TLS context and the checking backend.
        pool = transport._pool
        transport._pool = httpcore.AsyncConnectionPool(
            ssl_context=pool._ssl_context or ssl.create_default_context(),
            max_connections=pool._max_connections,
            max_keepalive_connections=pool._max_keepalive_connections,
            keepalive_expiry=pool._keepalive_expiry,
            network_backend=_CheckedBackend(self),
        )
        return httpx.AsyncClient(transport=transport, trust_env=False, **kwargs)


class _CheckedBackend(httpcore.AsyncNetworkBackend):
    """httpcore's network backend, dialling only addresses the policy allows."""

    def __init__(self, policy: EgressPolicy) -> None:
        self.policy = policy
        self.inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        last: Exception | None = None
        for address in await self.policy.resolve(host, port):
            try:
                return await self.inner.connect_tcp(address, port, timeout, local_address, socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last = exc
        raise last or httpcore.ConnectError(f"cannot connect to {host}:{port}")

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise EgressRefused("the egress policy refuses Unix sockets")

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)
