"""A small Subsonic HTTP client for the conformance runner: auth modes, formats, GET/POST.

``Server(url, user, password, api_key=None)`` wraps one ``httpx.Client``. ``call(method, params,
fmt=, auth=, http=, suffix=)`` sends one request and returns an ``Answer`` (status, headers,
body, the parsed JSON envelope or XML root, the Subsonic error code). Auth modes (Subsonic API
"Authentication", OpenSubsonic ``apiKeyAuthentication``): ``password`` (``p=`` clear), ``enc``
(``p=enc:<hex>``), ``token`` (``t=md5(password+salt)``, ``s=salt``), ``apikey`` (``apiKey=``),
``none`` (no credentials), ``wrong`` (a wrong password). Nothing here imports ``orbsonic``.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import httpx
from lxml import etree

__all__ = ["AUTH_MODES", "Answer", "Server"]

AUTH_MODES = ("password", "enc", "token", "apikey")
SUBSONIC_NS = "{http://subsonic.org/restapi}"
_XML_TYPES = ("text/xml", "application/xml")
_JSON_TYPES = ("application/json", "text/javascript", "application/javascript")


@dataclass
class Answer:
    """One HTTP answer. ``envelope`` is the JSON ``subsonic-response`` object (or ``None``),
    ``xml`` the XML root element (or ``None``); ``code`` the Subsonic error code when
    ``status == "failed"``; ``media`` the bare media type."""

    method: str
    http_status: int
    headers: httpx.Headers
    content: bytes
    media: str
    envelope: dict[str, Any] | None = None
    xml: Any = None
    parse_error: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def is_document(self) -> bool:
        return self.media in _XML_TYPES or self.media in _JSON_TYPES

    @property
    def status(self) -> str | None:
        if self.envelope is not None:
            return self.envelope.get("status")
        if self.xml is not None:
            return self.xml.get("status")
        return None

    @property
    def code(self) -> int | None:
        if self.envelope is not None and isinstance(self.envelope.get("error"), dict):
            code = self.envelope["error"].get("code")
            return int(code) if isinstance(code, int | str) and str(code).isdigit() else None
        if self.xml is not None:
            err = self.xml.find(f"{SUBSONIC_NS}error")
            if err is None:
                err = self.xml.find("error")
            if err is not None and (err.get("code") or "").isdigit():
                return int(err.get("code"))
        return None

    @property
    def message(self) -> str:
        if self.envelope is not None and isinstance(self.envelope.get("error"), dict):
            return str(self.envelope["error"].get("message", ""))
        if self.xml is not None:
            err = self.xml.find(f"{SUBSONIC_NS}error")
            if err is None:
                err = self.xml.find("error")
            if err is not None:
                return err.get("message") or ""
        return ""

    def describe(self) -> str:
        """A short human form: ``ok``, ``error 70 'not found'``, ``HTTP 404 text/html``."""
        if self.status == "ok":
            return "ok"
        if self.status == "failed":
            return f"error {self.code} {self.message[:80]!r}"
        return f"HTTP {self.http_status} {self.media or 'no content type'}"


class Server:
    """A Subsonic server at ``base_url`` (``http://host:port``, the ``/rest`` prefix is added)."""

    def __init__(self, base_url: str, user: str, password: str, *, api_key: str | None = None,
                 client_name: str = "conformance", version: str = "1.16.1", timeout: float = 30.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.rest = self.base_url if self.base_url.endswith("/rest") else self.base_url + "/rest"
        self.user, self.password, self.api_key = user, password, api_key
        self.client_name, self.version = client_name, version
        self.http = httpx.Client(timeout=timeout, follow_redirects=False)
        self.calls = 0

    def close(self) -> None:
        self.http.close()

    def auth_params(self, mode: str = "password") -> list[tuple[str, str]]:
        """The credential parameters of one auth mode (plus ``v`` and ``c``)."""
        base = [("v", self.version), ("c", self.client_name)]
        if mode == "password":
            return [("u", self.user), ("p", self.password), *base]
        if mode == "enc":
            return [("u", self.user), ("p", "enc:" + self.password.encode("utf-8").hex()), *base]
        if mode == "token":
            salt = secrets.token_hex(6)
            token = hashlib.md5((self.password + salt).encode("utf-8")).hexdigest()  # noqa: S324 (the spec's)
            return [("u", self.user), ("t", token), ("s", salt), *base]
        if mode == "apikey":
            return [("apiKey", self.api_key or ""), *base]
        if mode == "wrong":
            return [("u", self.user), ("p", self.password + "-wrong-" + secrets.token_hex(3)), *base]
        if mode == "none":
            return base
        raise ValueError(f"unknown auth mode {mode!r}")

    def call(self, method: str, params: dict[str, Any] | list[tuple[str, Any]] | None = None, *,
             fmt: str | None = "json", auth: str = "password", http: str = "GET", suffix: str = "",
             headers: dict[str, str] | None = None) -> Answer:
        """Send ``/rest/<method><suffix>``; list values repeat the parameter, ``None`` drops it.
        ``http="POST"`` sends everything as an ``application/x-www-form-urlencoded`` body
        (OpenSubsonic ``formPost``)."""
        query: list[tuple[str, str]] = list(self.auth_params(auth))
        if fmt is not None:
            query.append(("f", fmt))
        items = params.items() if isinstance(params, dict) else (params or [])
        for key, value in items:
            for item in value if isinstance(value, list | tuple) else [value]:
                if item is not None:
                    query.append((key, str(item).lower() if isinstance(item, bool) else str(item)))
        url = f"{self.rest}/{method}{suffix}"
        self.calls += 1
        if http == "POST":
            hdrs = {"content-type": "application/x-www-form-urlencoded", **(headers or {})}
            r = self.http.post(url, content=urlencode(query), headers=hdrs)
        else:
            r = self.http.request(http, url, params=query, headers=headers)
        return parse_answer(method, r)


def parse_answer(method: str, r: httpx.Response) -> Answer:
    """Wrap an ``httpx.Response``, parsing the Subsonic document when it is one."""
    media = r.headers.get("content-type", "").split(";")[0].strip().lower()
    answer = Answer(method, r.status_code, r.headers, r.content, media)
    if media in _JSON_TYPES:
        text = r.content.decode("utf-8", "replace").strip()
        if media != "application/json" and "(" in text:  # JSONP: callback({...})
            text = text[text.index("(") + 1: text.rindex(")")]
        try:
            data = json.loads(text)
            answer.envelope = data.get("subsonic-response") if isinstance(data, dict) else None
        except ValueError as exc:
            answer.parse_error = f"JSON does not parse: {exc}"
    elif media in _XML_TYPES:
        try:
            parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
            answer.xml = etree.fromstring(r.content, parser)
        except etree.XMLSyntaxError as exc:
            answer.parse_error = f"XML does not parse: {exc}"
    return answer
