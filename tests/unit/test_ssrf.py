"""The SSRF guard's address policy (orbsonic/http/ssrf.py): which addresses are refused, and
the exceptions the setting podcast_allow_networks makes."""

from __future__ import annotations

import asyncio

import pytest

from orbsonic.config import load_settings
from orbsonic.errors import ConfigError
from orbsonic.http.ssrf import AddressPolicy, BlockedAddress, check_url, checked_addresses

STRICT = AddressPolicy()


@pytest.mark.parametrize(("address", "kind"), [
    ("127.0.0.1", "loopback"), ("127.8.9.10", "loopback"), ("::1", "loopback"),
    ("::ffff:127.0.0.1", "loopback"), ("::ffff:10.0.0.1", "private"),
    ("10.0.0.1", "private"), ("172.16.5.4", "private"), ("192.168.0.1", "private"), ("fd12::1", "private"),
    ("169.254.169.254", "link-local"), ("fe80::1", "link-local"),
    ("224.0.0.251", "multicast"), ("ff02::1", "multicast"),
    ("0.0.0.0", "unspecified"), ("::", "unspecified"), ("240.1.2.3", "reserved"),
    ("100.64.1.1", "not globally routable"), ("192.0.2.1", "private"),
])
def test_non_public_addresses_are_refused(address: str, kind: str) -> None:
    assert STRICT.refusal(address) == kind


@pytest.mark.parametrize("address", ["93.184.216.34", "1.1.1.1", "2606:4700:4700::1111", "::ffff:8.8.8.8"])
def test_public_addresses_pass(address: str) -> None:
    assert STRICT.refusal(address) is None


def test_allowed_networks() -> None:
    lan = AddressPolicy.parse(["private"])
    assert lan.refusal("127.0.0.1") is None and lan.refusal("192.168.1.20") is None
    assert lan.refusal("fe80::1") is None
    assert lan.refusal("224.0.0.1") == "multicast" and lan.refusal("0.0.0.0") == "unspecified"
    one = AddressPolicy.parse(["192.168.1.0/24", " 127.0.0.1 "])
    assert one.refusal("192.168.1.99") is None and one.refusal("127.0.0.1") is None
    assert one.refusal("192.168.2.1") == "private" and one.refusal("127.0.0.2") == "loopback"
    with pytest.raises(ValueError):
        AddressPolicy.parse(["lan"])


def test_the_setting_is_checked_at_load(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ORBSONIC_CONFIG", raising=False)
    monkeypatch.setenv("ORBSONIC_PODCAST_ALLOW_NETWORKS", "private, 10.0.0.0/8")
    assert load_settings().podcast_allow_networks == ("private", "10.0.0.0/8")
    monkeypatch.setenv("ORBSONIC_PODCAST_ALLOW_NETWORKS", "10.0.0.0/33")
    with pytest.raises(ConfigError):
        load_settings()


def test_every_resolved_address_is_checked() -> None:
    # localhost resolves (here) to loopback only: refused as a whole, allowed when listed
    with pytest.raises(BlockedAddress, match="localhost"):
        asyncio.run(checked_addresses("localhost", 80, STRICT))
    loopback = AddressPolicy.parse(["127.0.0.0/8"])
    assert asyncio.run(checked_addresses("localhost", 80, loopback)) == ["127.0.0.1"]
    with pytest.raises(BlockedAddress):
        asyncio.run(check_url("http://127.0.0.1:9/feed.xml", STRICT))
    asyncio.run(check_url("http://feed.invalid/x.xml", STRICT))  # unresolvable: the fetch decides


def test_dns_servers_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    from orbsonic.http.ssrf import parse_dns_server

    assert parse_dns_server("9.9.9.9") == ("9.9.9.9", 53)
    assert parse_dns_server(" 127.0.0.1:5353 ") == ("127.0.0.1", 5353)
    assert parse_dns_server("2620:fe::fe") == ("2620:fe::fe", 53)
    assert parse_dns_server("[::1]:5300") == ("::1", 5300)
    for bad in ("dns.example", "1.2.3.4:0", "1.2.3.4:x", "[::1", "[::1]x", "1.2.3.4:70000"):
        with pytest.raises(ValueError):
            parse_dns_server(bad)
    assert AddressPolicy.parse([], ["127.0.0.1:5353"]).dns_servers == (("127.0.0.1", 5353),)
    monkeypatch.delenv("ORBSONIC_CONFIG", raising=False)
    monkeypatch.setenv("ORBSONIC_PODCAST_DNS_SERVERS", "127.0.0.1:5353, [::1]")
    assert load_settings().podcast_dns_servers == ("127.0.0.1:5353", "[::1]")
    monkeypatch.setenv("ORBSONIC_PODCAST_DNS_SERVERS", "resolver.lan")
    with pytest.raises(ConfigError, match="podcast_dns_servers"):
        load_settings()


def test_ipv4_carried_in_ipv6_is_judged_as_itself() -> None:
    assert STRICT.refusal("2002:7f00:1::") == "loopback"  # 6to4 of 127.0.0.1
    assert STRICT.refusal("2002:a00:1::1") == "private"  # 6to4 of 10.0.0.1
    assert STRICT.refusal("64:ff9b::7f00:1") == "reserved"  # NAT64
    assert STRICT.refusal("::127.0.0.1") == "reserved"  # IPv4-compatible (deprecated)
    assert STRICT.refusal("2002:808:808::1") is None  # 6to4 of 8.8.8.8
