"""The SSRF guard (orbsonic/http/ssrf.py) against real sockets: a DNS server on loopback that
rebinds (a first answer the policy allows, then 127.0.0.1), HTTP servers on 127.0.0.2 (the
"public" host, allowed by podcast_allow_networks) and on 127.0.0.1 / ::1 at the same port (the
server's own network, refused), redirects into refused addresses, and the IPv4 spellings and
IPv6 forms of loopback. What is asserted is where connections went: the refused servers record
every request, and must record none."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import dns.flags
import dns.message
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset
import httpx
import pytest

from orbsonic.http.ssrf import AddressPolicy, BlockedAddress, check_url, guarded_client
from tests.integration.test_podcasts import (  # noqa: F401 (audio_files is a fixture)
    Ep,
    FeedHost,
    Route,
    audio_files,
    pod_server,
    rss,
)


class DnsServer:
    """A UDP DNS server on 127.0.0.1: `answers[name]` lists the A answers to give in turn (the
    last one repeats; an item may hold several addresses); AAAA gets an empty answer, any other
    name NXDOMAIN. `queries` counts the A questions per name."""

    def __init__(self) -> None:
        self.answers: dict[str, list[list[str]]] = {}
        self.queries: Counter[str] = Counter()
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.stopping = False
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.sock.getsockname()[1]}"

    def _serve(self) -> None:
        while not self.stopping:
            try:
                data, peer = self.sock.recvfrom(4096)
            except TimeoutError:
                continue
            except OSError:
                return
            query = dns.message.from_wire(data)
            reply = dns.message.make_response(query)
            reply.flags |= dns.flags.RA
            question = query.question[0]
            name = question.name.to_text(omit_final_dot=True).lower()
            if name not in self.answers:
                reply.set_rcode(dns.rcode.NXDOMAIN)
            elif question.rdtype == dns.rdatatype.A:
                self.queries[name] += 1
                turns = self.answers[name]
                addresses = turns[min(self.queries[name], len(turns)) - 1]
                reply.answer.append(dns.rrset.from_text_list(question.name, 0, dns.rdataclass.IN,
                                                             dns.rdatatype.A, addresses))
            self.sock.sendto(reply.to_wire(), peer)

    def close(self) -> None:
        self.stopping = True
        self.thread.join()
        self.sock.close()


@pytest.fixture
def dns_server() -> Iterator[DnsServer]:
    server = DnsServer()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def hosts() -> Iterator[tuple[FeedHost, FeedHost, FeedHost]]:
    """(public on 127.0.0.2, internal on 127.0.0.1, internal on ::1), all on one port."""
    public = FeedHost("127.0.0.2")
    internal = FeedHost("127.0.0.1", port=public.port)
    internal6 = FeedHost("::1", port=public.port)
    for host, body in ((public, b"public"), (internal, b"internal"), (internal6, b"internal6")):
        host.routes["/x"] = Route(body, content_type="text/plain")
    try:
        yield public, internal, internal6
    finally:
        for host in (public, internal, internal6):
            host.close()


def _get(policy: AddressPolicy, url: str) -> httpx.Response:
    async def go() -> httpx.Response:
        async with guarded_client(policy, follow_redirects=True, timeout=5.0) as client:
            return await client.get(url)
    return asyncio.run(go())


def _policy(dns_server: DnsServer | None) -> AddressPolicy:
    return AddressPolicy.parse(["127.0.0.2/32"], [dns_server.address] if dns_server else [])


def test_a_rebinding_name_is_resolved_once_per_connection(dns_server: DnsServer,
                                                          hosts: tuple[FeedHost, FeedHost, FeedHost]) -> None:
    public, internal, internal6 = hosts
    port = public.port
    policy = _policy(dns_server)
    # public at the first answer, 127.0.0.1 at every later one: one connection, one
    # resolution, and the bytes come from the address that was checked
    dns_server.answers["rebind.test"] = [["127.0.0.2"], ["127.0.0.1"]]
    r = _get(policy, f"http://rebind.test:{port}/x")
    assert r.status_code == 200 and r.content == b"public"
    assert dns_server.queries["rebind.test"] == 1

    # a check ahead of the fetch (createPodcastChannel's) spends the public answer: the
    # fetch's own connection resolves again, sees 127.0.0.1 and is refused
    dns_server.answers["late.test"] = [["127.0.0.2"], ["127.0.0.1"]]
    asyncio.run(check_url(f"http://late.test:{port}/x", policy))
    with pytest.raises(BlockedAddress, match=r"late\.test \(127\.0\.0\.1\) is a loopback"):
        _get(policy, f"http://late.test:{port}/x")
    assert dns_server.queries["late.test"] == 2

    # a redirect to the same name is a new connection (HTTP/1.0 host): resolved and checked
    # again, refused at the second hop
    dns_server.answers["hop.test"] = [["127.0.0.2"], ["127.0.0.1"]]
    public.routes["/hop"] = Route(status=302, headers={"Location": f"http://hop.test:{port}/x"})
    with pytest.raises(BlockedAddress, match="127.0.0.1"):
        _get(policy, f"http://hop.test:{port}/hop")
    assert dns_server.queries["hop.test"] == 2 and public.hits == ["/x", "/hop"]

    # one allowed and one refused address in the same answer: refused, not raced
    dns_server.answers["both.test"] = [["127.0.0.2", "127.0.0.1"]]
    with pytest.raises(BlockedAddress, match="127.0.0.1"):
        _get(policy, f"http://both.test:{port}/x")
    assert public.hits == ["/x", "/hop"]
    # a name the DNS server does not know is not fetched (no fallback to the system resolver)
    with pytest.raises(httpx.ConnectError, match="does not resolve"):
        _get(policy, f"http://localhost:{port}/x")
    assert internal.hits == [] and internal6.hits == []


LOOPBACK_SPELLINGS = ["127.0.0.1", "2130706433", "0177.0.0.1", "0x7f.0.0.1", "0x7f000001", "127.1",
                      "[::ffff:127.0.0.1]", "[::ffff:7f00:1]", "[0:0:0:0:0:ffff:127.0.0.1]", "[::1]",
                      "[0:0:0:0:0:0:0:1]", "localhost"]


@pytest.mark.parametrize("spelling", LOOPBACK_SPELLINGS)
def test_loopback_in_every_spelling_is_refused_first_hop_and_redirect(
        spelling: str, hosts: tuple[FeedHost, FeedHost, FeedHost]) -> None:
    """With the system resolver (which takes the decimal, octal, hex and short IPv4 forms):
    asked directly or reached by a redirect from the allowed host, never connected to."""
    public, internal, internal6 = hosts
    policy = _policy(None)
    target = f"http://{spelling}:{public.port}/x"
    public.routes["/go"] = Route(status=301, headers={"Location": target})
    for url in (target, public.url("/go")):
        # BlockedAddress from the guard; httpx refuses a dotted form with a leading zero
        # ("0177.0.0.1") as an invalid URL (an invalid Location) before any connection
        with pytest.raises((BlockedAddress, httpx.InvalidURL, httpx.RemoteProtocolError)) as info:
            _get(policy, url)
        if info.type is BlockedAddress:
            assert "loopback" in str(info.value), info.value
    assert public.hits == ["/go"]
    assert internal.hits == [] and internal6.hits == []
    asyncio.run(check_url(public.url("/x"), policy))  # the allowed host itself stays allowed


@pytest.mark.parametrize("spelling", ["2130706433", "0x7f000001", "127.1"])
def test_numeric_spellings_are_names_to_the_dns_servers(spelling: str, dns_server: DnsServer,
                                                        hosts: tuple[FeedHost, FeedHost, FeedHost]) -> None:
    """With podcast_dns_servers the numeric spellings are asked of the DNS server as names
    (which knows none): not fetched, and not taken for 127.0.0.1 either."""
    public, internal, _ = hosts
    with pytest.raises(httpx.ConnectError, match="does not resolve"):
        _get(_policy(dns_server), f"http://{spelling}:{public.port}/x")
    assert internal.hits == []


def test_the_policy_judges_mapped_and_compatible_ipv6_forms() -> None:
    strict = AddressPolicy()
    for address in ("::ffff:127.0.0.1", "::ffff:7f00:1", "::ffff:10.0.0.1", "::ffff:169.254.169.254",
                    "::1", "fe80::1%1", "64:ff9b::7f00:1", "::127.0.0.1", "2002:7f00:1::"):
        assert strict.refusal(address) is not None, address
    assert strict.refusal(str(ipaddress.IPv6Address("::ffff:8.8.8.8"))) is None


def test_rebinding_feed_through_the_server(fresh_db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                           audio_files: dict[str, bytes],  # noqa: F811 (the fixture)
                                           dns_server: DnsServer) -> None:
    """The server with podcast_dns_servers pointed at the rebinding DNS server and only
    127.0.0.2 allowed: createPodcastChannel's check sees 127.0.0.2, the refresh job's fetch
    then gets 127.0.0.1 and marks the channel `error`; the feed host on 127.0.0.1 (same port)
    is never reached. A name that keeps answering 127.0.0.2 is fetched from there."""
    with pod_server(fresh_db, tmp_path, monkeypatch, audio_files, "127.0.0.2/32", dns_server.address) as pod:
        public = FeedHost("127.0.0.2", port=pod.host.port)
        try:
            ep = Ep("e", "E", "/a.mp3", "Mon, 01 Jan 2024 10:00:00 GMT")
            for host in (public, pod.host):
                host.routes["/show.xml"] = Route(rss(host, f"Show on {host.bind}", [ep]))
            dns_server.answers["rebind.test"] = [["127.0.0.2"], ["127.0.0.1"]]
            dns_server.answers["good.test"] = [["127.0.0.2"]]
            pod.write("createPodcastChannel", url=f"http://rebind.test:{public.port}/show.xml")
            pod.run_jobs()
            [channel] = pod.channels()
            assert channel["status"] == "error", channel
            assert "127.0.0.1" in channel["errorMessage"] and "loopback" in channel["errorMessage"]
            pod.write("deletePodcastChannel", id=channel["id"])

            pod.write("createPodcastChannel", url=f"http://good.test:{public.port}/show.xml")
            pod.run_jobs()
            [channel] = pod.channels()
            assert channel["status"] == "completed" and channel["title"] == "Show on 127.0.0.2", channel
            assert pod.host.hits == [] and public.hits == ["/show.xml"]
            # a literal refused address is refused at once, no DNS server asked
            error = pod.api.fail("createPodcastChannel", 0, url=pod.host.url("/show.xml"))
            assert "loopback" in error["message"]
            assert pod.host.hits == []
        finally:
            public.close()
