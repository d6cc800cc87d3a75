"""Internet radio URL and name checks (orbsonic.library.radio): whatever a client sends, the
answer is a clean http(s) URL or BadParam — never another exception."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st

from orbsonic.errors import BadParam
from orbsonic.library import radio


@given(st.text(max_size=300))
def test_any_text_is_a_clean_url_or_bad_param(text: str) -> None:
    try:
        url = radio.check_url("streamUrl", text)
    except BadParam as e:
        assert e.name == "streamUrl"
        return
    parts = urlsplit(url)
    assert parts.scheme.lower() in ("http", "https") and parts.hostname
    assert len(url) <= radio.MAX_URL and not any(c.isspace() or ord(c) < 0x20 for c in url)


@given(st.sampled_from(["http", "https", "HTTP"]),
       st.from_regex(r"[a-z0-9]{1,20}(\.[a-z]{2,5}){1,2}", fullmatch=True),
       st.from_regex(r"(/[A-Za-z0-9._~-]{0,20}){0,4}", fullmatch=True))
def test_http_urls_are_kept_as_given(scheme: str, host: str, path: str) -> None:
    url = f"{scheme}://{host}{path}"
    assert radio.check_url("streamUrl", f"  {url} ") == url


@pytest.mark.parametrize("url", ["javascript:alert(1)", "data:text/html,x", "file:///etc/passwd", "//host/x",
                                 "http:/x", "http://[::1", "https://h.example:0/", "http://h.example/\x7f"])
def test_refused(url: str) -> None:
    with pytest.raises(BadParam):
        radio.check_url("homepageUrl", url)


def test_names() -> None:
    assert radio.check_name("  Radio  ") == "Radio"
    for bad in ("", "   ", "x" * (radio.MAX_NAME + 1)):
        with pytest.raises(BadParam):
            radio.check_name(bad)
