"""orbsonic.auth.passwords: encrypted passwords, Subsonic token and enc: checks, the key file."""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orbsonic.auth import passwords
from orbsonic.auth.passwords import (
    SecretKey,
    api_key_digest,
    check_plain,
    check_token,
    decode_enc,
    hash_password,
    new_api_key,
    verify_hash,
)
from orbsonic.errors import ConfigError

PROPS = settings(max_examples=100, deadline=None)
KEY = SecretKey.from_text("0" * 64)
OTHER = SecretKey.from_text("1" * 64)


@PROPS
@given(data=st.binary())
def test_encrypt_decrypt_round_trip(data: bytes) -> None:
    blob = KEY.encrypt(data)
    assert KEY.decrypt(blob) == data
    assert OTHER.decrypt(blob) is None  # wrong key: None, never garbage or an exception
    assert KEY.encrypt(data) != blob  # random nonce


@pytest.mark.parametrize("blob", [b"", b"short", bytes(12), bytes(40)])
def test_decrypt_garbage_is_none(blob: bytes) -> None:
    assert KEY.decrypt(blob) is None


def test_decrypt_tampered_is_none() -> None:
    blob = bytearray(KEY.encrypt(b"sesame"))
    blob[-1] ^= 1
    assert KEY.decrypt(bytes(blob)) is None


def test_key_from_text() -> None:
    assert SecretKey.from_text("ab" * 32).decrypt(SecretKey.from_text(" " + "ab" * 32 + "\n").encrypt(b"x")) == b"x"
    # any other string is hashed into a key, deterministically
    assert SecretKey.from_text("correct horse").decrypt(SecretKey.from_text("correct horse").encrypt(b"x")) == b"x"
    assert SecretKey.from_text("correct horse").decrypt(SecretKey.from_text("battery").encrypt(b"x")) is None
    with pytest.raises(ValueError):
        SecretKey(b"too short")


def test_check_value_detects_another_key() -> None:
    value = KEY.check_value()
    assert KEY.verifies(value) and not OTHER.verifies(value)


def test_token_spec_worked_example() -> None:
    assert hashlib.md5(b"sesamec19b2d").hexdigest() == "26719a1196d2a940705a59634eb18eab"
    assert check_token("26719a1196d2a940705a59634eb18eab", "c19b2d", "sesame")
    assert check_token("26719A1196D2A940705A59634EB18EAB", "c19b2d", "sesame")  # hex case does not matter
    assert not check_token("26719a1196d2a940705a59634eb18eab", "c19b2e", "sesame")
    assert not check_token("26719a1196d2a940705a59634eb18eab", "c19b2d", "Sesame")
    assert not check_token("", "c19b2d", "sesame")
    assert not check_token("ü" * 32, "c19b2d", "sesame")  # non-ASCII token: no exception


@PROPS
@given(password=st.text(min_size=1), salt=st.text(min_size=1))
def test_token_is_md5_of_utf8_password_and_salt(password: str, salt: str) -> None:
    token = hashlib.md5((password + salt).encode("utf-8")).hexdigest()
    assert check_token(token, salt, password)
    assert not check_token(token, salt + "x", password)


def test_decode_enc() -> None:
    assert decode_enc("enc:736573616d65") == "sesame"
    assert decode_enc("sesame") == "sesame"
    assert decode_enc("ENC:73") == "ENC:73"  # the prefix is case-sensitive: a clear password
    pw = "pässwörd 密码"
    assert decode_enc("enc:" + pw.encode("utf-8").hex()) == pw
    assert decode_enc("enc:" + pw.encode("utf-8").hex().upper()) == pw


@pytest.mark.parametrize("bad", ["enc:zz", "enc:abc", "enc:73 6g", "enc:ff", "enc:c3"])
def test_decode_enc_bad_hex_raises_value_error(bad: str) -> None:
    with pytest.raises(ValueError):  # UnicodeDecodeError (bad UTF-8) is a ValueError too
        decode_enc(bad)


@PROPS
@given(password=st.text())
def test_decode_enc_round_trip(password: str) -> None:
    assert decode_enc("enc:" + password.encode("utf-8").hex()) == password


def test_check_plain() -> None:
    assert check_plain("pässwörd 密码", "pässwörd 密码")
    assert not check_plain("pässwörd", "pässwörd 密码")
    assert not check_plain("", "x")


def test_argon2_hash() -> None:
    h = hash_password("pässwörd 密码")
    assert h.startswith("$argon2") and "pässwörd" not in h
    assert verify_hash("pässwörd 密码", h)
    assert not verify_hash("passwörd 密码", h)
    assert not verify_hash("x", "not a hash") and not verify_hash("x", "")


def test_api_keys() -> None:
    a, b = new_api_key(), new_api_key()
    assert a != b and len(a) >= 40 and len(a) < 2048
    assert all(c.isalnum() or c in "-_" for c in a)  # URL-safe: no encoding needed
    assert api_key_digest(a) == hashlib.sha256(a.encode()).digest() != api_key_digest(b)


# ---------------------------------------------------------------- the key file


def test_load_or_create_makes_a_0600_file_and_reuses_it(tmp_path: Path) -> None:
    data = tmp_path / "data"
    key = SecretKey.load_or_create("", data)
    path = data / "secret.key"
    assert path.is_file()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    text = path.read_text().strip()
    assert len(text) == 64 and int(text, 16) >= 0
    again = SecretKey.load_or_create("", data)
    assert again.decrypt(key.encrypt(b"sesame")) == b"sesame"
    assert path.read_text().strip() == text  # not rewritten
    assert [p.name for p in data.iterdir()] == ["secret.key"]  # no temporary files left


def test_load_or_create_keeps_0600_under_a_permissive_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        SecretKey.load_or_create("", tmp_path)
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "secret.key").stat().st_mode) == 0o600


def test_configured_key_wins_and_writes_no_file(tmp_path: Path) -> None:
    key = SecretKey.load_or_create("ab" * 32, tmp_path)
    assert not (tmp_path / "secret.key").exists()
    assert SecretKey.from_text("ab" * 32).decrypt(key.encrypt(b"x")) == b"x"


def test_existing_key_file_is_used(tmp_path: Path) -> None:
    (tmp_path / "secret.key").write_text("cd" * 32 + "\n")
    key = SecretKey.load_or_create("", tmp_path)
    assert SecretKey.from_text("cd" * 32).decrypt(key.encrypt(b"x")) == b"x"


@pytest.mark.parametrize("content", ["", "   \n"])
def test_empty_key_file_is_refused(tmp_path: Path, content: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """An empty secret.key (left by a crash between create and write) must not silently
    become sha256("") — a key everyone knows."""
    monkeypatch.setattr(passwords.time, "sleep", lambda s: None)
    (tmp_path / "secret.key").write_text(content)
    with pytest.raises(ConfigError):
        SecretKey.load_or_create("", tmp_path)


def test_key_file_being_written_by_a_racing_replica_is_awaited(tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """Another replica created the file (O_EXCL) but has not written it yet: wait for it."""
    path = tmp_path / "secret.key"
    path.write_text("")
    monkeypatch.setattr(passwords.time, "sleep", lambda s: path.write_text("ef" * 32 + "\n"))
    key = SecretKey.load_or_create("", tmp_path)
    assert SecretKey.from_text("ef" * 32).decrypt(key.encrypt(b"x")) == b"x"


def test_unreadable_key_path_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "secret.key").mkdir()
    with pytest.raises(ConfigError):
        SecretKey.load_or_create("", tmp_path)
