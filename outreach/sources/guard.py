"""The SSRF guard: which addresses a fetch may connect to, checked at connect time.

The guard lives inside the urllib3 connection, so the address that is vetted is
the address that is connected to (no DNS-rebinding gap), on every redirect hop.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, ClassVar

from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NameResolutionError, NewConnectionError

from outreach.errors import BlockedURLError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

#: Cloud metadata endpoints, refused even if a network allowance would cover them.
METADATA = frozenset(
    {ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254")}
)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
#: Addresses of one host tried in turn; bounds the connect time of a host with many.
MAX_ADDRESSES = 3


def _embedded_v4(ip: IPAddress) -> ipaddress.IPv4Address | None:
    if isinstance(ip, ipaddress.IPv4Address):
        return None
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


@dataclass(frozen=True)
class AddressGuard:
    """Refuses non-public addresses unless the host or network is allowed."""

    allowed_hosts: frozenset[str] = frozenset()
    allowed_networks: tuple[IPNetwork, ...] = ()

    @classmethod
    def build(cls, hosts: Iterable[str] = (), networks: Iterable[str] = ()) -> AddressGuard:
        return cls(
            frozenset(h.lower().rstrip(".") for h in hosts),
            tuple(ipaddress.ip_network(n, strict=False) for n in networks),
        )

    def host_allowed(self, host: str) -> bool:
        return host.lower().rstrip(".") in self.allowed_hosts

    def check(self, host: str, ip: IPAddress) -> None:
        """Raise :class:`BlockedURLError` unless ``ip`` (resolved from ``host``) is fine."""
        if ip in METADATA or _embedded_v4(ip) in METADATA:
            raise BlockedURLError(f"{host}: address {ip} is a cloud metadata endpoint (refused)")
        if self.host_allowed(host) or any(ip in net for net in self.allowed_networks):
            return
        for candidate in (ip, _embedded_v4(ip)):
            if candidate is None:
                continue
            if (
                not candidate.is_global
                or candidate.is_multicast
                or candidate.is_reserved
                or candidate.is_unspecified
                or candidate.is_loopback
                or candidate.is_link_local
                # fec0::/10 (deprecated site-local) counts as global to Python
                or (isinstance(candidate, ipaddress.IPv6Address) and candidate.is_site_local)
            ):
                raise BlockedURLError(
                    f"{host}: address {ip} is not public (loopback, private, link-local, "
                    "multicast or reserved); add the host to OUTREACH_FETCH_ALLOWED_HOSTS "
                    "if it is a trusted intranet server"
                )


def _guarded_connect(conn: HTTPConnection, guard: AddressGuard) -> socket.socket:
    """Resolve, vet every address, and connect to a vetted one."""
    host = conn._dns_host
    host_bare = host.strip("[]")
    try:
        infos = socket.getaddrinfo(host_bare, conn.port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise NameResolutionError(conn.host, conn, exc) from exc
    addresses = []
    for family, socktype, proto, _name, sockaddr in infos:
        ip = ipaddress.ip_address(str(sockaddr[0]).split("%")[0])
        guard.check(host_bare, ip)  # one bad answer refuses the host
        addresses.append((family, socktype, proto, sockaddr))
    last: OSError | None = None
    timeout: Any = conn.timeout
    for family, socktype, proto, sockaddr in addresses[:MAX_ADDRESSES]:
        sock = socket.socket(family, socktype, proto)
        try:
            for opt in conn.socket_options or ():
                sock.setsockopt(*opt)
            sock.settimeout(timeout)
            sock.connect(sockaddr)
            return sock
        except TimeoutError as exc:
            sock.close()
            raise ConnectTimeoutError(
                conn, f"Connection to {conn.host} timed out. (connect timeout={timeout})"
            ) from exc
        except OSError as exc:
            sock.close()
            last = exc
    raise NewConnectionError(conn, f"Failed to establish a new connection: {last}")


class GuardedHTTPConnection(HTTPConnection):
    guard: ClassVar[AddressGuard] = AddressGuard()

    def _new_conn(self) -> socket.socket:
        return _guarded_connect(self, self.guard)


class GuardedHTTPSConnection(HTTPSConnection):
    guard: ClassVar[AddressGuard] = AddressGuard()

    def _new_conn(self) -> socket.socket:
        return _guarded_connect(self, self.guard)


def pool_classes(guard: AddressGuard) -> dict[str, type[HTTPConnectionPool]]:
    """Connection-pool classes for urllib3's PoolManager that connect through ``guard``."""
    http_conn = type("BoundHTTPConnection", (GuardedHTTPConnection,), {"guard": guard})
    https_conn = type("BoundHTTPSConnection", (GuardedHTTPSConnection,), {"guard": guard})
    http_pool = type("GuardedHTTPPool", (HTTPConnectionPool,), {"ConnectionCls": http_conn})
    https_pool = type("GuardedHTTPSPool", (HTTPSConnectionPool,), {"ConnectionCls": https_conn})
    return {"http": http_pool, "https": https_pool}
