"""Outbound HTTP that cannot be turned against the server's own network (SSRF guard).

A podcast feed URL is chosen by a user, and the feed then chooses the enclosure and image
URLs and any redirect. Fetched naively, `http://127.0.0.1:5432/`, `http://169.254.169.254/`
(a cloud's metadata service) or a LAN router's admin page become reachable from outside
through the server. So every connection the guarded client makes is checked here:

* the host is resolved once, and **every** address it resolves to must be allowed (a name
  that resolves to one public and one private address is refused, not raced);
* the connection is then made to one of the checked addresses themselves, never to the name
  again, so a second DNS answer (DNS rebinding: public at check time, 127.0.0.1 at connect
  time) cannot slip in; TLS still verifies the certificate against the URL's host name;
* this happens in the network backend under httpx (`guarded_client`), i.e. for the first
  request and for every redirect hop alike, each hop being a new connection;
* environment proxies are not used (`trust_env=False`): through a proxy the address checked
  would be the proxy's, not the target's.

Refused: loopback, private (RFC 1918, ULA), link-local, carrier-grade NAT, multicast,
unspecified, reserved and every other range that is not globally routable (`ipaddress`'s
`is_global`); IPv4-mapped and 6to4 IPv6 addresses are judged as the IPv4 address they
carry (NAT64's 64:ff9b::/96 and IPv4-compatible ::a.b.c.d are reserved: refused).
`AddressPolicy` lists exceptions for feeds on the LAN: `private` (every loopback, private
and link-local address) and/or CIDR networks, from the setting `podcast_allow_networks`;
and, from the setting `podcast_dns_servers`, the DNS servers host names are resolved with
(dnspython, A and AAAA) instead of the system resolver. Host spellings the system resolver
takes for an IPv4 address (`2130706433`, `0177.0.0.1`, `0x7f.1`, `127.1`) resolve to that
address and are judged as it; the DNS servers take them for names.
"""

from __future__ import annotations

import ipaddress
import socket
import typing
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

import anyio
import httpcore
import httpx

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
PRIVATE = "private"
RESOLVE_TIMEOUT_S = 10.0


class BlockedAddress(Exception):
    """A URL's host resolves to an address the policy refuses; the message names the host,
    the address and why (safe to show to clients)."""


class Unresolvable(Exception):
    """A URL's host does not resolve (or not in time)."""


@dataclass(frozen=True, slots=True)
class AddressPolicy:
    """Which non-public addresses outbound fetches may reach anyway: `private` (loopback,
    private, link-local) and `networks` (explicit CIDRs, any kind of address)."""

    private: bool = False
    networks: tuple[IPNetwork, ...] = ()
    dns_servers: tuple[tuple[str, int], ...] = ()  # (address, port); () = the system resolver

    @classmethod
    def parse(cls, items: Iterable[str], dns_servers: Iterable[str] = ()) -> AddressPolicy:
        """From the settings' items: `private` and/or CIDRs (`192.168.1.0/24`, `10.0.0.5`,
        `fd00::/8`), and DNS servers (`9.9.9.9`, `127.0.0.1:5353`, `[::1]:53`). Raises
        ValueError for an item that is none of these."""
        private = False
        networks: list[IPNetwork] = []
        for item in items:
            item = item.strip()
            if not item:
                continue
            if item.lower() == PRIVATE:
                private = True
            else:
                networks.append(ipaddress.ip_network(item, strict=False))
        return cls(private, tuple(networks), tuple(parse_dns_server(d) for d in dns_servers if d.strip()))

    def refusal(self, address: str) -> str | None:
        """Why `address` (a literal IP) may not be reached, or None when it may."""
        ip: IPAddress = ipaddress.ip_address(address.split("%", 1)[0])
        if isinstance(ip, ipaddress.IPv6Address):
            # an IPv4 address carried in IPv6 (mapped, or 6to4's 2002::/16) is judged as itself
            ip = ip.ipv4_mapped or ip.sixtofour or ip
        if any(ip in net for net in self.networks):
            return None
        kind = _kind(ip)
        if kind is None:
            return None
        if self.private and kind in ("loopback", "private", "link-local"):
            return None
        return kind


def parse_dns_server(text: str) -> tuple[str, int]:
    """(address, port) of `9.9.9.9`, `127.0.0.1:5353`, `2620:fe::fe` or `[::1]:53` (port 53
    when absent). Raises ValueError."""
    text = text.strip()
    host, port = text, "53"
    if text.startswith("["):
        host, sep, rest = text[1:].partition("]")
        if not sep or (rest and not rest.startswith(":")):
            raise ValueError(f"{text!r} is not [IPv6]:port")
        port = rest[1:] or "53"
    elif text.count(":") == 1:
        host, port = text.split(":")
    address = str(ipaddress.ip_address(host))
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"{text!r}: the port is not 1-65535")
    return address, int(port)


def _kind(ip: IPAddress) -> str | None:
    """The kind of a non-public address (None for a globally routable unicast one)."""
    if ip.is_unspecified:
        return "unspecified"
    if ip.is_loopback:
        return "loopback"
    if ip.is_link_local:
        return "link-local"
    if ip.is_multicast:
        return "multicast"
    if ip.is_reserved:
        return "reserved"
    if ip.is_private:
        return "private"
    if not ip.is_global:
        return "not globally routable"
    return None


