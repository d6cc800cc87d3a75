"""orbsonic.clients: the one client-profile table — matching by `c` and User-Agent, the
`client_profiles` setting (TOML and JSON), `legacy_clients`, and its transcoding defaults as
the stream decision sees them."""

from __future__ import annotations

import pytest

from orbsonic.clients import CLIENT_PROFILES, DEFAULT_PROFILE, ClientProfile, match, parse_profiles, table
from orbsonic.config import load_settings
from orbsonic.errors import ConfigError
from orbsonic.transcode.decide import FORMATS, Source, decide

FLAC = Source("flac", "flac", 900, 200_000)
MP3_320 = Source("mp3", "mp3", 320, 200_000)


def test_match_by_client_prefix_then_user_agent() -> None:
    rows = table(parse_profiles({"Old": {"api_version": "1.13.0"},
                                 "car": {"client": "", "user_agent": "CarPlayer/"}}), ("DSub",))
    assert match(rows, "OLD player").api_version == "1.13.0"
    assert match(rows, "Subsonic", "Mozilla/5.0 CarPlayer/2").prefix == ""
    assert match(rows, "Subsonic", "Mozilla/5.0 CarPlayer/2").user_agent == "carplayer/"
    assert match(rows, "Old", "CarPlayer/2").api_version == "1.13.0"  # c wins
    assert match(rows, "Nobody", "curl/8") is DEFAULT_PROFILE
    assert match(rows, None, None) is DEFAULT_PROFILE
    assert DEFAULT_PROFILE.opensubsonic and DEFAULT_PROFILE.api_version is None


def test_legacy_clients_and_builtins() -> None:
    rows = table((), ("DSub", "Audinaut"))
    assert match(rows, "DSub 5.5").legacy and match(rows, "DSub 5.5").default_format == "mp3"
    assert match(rows, "audinaut").legacy and not match(rows, "audinaut").opensubsonic
    assert not match(rows, "Symfonium").legacy and match(rows, "Symfonium").default_format == "opus"
    assert not match(table((), ()), "DSub").legacy  # legacy_clients = [] gives DSub OpenSubsonic
    assert {p.prefix for p in CLIENT_PROFILES} <= {p.prefix for p in rows}


def test_configured_profiles_replace_builtins() -> None:
    rows = table(parse_profiles({"Symfonium": {"format": "mp3", "max_bitrate": 128},
                                 "DSub": {"max_bitrate": 192}}), ("DSub",))
    sym = match(rows, "Symfonium")
    assert (sym.default_format, sym.max_kbps) == ("mp3", 128)
    assert len([p for p in rows if p.prefix == "symfonium"]) == 1
    dsub = match(rows, "DSub")
    assert dsub.legacy and dsub.max_kbps == 192
    # the stream decision follows the configured profile
    d = decide(FLAC, fmt=None, profile=sym)
    assert d.target is FORMATS["mp3"] and d.kbps == 128
    assert decide(MP3_320, fmt=None, profile=dsub).kbps == 192
    assert not decide(MP3_320, fmt=None, profile=match(rows, "Nobody")).transcode


def test_minimal_implies_legacy_and_direct_formats() -> None:
    [p] = parse_profiles({"Tiny": {"minimal": True, "direct": ["mp3", "AAC"]}})
    assert p.minimal and not p.opensubsonic and p.direct == frozenset({"mp3", "aac"})
    assert decide(FLAC, fmt=None, profile=p).target is FORMATS["mp3"]


def test_setting_from_toml_and_environment(tmp_path) -> None:
    cfg = tmp_path / "o.toml"
    cfg.write_text('[client_profiles."Old Player"]\napi_version = "1.13.0"\nminimal = true\n')
    s = load_settings(cfg, env={})
    assert match(s.profiles, "Old Player X").api_version == "1.13.0"
    s = load_settings(env={"ORBSONIC_CLIENT_PROFILES": '{"Old": {"legacy": true}}'})
    assert match(s.profiles, "old").legacy and match(s.profiles, "DSub").legacy
    assert load_settings(env={}).profiles == table((), ("DSub",))


@pytest.mark.parametrize("spec", [
    {"X": {"api_version": "1.13"}}, {"X": {"api_version": "latest"}}, {"X": {"format": "wma"}},
    {"X": {"max_bitrate": "lots"}}, {"X": {"max_bitrate": -1}}, {"X": {"legacy": "yes"}},
    {"X": {"colour": "red"}}, {"X": "legacy"}, {"X": {"client": "", "user_agent": ""}},
    {"X": {"direct": "mp3"}}, {"X": {"direct": ["mp3", "wav"]}}, ["X"], "not json"])
def test_bad_profiles_are_config_errors(spec: object) -> None:
    with pytest.raises(ConfigError):
        parse_profiles(spec)


def test_profile_is_hashable_for_the_cached_table() -> None:
    assert hash(ClientProfile("x", direct=frozenset({"mp3"})))
