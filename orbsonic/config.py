"""Settings: defaults < TOML file < environment < command line.

Every setting is declared once in `SETTINGS`; the README's configuration table is
checked against this list by `tests/unit/test_config.py`, so a new setting cannot go
undocumented.
"""

from __future__ import annotations

import dataclasses
import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from collections.abc import Callable, Mapping

from orbsonic.errors import ConfigError


def _default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "orbsonic"


def parse_duration_s(text: str) -> int:
    """Parse "0", "90", "90s", "15m", "1h", "1d" into whole seconds.

    Raises ConfigError on anything else. A bare number means minutes, as in
    `scan_interval = 60`, because that is the unit people write for schedules.
    """
    text = str(text).strip().lower()
    m = re.fullmatch(r"(\d+)\s*([smhd]?)", text)
    if not m:
        raise ConfigError(f"not a duration: {text!r} (use e.g. 30m, 1h, 0 to disable)")
    n, unit = int(m.group(1)), m.group(2) or "m"
    return n * {"s": 1, "m": 60, "h": 3600, "d": 86400}[unit]


def parse_timeout_s(text: Any) -> int:
    """Like parse_duration_s, but a bare number means seconds ("10" → 10, "2m" → 120)."""
    t = str(text).strip()
    return parse_duration_s(t + "s" if re.fullmatch(r"[0-9]+", t) else t)


def _bool(text: Any) -> bool:
    if isinstance(text, bool):
        return text
    t = str(text).strip().lower()
    if t in ("1", "true", "yes", "on"):
        return True
    if t in ("0", "false", "no", "off", ""):
        return False
    raise ConfigError(f"not a boolean: {text!r}")


def _paths(value: Any) -> tuple[Path, ...]:
    if isinstance(value, (list, tuple)):
        items = [str(v) for v in value]
    else:
        items = [p for p in str(value).split(os.pathsep) if p]
    return tuple(Path(p).expanduser() for p in items)


def _folder(item: str | os.PathLike[str]) -> Path | str:
    """A music folder: a local Path, or an `s3://bucket/prefix` URL kept as a str."""
    text = os.fspath(item)
    if isinstance(text, str) and text.startswith("s3://"):
        from orbsonic.storage.s3 import normalize_url

        try:
            return normalize_url(text)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
    return Path(text).expanduser()


def _folders(value: Any) -> tuple[Path | str, ...]:
    """Music folders: a TOML list, or `:`-separated (the `:` of `s3://` does not separate)."""
    if isinstance(value, (list, tuple)):
        items = [str(v) for v in value]
    else:
        items = []
        for part in str(value).split(os.pathsep):
            if part.startswith("//") and items and items[-1] == "s3":
                items[-1] = f"s3:{part}"
            elif part:
                items.append(part)
    return tuple(_folder(p) for p in items)


def _names(value: Any) -> tuple[str, ...]:
    if isinstance(value, (list, tuple)):
        return tuple(str(v).strip() for v in value if str(v).strip())
    return tuple(s.strip() for s in str(value).split(",") if s.strip())


def _legacy_encoding(value: Any) -> str:
    text = str(value).strip().lower()
    if text in ("auto", "off"):
        return text
    import codecs
    try:
        return codecs.lookup(text).name
    except LookupError:
        raise ConfigError(f"not an encoding: {value!r} (use auto, off, or a codec such as cp1251)") from None


def _separators(value: Any) -> tuple[str, ...]:
    # Spaces are meaningful (" / " needs them, "/" does not), so values are not stripped;
    # in the environment they are separated by "|".
    items = [str(v) for v in value] if isinstance(value, (list, tuple)) else str(value).split("|")
    return tuple(v for v in items if v.strip())


def _sizes(value: Any) -> tuple[int, ...]:
    items = value if isinstance(value, (list, tuple)) else str(value).split(",")
    try:
        sizes = sorted({int(str(v).strip()) for v in items if str(v).strip()})
    except ValueError:
        raise ConfigError(f"not a list of sizes in px: {value!r}") from None
    if any(not 16 <= n <= 3000 for n in sizes):
        raise ConfigError(f"cover sizes must be 16 … 3000 px: {value!r}")
    return tuple(sizes)


def _allow_networks(value: Any) -> tuple[str, ...]:
    from orbsonic.http.ssrf import AddressPolicy

    items = _names(value)
    try:
        AddressPolicy.parse(items)
    except ValueError as exc:
        raise ConfigError(f"podcast_allow_networks: not `private` or a CIDR network: {exc}") from None
    return items


