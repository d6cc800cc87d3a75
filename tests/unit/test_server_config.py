"""orbsonic.http.server: the uvicorn configuration `serve` runs with, from the settings."""

from __future__ import annotations

import pickle

import pytest

from orbsonic.config import load_settings, parse_timeout_s
from orbsonic.errors import ConfigError
from orbsonic.http.server import (MAX_HEAD_BYTES, OrbsonicH11Protocol, OrbsonicHttpToolsProtocol,
                                  ServerConfig, server_config)


@pytest.mark.parametrize("text, seconds", [("10", 10), ("10s", 10), ("2m", 120), (" 90 ", 90), (5, 5)])
def test_timeouts_are_seconds_by_default(text: object, seconds: int) -> None:
    assert parse_timeout_s(text) == seconds


@pytest.mark.parametrize("text", ["soon", "²", "-1", "1.5"])
def test_bad_timeouts_are_config_errors(text: str) -> None:
    with pytest.raises(ConfigError):
        parse_timeout_s(text)


def test_server_config_from_settings() -> None:
    s = load_settings(env={"ORBSONIC_HEADER_TIMEOUT": "7", "ORBSONIC_BODY_TIMEOUT": "1m",
                           "ORBSONIC_TRUSTED_PROXIES": "10.0.0.1", "ORBSONIC_WORKERS": "3",
                           "ORBSONIC_LOGIN_LOCKOUT": "1h"})
    assert (s.header_timeout, s.body_timeout, s.login_lockout) == (7, 60, 3600)
    config = server_config("orbsonic.app:app_from_env", s, factory=True)
    # httptools by measurement (bench/RESULTS.md), always through the subclass with the head
    # limit and timeouts, never uvicorn's own protocol by accident
    assert config.http is OrbsonicHttpToolsProtocol
    assert ServerConfig("x:y", http="h11").http is OrbsonicH11Protocol
    assert config.h11_max_incomplete_event_size == MAX_HEAD_BYTES
    assert (config.header_timeout, config.body_timeout) == (7, 60)
    assert config.forwarded_allow_ips == "10.0.0.1" and config.proxy_headers and config.workers == 3
    # --workers processes get the config pickled
    again = pickle.loads(pickle.dumps(config))
    assert isinstance(again, ServerConfig) and again.header_timeout == 7


def test_defaults() -> None:
    s = load_settings(env={})
    assert (s.header_timeout, s.body_timeout, s.trusted_proxies) == (10, 60, "127.0.0.1,::1")
    assert (s.login_max_failures, s.login_lockout, s.login_delay_ms) == (10, 900, 250)
