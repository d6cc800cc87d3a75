"""Client profiles: one table of per-client behaviour, keyed on the Subsonic client name `c`
(and, for clients whose `c` says nothing, their User-Agent).

A profile says how a client is answered:

* transcoding defaults (issue 8): the format `stream` transcodes to when the client names none,
  a bitrate cap in kbps, and the source formats it plays as they are (orbsonic.transcode.decide);
* `legacy`: plain Subsonic 1.16.1 responses, no OpenSubsonic field or root attribute — DSub's
  pull parser mistakes nested `<artists>` for top-level artists (client-compat §4.5 #5);
* `api_version`: the protocol version reported in every response (`version="…"`), for clients
  that refuse or misjudge a server newer than they know;
* `minimal`: legacy, and songs (Child elements) without the optional attributes a player does
  not need (`path`, `playCount`, `created`, `isVideo` …), for fragile or slow clients.

The built-in table (`CLIENT_PROFILES`) is small on purpose; the `client_profiles` setting adds
profiles or replaces built-in ones of the same name, and `legacy_clients` (default DSub) marks
names legacy. Pure: no I/O.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Any

from orbsonic.errors import ConfigError

_VERSION = re.compile(r"[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}")  # the XSD's Version pattern, bounded
_KEYS = {"client", "user_agent", "legacy", "api_version", "minimal", "format", "max_bitrate", "direct"}


@dataclass(frozen=True, slots=True)
class ClientProfile:
    """Per-client behaviour. `prefix` matches `c` case-insensitively at its start ("" matches
    nothing but is the default); `user_agent` (lower case) a substring of the User-Agent header,
    tried when no `c` prefix matched. Transcoding: `default_format`, `max_kbps` (0: no cap),
    `direct` (source formats played as they are; None: any). Responses: `legacy`, `api_version`
    (None: the server's), `minimal` (implies legacy)."""

    prefix: str
    default_format: str = "mp3"
    max_kbps: int = 0
    direct: frozenset[str] | None = None
    legacy: bool = False
    api_version: str | None = None
    minimal: bool = False
    user_agent: str = ""

    @property
    def opensubsonic(self) -> bool:
        """Whether responses carry OpenSubsonic fields."""
        return not (self.legacy or self.minimal)


# Small on purpose: most clients say what they want with `format`/`maxBitRate`.
CLIENT_PROFILES: tuple[ClientProfile, ...] = (
    # Jamstash "thinks it can't play flacs" (client-compat §4.3; gonic special-cases it).
    ClientProfile("jamstash", "mp3", direct=frozenset({"mp3", "ogg", "opus", "aac"})),
    # ExoPlayer clients play Opus natively: smaller than MP3 at the same quality.
    ClientProfile("symfonium", "opus"),
    ClientProfile("tempo", "opus"),
    # Legacy by the `legacy_clients` setting's default, not here: setting it empty gives DSub
    # OpenSubsonic fields again.
    ClientProfile("dsub", "mp3"),
)
DEFAULT_PROFILE = ClientProfile("", "mp3")


def match(profiles: tuple[ClientProfile, ...], client: str | None, user_agent: str | None = None) -> ClientProfile:
    """The profile of a request: the first whose prefix starts `c` (case-insensitive), else
    the first whose `user_agent` occurs in the User-Agent header, else DEFAULT_PROFILE."""
    c = (client or "").strip().lower()
    if c:
        for p in profiles:
            if p.prefix and c.startswith(p.prefix):
                return p
    ua = (user_agent or "").lower()
    if ua:
        for p in profiles:
            if p.user_agent and p.user_agent in ua:
                return p
    return DEFAULT_PROFILE


def client_profile(client: str | None) -> ClientProfile:
    """The built-in profile of client name `c` (DEFAULT_PROFILE when none matches)."""
    return match(CLIENT_PROFILES, client)


@lru_cache(maxsize=16)
def table(configured: tuple[ClientProfile, ...], legacy_clients: tuple[str, ...]) -> tuple[ClientProfile, ...]:
    """The effective table: configured profiles first (replacing built-in ones with the same
    prefix), then the built-in ones, then a legacy profile for each `legacy_clients` name that
    has none; every profile whose prefix starts with a `legacy_clients` name is legacy."""
    names = tuple(n.strip().lower() for n in legacy_clients if n.strip())
    own = {p.prefix for p in configured}
    rows = [*configured, *(p for p in CLIENT_PROFILES if p.prefix not in own)]
    rows += [ClientProfile(n) for n in names if not any(p.prefix == n for p in rows)]
    return tuple(replace(p, legacy=True) if p.prefix and any(p.prefix.startswith(n) for n in names)
                 else p for p in rows)


def parse_profiles(value: Any) -> tuple[ClientProfile, ...]:
    """The `client_profiles` setting: a TOML table of tables (or the same as JSON text in the
    environment), `{name: {client?, user_agent?, legacy?, api_version?, minimal?, format?,
    max_bitrate?, direct?}}`; `client` (the `c` prefix) defaults to the name. Raises ConfigError."""
    if isinstance(value, str):
        try:
            value = json.loads(value) if value.strip() else {}
        except ValueError as exc:
            raise ConfigError(f"client_profiles: not JSON: {exc}") from None
    if not isinstance(value, dict):
        raise ConfigError("client_profiles: a table of client names to profiles is expected")
    return tuple(_profile(str(name), spec) for name, spec in value.items())


def _profile(name: str, spec: Any) -> ClientProfile:
    from orbsonic.transcode.decide import FORMATS  # late: decide imports this module

    where = f"client_profiles.{name}"
    if not isinstance(spec, dict):
        raise ConfigError(f"{where}: a table is expected")
    unknown = set(spec) - _KEYS
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}")
    prefix = str(spec.get("client", name)).strip().lower()
    user_agent = str(spec.get("user_agent", "")).strip().lower()
    if not prefix and not user_agent:
        raise ConfigError(f"{where}: needs a client name or a user_agent")
    version = spec.get("api_version")
    if version is not None and not _VERSION.fullmatch(str(version)):
        raise ConfigError(f"{where}.api_version: {version!r} is not a version like 1.13.0")
    fmt = str(spec.get("format", "mp3")).strip().lower()
    if fmt not in FORMATS:
        raise ConfigError(f"{where}.format: {fmt!r} is not one of {', '.join(FORMATS)}")
    direct = spec.get("direct")
    if direct is not None:
        if not isinstance(direct, (list, tuple)) or any(str(d).lower() not in FORMATS for d in direct):
            raise ConfigError(f"{where}.direct: a list of formats from {', '.join(FORMATS)} is expected")
        direct = frozenset(str(d).lower() for d in direct)
    try:
        max_kbps = int(spec.get("max_bitrate", 0))
    except (TypeError, ValueError):
        raise ConfigError(f"{where}.max_bitrate: not a number of kbps") from None
    if max_kbps < 0:
        raise ConfigError(f"{where}.max_bitrate: must not be negative")
    flags = {}
    for key in ("legacy", "minimal"):
        raw = spec.get(key, False)
        if not isinstance(raw, bool):
            raise ConfigError(f"{where}.{key}: true or false")
        flags[key] = raw
    return ClientProfile(prefix, fmt, max_kbps, direct, flags["legacy"], str(version) if version else None,
                         flags["minimal"], user_agent)