def _dns_servers(value: Any) -> tuple[str, ...]:
    from orbsonic.http.ssrf import parse_dns_server

    items = _names(value)
    for item in items:
        try:
            parse_dns_server(item)
        except ValueError as exc:
            raise ConfigError(f"podcast_dns_servers: not an IP address with an optional port: {exc}"
                              ) from None
    return items


def _valkey_url(value: Any) -> str:
    text = str(value).strip()
    scheme = text.partition("://")[0].lower()
    if text and scheme not in ("valkey", "valkeys", "redis", "rediss", "unix"):
        raise ConfigError(f"not a Valkey URL: {text!r} (use valkey://host:6379/0)")
    return text
def _log_format(value: Any) -> str:
    text = str(value).strip().lower()
    if text not in ("text", "json"):
        raise ConfigError(f"not a log format: {value!r} (use text or json)")
    return text


def _client_profiles(value: Any) -> tuple[Any, ...]:
    from orbsonic.clients import parse_profiles

    return parse_profiles(value)


@dataclass(frozen=True)
class Setting:
    """One configuration entry: its TOML key, environment variable, parser and doc."""

    key: str
    env: str
    parse: Callable[[Any], Any]
    doc: str


SETTINGS: tuple[Setting, ...] = (
    Setting("music_folders", "ORBSONIC_MUSIC_FOLDERS", _folders,
            "Music folders to scan, separated by `:` in the environment (a list in TOML). "
            "`orbsonic serve DIR ...` adds to them. `s3://bucket/prefix` is a folder in an S3 bucket "
            "(settings `s3_*`)."),
    Setting("data_dir", "ORBSONIC_DATA_DIR", lambda v: Path(str(v)).expanduser(),
            "Where the embedded PostgreSQL, the cover cache and the secret key live. "
            "Default `$XDG_DATA_HOME/orbsonic` (`~/.local/share/orbsonic`)."),
    Setting("host", "ORBSONIC_HOST", str, "Listen address. Default `0.0.0.0`."),
    Setting("port", "ORBSONIC_PORT", int, "Listen port. Default `4040`."),
    Setting("database_url", "DATABASE_URL", str,
            "PostgreSQL ≥ 15 to use instead of the embedded one (`postgresql://user@host/db`). "
            "`ORBSONIC_DATABASE_URL` is read too."),
    Setting("log_level", "ORBSONIC_LOG_LEVEL", lambda v: str(v).upper(),
            "`debug`, `info`, `warning` or `error`. Default `info`."),
    Setting("scan_on_start", "ORBSONIC_SCAN_ON_START", _bool,
            "Scan the music folders when the server starts. Default `true`."),
    Setting("scan_interval_s", "ORBSONIC_SCAN_INTERVAL", parse_duration_s,
            "Rescan schedule: `30m`, `1h`, `1d`; a bare number is minutes; `0` turns it off. "
            "Default `0`. (TOML key `scan_interval`.)"),
    Setting("scan_watch", "ORBSONIC_SCAN_WATCH", _bool,
            "Watch the music folders and rescan a few seconds after files change. Default `false`."),
    Setting("workers", "ORBSONIC_WORKERS", int,
            "HTTP worker processes. Default `1`; raise it on machines with many cores."),
    Setting("secret_key", "ORBSONIC_SECRET_KEY", str,
            "Key that encrypts stored passwords (needed for token auth). Default: generated "
            "once into `DATA_DIR/secret.key`. Replicas sharing a database must share it."),
    Setting("legacy_clients", "ORBSONIC_LEGACY_CLIENTS", _names,
            "Client names (`c=`) that get plain Subsonic 1.16.1 responses with no "
            "OpenSubsonic fields. Default `DSub`."),
    Setting("token_auth", "ORBSONIC_TOKEN_AUTH", _bool,
            "Accept Subsonic token auth (`t`+`s`). With `false` clients get error 41 and fall "
            "back to passwords or API keys. Default `true`."),
    Setting("admin_user", "ORBSONIC_ADMIN_USER", str,
            "Admin account created on first start. Default `admin`."),
    Setting("admin_password", "ORBSONIC_ADMIN_PASSWORD", str,
            "Its password. When unset, a generated one is printed once."),
    Setting("cover_cache_size_mb", "ORBSONIC_COVER_CACHE_MB", int,
            "Upper bound of the resized-cover cache on disk, in MB. Default `500`."),
    Setting("cover_thumbnail_sizes", "ORBSONIC_COVER_THUMBNAIL_SIZES", _sizes,
            "Cover sizes in px made ahead by the `covers.thumbnails` job after a scan, so "
            "`getCoverArt` at these sizes never resizes on the request (comma-separated). "
            "Default `64,300,600,1200`."),
    Setting("cover_names", "ORBSONIC_COVER_NAMES", _names,
            "Image names (without extension, best first) that make a folder cover; the folder's "
            "own name also does. Default `cover,folder,front,album,albumart`."),
    Setting("job_worker", "ORBSONIC_JOB_WORKER", _bool,
            "`orbsonic serve` also runs a background-job worker (analysis, thumbnails …) as a child "
            "process. Turn it off when `orbsonic worker` runs elsewhere. Default `true`."),
    Setting("job_concurrency", "ORBSONIC_JOB_CONCURRENCY", int,
            "Background jobs one worker runs at once. Default `2`."),
    Setting("header_timeout", "ORBSONIC_HEADER_TIMEOUT", parse_timeout_s,
            "Time a client has to send a whole request head (`10`, `30s`, `1m`; bare numbers are "
            "seconds); slower connections are closed; `0` turns it off. Default `10s`."),
    Setting("body_timeout", "ORBSONIC_BODY_TIMEOUT", parse_timeout_s,
            "Time a client has to send a whole request body, from the end of its head; "
            "`0` turns it off. Default `60s`."),
    Setting("trusted_proxies", "ORBSONIC_TRUSTED_PROXIES", str,
            "Comma-separated addresses (or `*`) of reverse proxies whose `X-Forwarded-For` names the "
            "client (login rate limits count per client address). Default `127.0.0.1,::1`."),
    Setting("auth_cache_ttl", "ORBSONIC_AUTH_CACHE_TTL", parse_timeout_s,
            "How long a verified set of credentials is trusted without a database lookup (the "
            "password/token check still runs on every request). Any change of the user or an API "
            "key drops it at once on every worker (PostgreSQL NOTIFY). `0` turns the cache off. "
            "Default `30`."),
    Setting("answer_cache_mb", "ORBSONIC_ANSWER_CACHE_MB", int,
            "Upper bound, in MB per worker process, of the rendered read answers kept in memory "
            "(getAlbum, getArtist, getSong, the album lists but random ones, searches, the play queue …; "
            "dropped on every worker when the library or the user's data changes), and of up to 40,000 "
            "shaped songs (the first 10,000 shaped ahead after start). `0` turns both off. Default `64`."),
    Setting("login_max_failures", "ORBSONIC_LOGIN_MAX_FAILURES", int,
            "Consecutive failed logins for one user name or one client address after which its "
            "logins are refused (error 40) for `login_lockout`. `0` turns the limit off. Default `10`."),
    Setting("login_lockout", "ORBSONIC_LOGIN_LOCKOUT", parse_timeout_s,
            "How long refused logins stay refused after the last failure, and how long failures are "
            "remembered (`15m`, `1h`; bare numbers are seconds). Default `15m`."),
    Setting("login_delay_ms", "ORBSONIC_LOGIN_DELAY_MS", int,
            "The answer to the n-th consecutive failed login waits (n − 1) × this many ms "
            "(at most 3 s). Default `250`."),
    Setting("allowed_outside_roots", "ORBSONIC_ALLOWED_OUTSIDE_ROOTS", _paths,
            "Directories outside the music folders that symlinks inside them may point into "
            "(`:`-separated; a list in TOML). Other links that leave a music folder are neither "
            "scanned nor served. Default: none."),
    Setting("transcode_cache_size_mb", "ORBSONIC_TRANSCODE_CACHE_MB", int,
            "Upper bound of the transcode cache on disk, in MB (least recently used entries go "
            "first; `0` turns the cache off). Default `1000`."),
    Setting("transcode_max_concurrent", "ORBSONIC_TRANSCODE_MAX_CONCURRENT", int,
            "ffmpeg processes this machine runs at once, all workers together; further requests "
            "wait up to `transcode_queue_wait_s` for a slot. Default `16`."),
    Setting("transcode_queue_wait_s", "ORBSONIC_TRANSCODE_QUEUE_WAIT", int,
            "Seconds a transcode request waits for a free slot before it gets an error "
            "envelope. Default `10`."),
    Setting("ffmpeg", "ORBSONIC_FFMPEG", str,
            "The ffmpeg binary for transcoding. Default: `ffmpeg` on the PATH, else the "
            "`imageio-ffmpeg` wheel's when installed; with neither, `stream` sends originals."),
    Setting("tag_legacy_encoding", "ORBSONIC_TAG_LEGACY_ENCODING", _legacy_encoding,
            "ID3 frames marked Latin-1 that hold GBK, Big5, Shift-JIS, CP1251 … text: `auto` detects "
            "them (only when the text is not plausible Latin-1), `off` reads them as Latin-1, a codec "
            "name (`cp1251`) decodes every non-ASCII one with it. Default `auto`."),
    Setting("artist_separators", "ORBSONIC_ARTIST_SEPARATORS", _separators,
            "Where artist and composer tags split into several artists: a list in TOML, separated "
            "by a vertical bar in the environment. A space in a separator must be there in the tag "
            "(`\" / \"` splits `A / B`, not `AC/DC`), case is ignored; NUL (ID3v2.4 multi-values) "
            "always splits. Default `[\" / \", \"; \", \" feat. \", \" ft. \", \" featuring \"]`."),
    Setting("artist_separator_exceptions", "ORBSONIC_ARTIST_SEPARATOR_EXCEPTIONS", _names,
            "Names never split by `artist_separators` (comma-separated in the environment). "
            "Default `AC/DC`."),
    Setting("access_token_ttl", "ORBSONIC_ACCESS_TOKEN_TTL", parse_timeout_s,
            "Lifetime of a native API access token (`900`, `15m`; bare numbers are seconds); the "
            "client renews it with its refresh token. Default `15m`."),
    Setting("session_idle_timeout", "ORBSONIC_SESSION_IDLE_TIMEOUT", parse_timeout_s,
            "A native API session not used for this long (`30d`, `12h`; bare numbers are seconds) "
            "can no longer be refreshed: log in again. `0` keeps sessions until logout. Default `30d`."),
    Setting("registration_open", "ORBSONIC_REGISTRATION_OPEN", _bool,
            "Anyone may create an account with native `POST /api/v1/auth/register` (without roles "
            "beyond the defaults). Default `false`: only admins create users."),
    Setting("upload_dir", "ORBSONIC_UPLOAD_DIR", str,
            "Folder (inside a music folder) that native-API uploads (`POST /api/v1/uploads`, upload "
            "role) are written to; `off` turns uploads off (503). Default `Uploads` in the first "
            "music folder."),
    Setting("upload_max_mb", "ORBSONIC_UPLOAD_MAX_MB", int,
            "Largest accepted upload, in MB; larger ones are refused (413). Default `2000`."),
    Setting("sync_keep_days", "ORBSONIC_SYNC_KEEP_DAYS", int,
            "Days of delta-sync history kept (`GET /api/v1/sync`); an older token answers 410 "
            "`full-resync-needed`. `0`: no age limit. Default `30`."),
    Setting("sync_keep_rows", "ORBSONIC_SYNC_KEEP_ROWS", int,
            "Most delta-sync changes kept, newest first. `0`: no row limit. Default `1000000`."),
    Setting("jukebox_enabled", "ORBSONIC_JUKEBOX_ENABLED", _bool,
            "`jukeboxControl` plays on the server's own audio output through a local mpv (users "
            "need the jukebox role). Default `false`: the method answers an error."),
    Setting("jukebox_mpv", "ORBSONIC_JUKEBOX_MPV", str,
            "The mpv binary the jukebox starts (Debian package `mpv`). Default `mpv` on the PATH."),
    Setting("jukebox_audio_output", "ORBSONIC_JUKEBOX_AUDIO_OUTPUT", str,
            "mpv's `--ao` for the jukebox: `pulse`, `pipewire`, `alsa`, `null` (plays silently) … "
            "Default: empty, mpv's own choice."),
    Setting("valkey_url", "VALKEY_URL", _valkey_url,
            "Valkey (or Redis) for state shared by replicas (`valkey://host:6379/0`): real-time events "
            "then travel by Valkey pub/sub, with one PostgreSQL LISTEN per cluster; while Valkey is "
            "away they fall back to PostgreSQL. `ORBSONIC_VALKEY_URL` is read too. Default: none."),
    Setting("podcast_refresh_interval", "ORBSONIC_PODCAST_REFRESH_INTERVAL", parse_duration_s,
            "How often each podcast feed is fetched again by the `podcasts.refresh_due` job (`30m`, "
            "`6h`, `1d`; a bare number is minutes; `0` turns scheduled refreshes off, `refreshPodcasts` "
            "still works). Default `1h`."),
    Setting("podcast_feed_max_mb", "ORBSONIC_PODCAST_FEED_MAX_MB", int,
            "Largest podcast feed fetched, in MB; a larger one marks its channel `error`. Default `10`."),
    Setting("podcast_episode_max_mb", "ORBSONIC_PODCAST_EPISODE_MAX_MB", int,
            "Largest podcast episode downloaded (into `DATA_DIR/podcasts`), in MB; a larger one ends "
            "as `error`. Default `1000`."),
    Setting("podcast_allow_networks", "ORBSONIC_PODCAST_ALLOW_NETWORKS", _allow_networks,
            "Non-public addresses podcast feeds, images and episodes may be fetched from (comma-separated): "
            "`private` (every loopback, private and link-local address, for feeds on your LAN) and/or CIDR "
            "networks (`192.168.1.0/24`). Every other loopback, private, link-local, multicast or reserved "
            "address is refused, at every redirect hop. Default: none."),
    Setting("podcast_dns_servers", "ORBSONIC_PODCAST_DNS_SERVERS", _dns_servers,
            "DNS servers the podcast fetcher resolves feed, image and episode hosts with, instead of the "
            "system resolver (comma-separated `address` or `address:port`, IPv6 as `[address]:port`), e.g. "
            "a filtering resolver. Each connection resolves once and connects to the address it checked. "
            "Default: none (the system resolver)."),
    Setting("client_profiles", "ORBSONIC_CLIENT_PROFILES", _client_profiles,
            "Per-client behaviour, keyed on the client name `c` (a prefix, any case) or a `user_agent` "
            "substring: `legacy`, `api_version`, `minimal`, `format`, `max_bitrate`, `direct` (see "
            "[Client profiles](#client-profiles)). A TOML table of tables; JSON in the environment. "
            "Adds to and overrides the built-in profiles. Default: none."),
    Setting("lastfm_api_key", "ORBSONIC_LASTFM_API_KEY", str,
            "Last.fm API key: artist biographies, similar artists, images, top tracks and album "
            "notes (getArtistInfo, getAlbumInfo, getTopSongs), fetched by background jobs and cached; "
            "with `lastfm_api_secret`, users' plays can be forwarded to Last.fm. Default: empty (off)."),
    Setting("lastfm_api_secret", "ORBSONIC_LASTFM_API_SECRET", str,
            "The shared secret of that API key, which signs scrobbles (`api_sig`). Default: empty."),
    Setting("lastfm_url", "ORBSONIC_LASTFM_URL", str,
            "Base URL of the Last.fm API. Default `https://ws.audioscrobbler.com/2.0/`."),
    Setting("musicbrainz_url", "ORBSONIC_MUSICBRAINZ_URL", str,
            "Base URL of a MusicBrainz server, asked for the MusicBrainz ids of artists and albums "
            "whose tags carry none (`https://musicbrainz.org`). Default: empty (off)."),
    Setting("listenbrainz_url", "ORBSONIC_LISTENBRAINZ_URL", str,
            "Base URL of the ListenBrainz API that users with a ListenBrainz token forward plays to. "
            "Default `https://api.listenbrainz.org`."),
    Setting("metadata_ttl", "ORBSONIC_METADATA_TTL", parse_timeout_s,
            "How long fetched artist and album information is used before a background job fetches "
            "it again (`7d`, `12h`; bare numbers are seconds); after a failed fetch, the old "
            "information is kept and retried after a tenth of this. Default `7d`."),
    Setting("provider_timeout", "ORBSONIC_PROVIDER_TIMEOUT", parse_timeout_s,
            "Time one request to Last.fm, MusicBrainz or ListenBrainz may take (bare numbers are "
            "seconds). Default `10s`."),
    Setting("s3_endpoint", "ORBSONIC_S3_ENDPOINT", str,
            "S3 (or MinIO) endpoint as `host[:port]`, for music folders written `s3://bucket/prefix`. Default: empty (no S3 folders)."),
    Setting("s3_access_key", "ORBSONIC_S3_ACCESS_KEY", str,
            "S3 access key. Default: empty (anonymous)."),
    Setting("s3_secret_key", "ORBSONIC_S3_SECRET_KEY", str,
            "S3 secret key. Default: empty (anonymous)."),
    Setting("s3_region", "ORBSONIC_S3_REGION", str,
            "S3 region (`us-east-1`). Default: empty (asked of the store)."),
    Setting("s3_secure", "ORBSONIC_S3_SECURE", _bool,
            "Reach the S3 endpoint over https. Default `true`."),
    Setting("s3_redirect", "ORBSONIC_S3_REDIRECT", _bool,
            "`stream` and `download` of an S3 folder's tracks answer 302 to a presigned URL of the object instead of proxying its bytes. Default `false`."),
    Setting("s3_presign_ttl", "ORBSONIC_S3_PRESIGN_TTL", parse_timeout_s,
            "How long a presigned S3 URL stays valid (bare numbers are seconds). Default `1h`."),
    Setting("log_format", "ORBSONIC_LOG_FORMAT", _log_format,
            "`text` (one readable line per message) or `json` (one JSON object per line: `ts`, `level`, "
            "`logger`, `msg`, `request_id` while a request is handled, `exc`). Default `text`."),
    Setting("metrics_token", "ORBSONIC_METRICS_TOKEN", str,
            "Bearer token that `GET /metrics` (Prometheus) requires when set, from any address. "
            "Default: empty, and `/metrics` answers only loopback clients (403 for others)."),
    Setting("database_direct_url", "ORBSONIC_DATABASE_DIRECT_URL", str,
            "PostgreSQL URL that bypasses a transaction-pooling PgBouncer, for what needs a session "
            "of its own: migrations, LISTEN, the scanner's lock, job workers. When set, `DATABASE_URL` "
            "is taken to be the pooler: request connections use no prepared statements and no "
            "startup options. Default: none (`DATABASE_URL` for everything)."),
    Setting("job_stalled_after", "ORBSONIC_JOB_STALLED_AFTER", parse_timeout_s,
            "A running job whose worker sent no heartbeat for this long (a killed worker) is run "
            "again by another worker (`60`, `2m`; bare numbers are seconds). Default `60s`."),
)
_BY_KEY = {s.key: s for s in SETTINGS}
# TOML spellings that differ from the attribute name.
_TOML_ALIASES = {"scan_interval": "scan_interval_s"}