async def resolve(host: str, port: int, dns_servers: tuple[tuple[str, int], ...] = ()) -> list[str]:
    """Every address `host` resolves to (a literal IP resolves to itself), in resolver
    order, deduplicated: one resolution, through `dns_servers` when given (A and AAAA),
    else the system resolver. Raises Unresolvable."""
    try:
        ipaddress.ip_address(host.strip("[]").split("%", 1)[0])
        return [host.strip("[]")]
    except ValueError:
        pass
    if dns_servers:
        return await _resolve_with(host, dns_servers)
    try:
        with anyio.fail_after(RESOLVE_TIMEOUT_S):
            infos = await anyio.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, TimeoutError, UnicodeError) as exc:
        raise Unresolvable(f"{host} does not resolve ({type(exc).__name__})") from None
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


async def _resolve_with(host: str, dns_servers: tuple[tuple[str, int], ...]) -> list[str]:
    """The A and AAAA addresses of `host` asked of `dns_servers` (no cache: each call is
    one resolution). Raises Unresolvable."""
    import dns.asyncresolver
    import dns.exception
    import dns.nameserver

    resolver = dns.asyncresolver.Resolver(configure=False)
    resolver.nameservers = [dns.nameserver.Do53Nameserver(a, p) for a, p in dns_servers]
    resolver.lifetime = RESOLVE_TIMEOUT_S
    try:
        answer = await resolver.resolve_name(host, family=socket.AF_UNSPEC)
    except (dns.exception.DNSException, ValueError) as exc:
        raise Unresolvable(f"{host} does not resolve ({type(exc).__name__})") from None
    return list(dict.fromkeys(answer.addresses()))


async def checked_addresses(host: str, port: int, policy: AddressPolicy) -> list[str]:
    """The addresses of `host`, all of them allowed by `policy`. Raises BlockedAddress
    (one refused address is enough) or Unresolvable."""
    addresses = await resolve(host, port, policy.dns_servers)
    for address in addresses:
        why = policy.refusal(address)
        if why is not None:
            shown = host if host == address else f"{host} ({address})"
            raise BlockedAddress(f"{shown} is a {why} address; the server does not fetch from its own "
                                 "network (setting podcast_allow_networks)")
    if not addresses:
        raise Unresolvable(f"{host} does not resolve")
    return addresses


async def check_url(url: str, policy: AddressPolicy) -> None:
    """Refuse `url` now when its host resolves to a refused address (BlockedAddress). A host
    that does not resolve yet passes: the fetch itself checks again, at every hop."""
    parts = urlsplit(url)
    if not parts.hostname:
        return
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        await checked_addresses(parts.hostname, port, policy)
    except Unresolvable:
        return


class _GuardedBackend(httpcore.AsyncNetworkBackend):
    """httpcore's network backend with the check in `connect_tcp`: resolve, check every
    address, connect to a checked address (not to the name again)."""

    def __init__(self, policy: AddressPolicy) -> None:
        self.policy = policy
        self.inner = httpcore.AnyIOBackend()

    async def connect_tcp(self, host: str, port: int, timeout: float | None = None,
                          local_address: str | None = None,
                          socket_options: typing.Iterable[typing.Any] | None = None
                          ) -> httpcore.AsyncNetworkStream:
        try:
            addresses = await checked_addresses(host, port, self.policy)
        except Unresolvable as exc:
            raise httpcore.ConnectError(str(exc)) from None
        last: Exception | None = None
        for address in addresses:
            try:
                return await self.inner.connect_tcp(address, port, timeout=timeout,
                                                    local_address=local_address,
                                                    socket_options=socket_options)
            except httpcore.ConnectError as exc:  # this address is down: the next checked one
                last = exc
        assert last is not None
        raise last

    async def connect_unix_socket(self, path: str, timeout: float | None = None,
                                  socket_options: typing.Iterable[typing.Any] | None = None
                                  ) -> httpcore.AsyncNetworkStream:
        raise BlockedAddress("unix sockets are not fetched from")

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)


class _GuardedTransport(httpx.AsyncHTTPTransport):
    """httpx's transport over a connection pool whose every connection is guarded."""

    def __init__(self, policy: AddressPolicy) -> None:
        super().__init__(trust_env=False)
        ssl_context = httpx.create_ssl_context(trust_env=False)
        # The pool httpx built, rebuilt with the guarded backend (httpx takes no backend itself).
        self._pool = httpcore.AsyncConnectionPool(ssl_context=ssl_context,
                                                  network_backend=_GuardedBackend(policy), max_connections=10,
                                                  max_keepalive_connections=5, keepalive_expiry=5.0)


def guarded_client(policy: AddressPolicy, **kwargs: typing.Any) -> httpx.AsyncClient:
    """An httpx.AsyncClient (kwargs as for it) whose connections, redirects included, only
    reach addresses `policy` allows; a refused one raises BlockedAddress from the request."""
    return httpx.AsyncClient(transport=_GuardedTransport(policy), trust_env=False, **kwargs)
