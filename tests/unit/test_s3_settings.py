"""S3 music folders in the settings: `s3://` survives the `:`-separated environment form."""

from __future__ import annotations

from pathlib import Path

import pytest

from orbsonic.config import load_settings
from orbsonic.errors import ConfigError
from orbsonic.storage.s3 import S3Config, normalize_url, parse_url


def test_music_folders_keep_s3_urls(tmp_path: Path) -> None:
    env = {"ORBSONIC_MUSIC_FOLDERS": f"s3://music/lib/:{tmp_path}:s3://other", "ORBSONIC_S3_ENDPOINT": "h:9000",
           "ORBSONIC_S3_SECURE": "false", "ORBSONIC_S3_REDIRECT": "yes", "ORBSONIC_S3_PRESIGN_TTL": "10m"}
    s = load_settings(env=env, extra_music_folders=["s3://music//x/"])
    assert s.music_folders == ("s3://music/lib", tmp_path.resolve(), "s3://other", "s3://music/x")
    assert S3Config.from_settings(s) == S3Config(endpoint="h:9000", secure=False, redirect=True, presign_ttl_s=600)


def test_toml_list_and_bad_urls(tmp_path: Path) -> None:
    conf = tmp_path / "o.toml"
    conf.write_text('music_folders = ["s3://b/p", "~/m"]\n')
    assert load_settings(conf, env={}).music_folders[0] == "s3://b/p"
    with pytest.raises(ConfigError):
        load_settings(env={"ORBSONIC_MUSIC_FOLDERS": "s3:///prefix-without-bucket"})


def test_parse_url() -> None:
    assert parse_url("s3://b") == ("b", "")
    assert parse_url("s3://b/a/b/") == ("b", "a/b")
    assert normalize_url("s3://b/") == "s3://b"
    with pytest.raises(ValueError):
        parse_url("http://b/x")


def test_s3_config_fields_are_the_s3_settings() -> None:
    """Every `s3_*` setting is an S3Config field (named by setting_of) with the same default,
    and every S3Config field but the timeout (not a setting) comes from one."""
    from dataclasses import MISSING, fields

    from orbsonic.config import Settings
    from orbsonic.storage.s3 import setting_of

    settings = {f.name: f.default for f in fields(Settings) if f.name.startswith("s3_")}
    config = {setting_of(f.name): f.default for f in fields(S3Config) if f.name != "timeout_s"}
    assert MISSING not in settings.values()
    assert config == settings