@dataclass(frozen=True)
class Settings:
    """Resolved configuration. Units: seconds (`scan_interval_s`, `header_timeout`,
    `body_timeout`, `login_lockout`, `transcode_queue_wait_s`, `access_token_ttl`,
    `session_idle_timeout`), MB (`cover_cache_size_mb`, `transcode_cache_size_mb`), ms
    (`login_delay_ms`)."""

    music_folders: tuple[Path | str, ...] = ()  # str: an s3://bucket/prefix folder
    data_dir: Path = field(default_factory=_default_data_dir)
    host: str = "0.0.0.0"
    port: int = 4040
    database_url: str = ""
    log_level: str = "INFO"
    scan_on_start: bool = True
    scan_interval_s: int = 0
    scan_watch: bool = False
    workers: int = 1
    secret_key: str = ""
    legacy_clients: tuple[str, ...] = ("DSub",)
    token_auth: bool = True
    admin_user: str = "admin"
    admin_password: str = ""
    cover_cache_size_mb: int = 500
    cover_thumbnail_sizes: tuple[int, ...] = (64, 300, 600, 1200)
    cover_names: tuple[str, ...] = ("cover", "folder", "front", "album", "albumart")
    job_worker: bool = True
    job_concurrency: int = 2
    header_timeout: int = 10
    body_timeout: int = 60
    trusted_proxies: str = "127.0.0.1,::1"
    auth_cache_ttl: int = 30  # seconds
    answer_cache_mb: int = 64
    login_max_failures: int = 10
    login_lockout: int = 900
    login_delay_ms: int = 250
    allowed_outside_roots: tuple[Path, ...] = ()
    transcode_cache_size_mb: int = 1000
    transcode_max_concurrent: int = 16
    transcode_queue_wait_s: int = 10
    ffmpeg: str = ""
    tag_legacy_encoding: str = "auto"
    artist_separators: tuple[str, ...] = (" / ", "; ", " feat. ", " ft. ", " featuring ")
    artist_separator_exceptions: tuple[str, ...] = ("AC/DC",)
    access_token_ttl: int = 900
    session_idle_timeout: int = 30 * 86400
    registration_open: bool = False
    upload_dir: str = ""
    upload_max_mb: int = 2000
    sync_keep_days: int = 30
    sync_keep_rows: int = 1_000_000
    jukebox_enabled: bool = False
    jukebox_mpv: str = "mpv"
    jukebox_audio_output: str = ""
    valkey_url: str = ""
    podcast_refresh_interval: int = 3600  # seconds
    podcast_feed_max_mb: int = 10
    podcast_episode_max_mb: int = 1000
    podcast_allow_networks: tuple[str, ...] = ()
    podcast_dns_servers: tuple[str, ...] = ()
    client_profiles: tuple[Any, ...] = ()  # orbsonic.clients.ClientProfile, from the setting
    lastfm_api_key: str = ""
    lastfm_api_secret: str = ""
    lastfm_url: str = "https://ws.audioscrobbler.com/2.0/"
    musicbrainz_url: str = ""
    listenbrainz_url: str = "https://api.listenbrainz.org"
    metadata_ttl: int = 7 * 86400
    provider_timeout: int = 10
    s3_endpoint: str = ""
    s3_access_key: str = ""
    s3_secret_key: str = ""
    s3_region: str = ""
    s3_secure: bool = True
    s3_redirect: bool = False
    s3_presign_ttl: int = 3600  # seconds
    log_format: str = "text"
    metrics_token: str = ""
    database_direct_url: str = ""
    job_stalled_after: int = 60  # seconds

    @property
    def session_url(self) -> str:
        """The URL for connections that need a session (LISTEN, locks, migrations, workers):
        `database_direct_url`, else `database_url`."""
        return self.database_direct_url or self.database_url

    @property
    def cover_cache_dir(self) -> Path:
        return self.data_dir / "cache" / "covers"

    @property
    def transcode_cache_dir(self) -> Path:
        return self.data_dir / "cache" / "transcodes"

    @property
    def outside_roots(self) -> tuple[str, ...]:
        """`allowed_outside_roots` as strings (the storage layer's form)."""
        return tuple(str(p) for p in self.allowed_outside_roots)

    @property
    def profiles(self) -> tuple[Any, ...]:
        """The effective client-profile table (orbsonic.clients.table): `client_profiles`, the
        built-in profiles, `legacy_clients` applied."""
        from orbsonic.clients import table

        return table(tuple(self.client_profiles), tuple(self.legacy_clients))

    def replace(self, **changes: Any) -> Settings:
        return dataclasses.replace(self, **changes)


