"""subsonic_api.registry: the 87 methods, the handlers, and the README's list of the rest."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import subsonic_api  # noqa: F401  (imports every endpoint module, registering the handlers)
from subsonic_api.registry import ALL_METHODS, ENDPOINTS, endpoint, not_implemented

README = Path(__file__).resolve().parents[2] / "README.md"
START, END = "<!-- not-implemented:start -->", "<!-- not-implemented:end -->"
_NAME = re.compile(r"[a-z][A-Za-z0-9]*")


def test_all_methods_is_the_87_of_subsonic_and_opensubsonic() -> None:
    assert len(ALL_METHODS) == 87
    for name in ("ping", "getOpenSubsonicExtensions", "tokenInfo", "getLyricsBySongId", "getPlayQueueByIndex",
                 "savePlayQueueByIndex", "getPodcastEpisode", "reportPlayback", "getTranscodeDecision",
                 "getTranscodeStream", "getSonicSimilarTracks", "findSonicPath", "hls", "search"):
        assert name in ALL_METHODS
    assert all(_NAME.fullmatch(m) for m in ALL_METHODS)


def test_every_registered_endpoint_is_a_known_method() -> None:
    assert ENDPOINTS, "no handlers registered"
    for name, ep in ENDPOINTS.items():
        assert name in ALL_METHODS, name
        assert ep.name == name


def test_registry_refuses_unknown_and_duplicate_names() -> None:
    with pytest.raises(ValueError):
        endpoint("getEverything")
    with pytest.raises(ValueError):
        endpoint("ping")(lambda ctx: None)  # type: ignore[arg-type,return-value]


def test_only_the_extension_list_skips_auth() -> None:
    """getOpenSubsonicExtensions must answer without credentials; nothing else may."""
    assert [n for n, ep in ENDPOINTS.items() if not ep.auth] == ["getOpenSubsonicExtensions"]
    assert ENDPOINTS["startScan"].admin


def test_not_implemented_is_the_complement() -> None:
    missing = not_implemented()
    assert missing == sorted(missing)
    assert set(missing) | set(ENDPOINTS) == ALL_METHODS and not set(missing) & set(ENDPOINTS)


def readme_not_implemented() -> list[str]:
    """Method names listed between the README markers, as a comma-separated or bullet list."""
    text = README.read_text(encoding="utf-8")
    assert text.count(START) == 1 and text.count(END) == 1, (
        f"README.md needs exactly one {START} … {END} block listing the unimplemented methods")
    block = text.split(START, 1)[1].split(END, 1)[0]
    names: list[str] = []
    for line in block.splitlines():
        line = line.strip()
        if line.startswith(("- ", "* ", "+ ")):
            line = line[2:]
        for item in line.split(","):
            item = item.strip().strip("`").strip()
            if item:
                assert _NAME.fullmatch(item), f"not a method name in the README list: {item!r}"
                names.append(item)
    return names


def test_readme_lists_exactly_the_unimplemented_methods() -> None:
    listed = readme_not_implemented()
    assert len(listed) == len(set(listed)), "a method is listed twice"
    missing = set(not_implemented())
    assert not set(listed) - missing, f"README lists implemented or unknown methods: {sorted(set(listed) - missing)}"
    assert not missing - set(listed), f"README does not list: {sorted(missing - set(listed))}"


def test_registry_refuses_an_unknown_role() -> None:
    with pytest.raises(ValueError):
        endpoint("getAvatar", role="superpowers")


def test_user_roles_and_folder_access() -> None:
    from datetime import datetime, timezone

    from orbsonic.auth.users import ROLE_ATTRS, User

    base = dict(id=1, username="u", password_enc=None, password_hash="", email="", is_admin=False,
                can_download=False, can_share=False, can_upload=False, can_jukebox=False, can_podcast=False,
                can_comment=False, can_cover_art=False, can_playlist=False, can_settings=False,
                max_bitrate=0, created_at=datetime.now(timezone.utc), can_stream=False,
                can_scrobble=False, can_video_conversion=False, folder_ids=[2])
    plain = User(**base)
    assert not any(plain.has_role(r) for r in ROLE_ATTRS)
    assert User(**{**base, "can_stream": True}).has_role("stream")
    assert all(User(**{**base, "is_admin": True}).has_role(r) for r in ROLE_ATTRS)
    assert plain.may_read_folder(2) and not plain.may_read_folder(1)
    assert User(**{**base, "folder_ids": None}).may_read_folder(1)
