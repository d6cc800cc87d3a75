"""Settings: precedence defaults < TOML < environment < command line; every setting documented."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from orbsonic.config import SETTINGS, load_settings, parse_duration_s
from orbsonic.errors import ConfigError

README = Path(__file__).resolve().parents[2] / "README.md"


def test_every_setting_is_in_the_readme_table():
    text = README.read_text()
    for s in SETTINGS:
        key = "scan_interval" if s.key == "scan_interval_s" else s.key
        assert f"| `{key}` | `{s.env}` |" in text, f"{s.key} missing from README configuration table"


def test_precedence_toml_env_cli(tmp_path):
    cfg = tmp_path / "o.toml"
    cfg.write_text('port = 5000\nhost = "10.0.0.1"\nscan_interval = "2h"\nmusic_folders = ["/a"]\n')
    s = load_settings(cfg, env={})
    assert (s.port, s.host, s.scan_interval_s) == (5000, "10.0.0.1", 7200)
    assert s.music_folders == (Path("/a"),)
    s = load_settings(cfg, env={"ORBSONIC_PORT": "6000", "ORBSONIC_MUSIC_FOLDERS": "/b:/c"})
    assert s.port == 6000 and s.music_folders == (Path("/b"), Path("/c"))
    s = load_settings(cfg, env={"ORBSONIC_PORT": "6000"}, port=7000, host=None, extra_music_folders=["/d"])
    assert s.port == 7000 and s.host == "10.0.0.1" and s.music_folders == (Path("/a"), Path("/d"))


def test_database_url_from_either_variable():
    assert load_settings(env={"DATABASE_URL": "postgresql://x/y"}).database_url == "postgresql://x/y"
    assert load_settings(env={"ORBSONIC_DATABASE_URL": "postgresql://z/w"}).database_url == "postgresql://z/w"


def test_valkey_url_from_either_variable():
    assert load_settings(env={}).valkey_url == ""
    assert load_settings(env={"VALKEY_URL": "valkey://h:6379/0"}).valkey_url == "valkey://h:6379/0"
    assert load_settings(env={"ORBSONIC_VALKEY_URL": "redis://v/1"}).valkey_url == "redis://v/1"
    with pytest.raises(ConfigError, match="VALKEY_URL"):
        load_settings(env={"VALKEY_URL": "http://v:6379"})


def test_defaults():
    s = load_settings(env={})
    assert s.port == 4040 and s.scan_on_start and s.legacy_clients == ("DSub",) and s.token_auth
    assert s.cover_cache_dir == s.data_dir / "cache" / "covers"


@pytest.mark.parametrize("bad", [{"ORBSONIC_PORT": "x"}, {"ORBSONIC_SCAN_WATCH": "maybe"},
                                 {"ORBSONIC_SCAN_INTERVAL": "soon"}])
def test_bad_values_are_config_errors(bad):
    with pytest.raises(ConfigError):
        load_settings(env=bad)


def test_unknown_toml_key_is_an_error(tmp_path):
    cfg = tmp_path / "o.toml"
    cfg.write_text("prot = 1\n")
    with pytest.raises(ConfigError, match="prot"):
        load_settings(cfg, env={})


@given(st.integers(0, 10_000), st.sampled_from(["", "s", "m", "h", "d"]))
def test_durations(n, unit):
    mult = {"": 60, "s": 1, "m": 60, "h": 3600, "d": 86400}[unit]
    assert parse_duration_s(f"{n}{unit}") == n * mult