def load_settings(
    config_file: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
    **overrides: Any,
) -> Settings:
    """Build Settings from an optional TOML file, the environment and explicit overrides.

    `config_file` defaults to `$ORBSONIC_CONFIG`. Overrides whose value is None are ignored
    (so argparse defaults do not mask the environment). Raises ConfigError on unknown TOML
    keys or unparsable values.
    """
    env = os.environ if env is None else env
    values: dict[str, Any] = {}
    path = config_file or env.get("ORBSONIC_CONFIG")
    if path:
        try:
            with open(path, "rb") as fh:
                data = tomllib.load(fh)
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"cannot read config file {path}: {exc}") from exc
        for key, raw in data.items():
            key = _TOML_ALIASES.get(key, key)
            if key not in _BY_KEY:
                raise ConfigError(f"unknown setting {key!r} in {path}")
            values[key] = _BY_KEY[key].parse(raw)
    for s in SETTINGS:
        raw = env.get(s.env)
        if raw is None and s.key in ("database_url", "valkey_url"):
            raw = env.get("ORBSONIC_" + s.env)
        if raw is not None and raw != "":
            try:
                values[s.key] = s.parse(raw)
            except (ValueError, ConfigError) as exc:
                raise ConfigError(f"{s.env}: {exc}") from exc
    extra_folders = overrides.pop("extra_music_folders", None) or ()
    for key, val in overrides.items():
        if val is not None:
            values[key] = val
    if extra_folders:
        values["music_folders"] = tuple(values.get("music_folders", ())) + tuple(
            _folder(p) for p in extra_folders
        )
    folders = tuple(dict.fromkeys(p if isinstance(p, str) else p.resolve()
                                  for p in values.get("music_folders", ())))
    values["music_folders"] = folders
    return Settings(**values)
