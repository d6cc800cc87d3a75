"""Password storage and checks.

Subsonic token auth sends t = md5(password + salt), so the server must be able to
recover the clear password (OpenSubsonic api-reference; Ampache keeps a separate
"Subsonic password" encrypted for the same reason). We therefore store each password
twice: AES-256-GCM-encrypted under the server key (for `p`, `enc:` and `t`+`s`) and
as an argon2 hash (for the native login, which never needs the clear text).

The server key comes from `Settings.secret_key` or a file created once in the data dir.
A check value in `server_state` catches a replica started with a different key.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import time
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from passlib.hash import argon2

from orbsonic.errors import ConfigError

_NONCE = 12
_CHECK_PLAINTEXT = b"orbsonic-key-check-v1"


class SecretKey:
    """A 256-bit key that encrypts and decrypts stored passwords (AES-GCM, random nonce)."""

    def __init__(self, raw: bytes) -> None:
        if len(raw) != 32:
            raise ValueError("secret key must be 32 bytes")
        self._aead = AESGCM(raw)
        self._raw = raw

    @classmethod
    def from_text(cls, text: str) -> SecretKey:
        """Derive the key from any configured string (64 hex digits are used as is)."""
        text = text.strip()
        try:
            raw = bytes.fromhex(text)
            if len(raw) == 32:
                return cls(raw)
        except ValueError:
            pass
        return cls(hashlib.sha256(text.encode("utf-8")).digest())

    @classmethod
    def load_or_create(cls, configured: str, data_dir: Path) -> SecretKey:
        """The configured key, else `data_dir/secret.key` (created with mode 0600 if absent)."""
        if configured:
            return cls.from_text(configured)
        path = data_dir / "secret.key"
        try:
            return cls.from_text(_read_key_file(path))
        except FileNotFoundError:
            pass
        data_dir.mkdir(parents=True, exist_ok=True)
        text = secrets.token_hex(32)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process won the race: use its key
            return cls.from_text(_read_key_file(path))
        with os.fdopen(fd, "w") as fh:
            fh.write(text + "\n")
        return cls.from_text(text)

    def encrypt(self, plaintext: bytes) -> bytes:
        """nonce (12 bytes) + ciphertext + tag."""
        nonce = os.urandom(_NONCE)
        return nonce + self._aead.encrypt(nonce, plaintext, None)

    def decrypt(self, blob: bytes) -> bytes | None:
        """The plaintext, or None when the blob was not made with this key."""
        try:
            return self._aead.decrypt(blob[:_NONCE], blob[_NONCE:], None)
        except (InvalidTag, ValueError):
            return None

    def derive(self, label: str) -> bytes:
        """A 32-byte subkey for one purpose (HKDF-SHA256, RFC 5869, `label` as info), e.g. the
        native API's access-token signing key: every replica sharing this key derives the same."""
        return HKDF(algorithm=SHA256(), length=32, salt=None, info=label.encode("utf-8")).derive(self._raw)

    def check_value(self) -> bytes:
        """A value to store once; `verifies(value)` later proves the same key is in use."""
        return self.encrypt(_CHECK_PLAINTEXT)

    def verifies(self, value: bytes) -> bool:
        return self.decrypt(value) == _CHECK_PLAINTEXT


def _read_key_file(path: Path) -> str:
    """The text of an existing key file. Raises FileNotFoundError when there is none.

    An empty file is never used as a key (it would hash to sha256(""), a key everyone
    knows): a replica that is creating it right now gets a moment to finish writing, a
    file left empty by a crash is a ConfigError.
    """
    for _ in range(50):
        try:
            text = path.read_text()
        except FileNotFoundError:
            raise
        except OSError as exc:
            raise ConfigError(f"cannot read {path}: {exc}") from exc
        if text.strip():
            return text
        time.sleep(0.02)
    raise ConfigError(f"{path} is empty: restore the original key file, or delete it to generate a "
                      "new key (stored passwords then have to be reset)")


def hash_password(password: str) -> str:
    """argon2id hash (passlib) for the native login."""
    return argon2.hash(password)


def verify_hash(password: str, hashed: str) -> bool:
    """True when `password` matches an argon2 hash from hash_password."""
    try:
        return bool(argon2.verify(password, hashed))
    except (ValueError, TypeError):
        return False


def check_plain(given: str, stored: str) -> bool:
    """Constant-time comparison of a clear password (Subsonic `p`, after `enc:` decoding)."""
    return hmac.compare_digest(given.encode("utf-8"), stored.encode("utf-8"))


def check_token(token: str, salt: str, stored: str) -> bool:
    """Subsonic 1.13.0 token: t == md5(password + salt), hex, compared in constant time."""
    expected = hashlib.md5((stored + salt).encode("utf-8")).hexdigest()
    return hmac.compare_digest(token.strip().lower().encode("ascii", "replace"), expected.encode("ascii"))


def decode_enc(p: str) -> str:
    """Decode a Subsonic `p` value: "enc:<hex of UTF-8>" or clear text. Raises ValueError."""
    if p.startswith("enc:"):
        return bytes.fromhex(p[4:]).decode("utf-8")
    return p


def new_api_key() -> str:
    """A fresh OpenSubsonic API key: 43 URL-safe characters (256 bits)."""
    return secrets.token_urlsafe(32)


def api_key_digest(key: str) -> bytes:
    """SHA-256 of an API key, the only form we store."""
    return hashlib.sha256(key.encode("utf-8")).digest()


def generate_password() -> str:
    """A printable random password for the first admin account."""
    return secrets.token_urlsafe(12)
