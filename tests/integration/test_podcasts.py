"""Podcasts end to end: feeds, images and episodes served by a local HTTP server on loopback,
fetched and downloaded by the real job worker, read back through the real app with the
validating client (XML against the XSD, JSON against the OpenAPI; DSub's XML against the plain
1.16.1 XSD), streamed with Range like a song."""

from __future__ import annotations

import asyncio
import io
import shutil
import socket
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import psycopg
import pytest

from orbsonic.jobs import worker
from tests.conftest import ALICE, Subsonic, add_users, make_app

pytestmark = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="needs ffmpeg")


@dataclass
class Route:
    """What the fake podcast host answers on one path."""

    body: bytes = b""
    status: int = 200
    content_type: str = "application/rss+xml"
    headers: dict[str, str] = field(default_factory=dict)
    stream_bytes: int = 0  # > 0: send this many bytes with no Content-Length (a huge feed)


class _HTTP6Server(ThreadingHTTPServer):
    address_family = socket.AF_INET6


class FeedHost:
    """A threaded http.server on 127.0.0.1 serving `routes` (path → Route); every request's path
    is recorded in `hits`."""

    def __init__(self, bind: str = "127.0.0.1", port: int = 0) -> None:
        self.bind = bind
        self.routes: dict[str, Route] = {}
        self.hits: list[str] = []
        host = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"

            def log_message(self, *args: Any) -> None:
                return None

            def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
                host.hits.append(self.path)
                route = host.routes.get(self.path.split("?")[0])
                if route is None:
                    self.send_error(404, "Not Found")
                    return
                self.send_response(route.status)
                self.send_header("Content-Type", route.content_type)
                for k, v in route.headers.items():
                    self.send_header(k, v)
                if route.stream_bytes:
                    self.end_headers()
                    chunk = b"<item><title>" + b"x" * 65_000 + b"</title></item>\n"
                    sent = 0
                    try:
                        self.wfile.write(b'<?xml version="1.0"?><rss version="2.0"><channel>')
                        while sent < route.stream_bytes:
                            self.wfile.write(chunk)
                            sent += len(chunk)
                    except (BrokenPipeError, ConnectionResetError):
                        pass  # the server stopped reading at its cap: what the test wants
                    return
                self.send_header("Content-Length", str(len(route.body)))
                self.end_headers()
                self.wfile.write(route.body)

        server_class = _HTTP6Server if ":" in bind else ThreadingHTTPServer
        self.server = server_class((bind, port), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    def url(self, path: str) -> str:
        host = f"[{self.bind}]" if ":" in self.bind else self.bind
        return f"http://{host}:{self.port}{path}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@dataclass(frozen=True)
class Ep:
    guid: str
    title: str
    path: str
    date: str  # RFC 822
    duration: str = ""
    mime: str = "audio/mpeg"


def rss(host: FeedHost, title: str, episodes: list[Ep], image: str | None = None,
        description: str = "A test show") -> bytes:
    """An RSS 2.0 podcast feed with iTunes tags."""
    items = "".join(
        f"""<item><title>{escape(e.title)}</title><guid isPermaLink="false">{e.guid}</guid>
            <description>&lt;p&gt;About {escape(e.title)}&lt;/p&gt;</description><pubDate>{e.date}</pubDate>
            <enclosure url="{host.url(e.path)}" type="{e.mime}" length="1234"/>
            {f'<itunes:duration>{e.duration}</itunes:duration>' if e.duration else ''}</item>"""
        for e in episodes)
    img = f'<itunes:image href="{host.url(image)}"/>' if image else ""
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0" xmlns:itunes="http://www.itunes.com/dtds/podcast-1.0.dtd">
<channel><title>{escape(title)}</title><link>http://example.org/</link>
<description>{escape(description)}</description>{img}{items}</channel></rss>""".encode()


def make_mp3(path: Path, seconds: float, freq: int = 440) -> bytes:
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", f"sine=frequency={freq}:duration={seconds}",
                    "-ac", "1", "-c:a", "libmp3lame", "-b:a", "64k", str(path)], check=True)
    return path.read_bytes()


def png(color: str = "red", size: int = 40) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (size, size), color).save(buf, "PNG")
    return buf.getvalue()


def q(url: str, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(url) as conn:
        return conn.execute(sql, args).fetchall()


@dataclass
class Pod:
    url: str
    data: Path
    api: Subsonic
    host: FeedHost
    audio: dict[str, bytes]

    def run_jobs(self) -> None:
        """Run the job worker until no job waits (as tests/integration/test_loudness.py does)."""
        for _ in range(10):
            asyncio.run(worker.run(self.url, wait=False, install_signal_handlers=False))
            if not q(self.url, "SELECT 1 FROM procrastinate_jobs WHERE status IN ('todo', 'doing')"):
                return
        raise AssertionError("jobs still waiting after 10 worker rounds")

    def channels(self, client: Subsonic | None = None, **params: Any) -> list[dict[str, Any]]:
        return (client or self.api).ok("getPodcasts", **params)["podcasts"].get("channel", [])

    def write(self, method: str, client: Subsonic | None = None, **params: Any) -> None:
        body = (client or self.api).raw(method, **params).json()["subsonic-response"]
        assert body["status"] == "ok", body


@pytest.fixture(scope="module")
def audio_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    d = tmp_path_factory.mktemp("podcast-audio")
    return {"one": make_mp3(d / "one.mp3", 6), "two": make_mp3(d / "two.mp3", 3, 660),
            "three": make_mp3(d / "three.mp3", 2, 880)}


@contextmanager
def pod_server(db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, audio: dict[str, bytes],
               allow: str, dns: str = "") -> Iterator[Pod]:
    """The app and the worker's environment with podcast_allow_networks = `allow` (and
    podcast_dns_servers = `dns`), and a feed host on 127.0.0.1."""
    from starlette.testclient import TestClient

    data = tmp_path / "data"
    data.mkdir()
    # The worker reads its settings from the environment, as `orbsonic worker` does.
    monkeypatch.setenv("ORBSONIC_DATA_DIR", str(data))
    monkeypatch.setenv("ORBSONIC_PODCAST_FEED_MAX_MB", "1")
    monkeypatch.setenv("ORBSONIC_PODCAST_ALLOW_NETWORKS", allow)
    monkeypatch.setenv("ORBSONIC_PODCAST_DNS_SERVERS", dns)
    monkeypatch.delenv("ORBSONIC_CONFIG", raising=False)
    add_users(db, data)
    host = FeedHost()
    allowed = tuple(a.strip() for a in allow.split(",") if a.strip())
    try:
        servers = tuple(d.strip() for d in dns.split(",") if d.strip())
        app = make_app(db, data, podcast_allow_networks=allowed, podcast_dns_servers=servers)
        with TestClient(app) as http:
            yield Pod(db, data, Subsonic(http), host, audio)
    finally:
        host.close()


@pytest.fixture
def pod(fresh_db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        audio_files: dict[str, bytes]) -> Iterator[Pod]:
    """The feed host is on loopback: the fake feed needs private networks allowed."""
    with pod_server(fresh_db, tmp_path, monkeypatch, audio_files, "private") as p:
        yield p


def serve_show(pod: Pod, path: str = "/show.xml", episodes: list[Ep] | None = None) -> list[Ep]:
    eps = episodes if episodes is not None else [
        Ep("ep-1", "First Steps", "/audio/one.mp3", "Mon, 01 Jan 2024 10:00:00 GMT", "0:06"),
        Ep("ep-2", "Second & Last", "/audio/two.mp3", "Mon, 08 Jan 2024 10:00:00 GMT", "3"),
    ]
    pod.host.routes[path] = Route(rss(pod.host, "The Test Show", eps, image="/cover.png"))
    pod.host.routes["/cover.png"] = Route(png("red"), content_type="image/png")
    for name, data in pod.audio.items():
        pod.host.routes[f"/audio/{name}.mp3"] = Route(data, content_type="audio/mpeg")
    return eps


def test_subscribe_refresh_download_stream_delete(pod: Pod) -> None:
    serve_show(pod)
    pod.write("createPodcastChannel", url=pod.host.url("/show.xml"))
    [channel] = pod.channels()
    assert channel["status"] == "new" and channel["url"] == pod.host.url("/show.xml")
    assert channel["id"].startswith("pc-") and channel["episode"] == []

    pod.run_jobs()
    [channel] = pod.channels()
    assert channel["status"] == "completed" and "errorMessage" not in channel
    assert channel["title"] == "The Test Show" and channel["description"] == "A test show"
    assert channel["originalImageUrl"] == pod.host.url("/cover.png")
    # newest first; HTML in descriptions becomes text
    titles = [e["title"] for e in channel["episode"]]
    assert titles == ["Second & Last", "First Steps"]
    second, first = channel["episode"]
    assert first["status"] == "new" and "streamId" not in first
    assert first["channelId"] == channel["id"] and first["id"].startswith("pe-")
    assert first["description"] == "About First Steps"
    assert first["publishDate"] == "2024-01-01T10:00:00.000Z" and first["duration"] == 6
    assert first["type"] == "podcast" and first["coverArt"] == channel["coverArt"]

    # the channel image, stored and served by getCoverArt (original and resized)
    r = pod.api.raw("getCoverArt", id=channel["coverArt"])
    assert r.status_code == 200 and r.content == png("red")
    r = pod.api.raw("getCoverArt", id=channel["coverArt"], size=16)
    from PIL import Image

    assert r.status_code == 200 and Image.open(io.BytesIO(r.content)).size == (16, 16)

    # download: downloading at once, completed after the job
    pod.write("downloadPodcastEpisode", id=first["id"])
    assert pod.api.ok("getPodcastEpisode", id=first["id"])["podcastEpisode"]["status"] == "downloading"
    assert pod.api.ok("getNewestPodcasts")["newestPodcasts"].get("episode", []) == []
    pod.run_jobs()
    ep = pod.api.ok("getPodcastEpisode", id=first["id"])["podcastEpisode"]
    assert ep["status"] == "completed" and ep["streamId"] == first["id"]
    assert ep["size"] == len(pod.audio["one"]) and ep["contentType"] == "audio/mpeg" and ep["suffix"] == "mp3"
    assert ep["duration"] == 6 and 56 <= ep["bitRate"] <= 72
    newest = pod.api.ok("getNewestPodcasts", count=5)["newestPodcasts"]["episode"]
    assert [e["id"] for e in newest] == [first["id"]]
    assert list(pod.data.glob("podcasts/*/*.mp3"))

    # stream and download like a song: whole file, ranges, HEAD
    r = pod.api.raw("stream", id=ep["streamId"])
    assert r.status_code == 200 and r.content == pod.audio["one"]
    assert r.headers["content-type"] == "audio/mpeg" and r.headers["accept-ranges"] == "bytes"
    r = pod.api.raw("stream", id=ep["streamId"], headers={"Range": "bytes=100-1099"})
    assert r.status_code == 206 and r.content == pod.audio["one"][100:1100]
    assert r.headers["content-range"] == f"bytes 100-1099/{len(pod.audio['one'])}"
    r = pod.api.raw("download", id=ep["streamId"], headers={"Range": "bytes=-10"})
    assert r.status_code == 206 and r.content == pod.audio["one"][-10:]
    r = pod.api.raw("download", id=ep["streamId"])
    assert r.content == pod.audio["one"] and "attachment" in r.headers["content-disposition"]
    assert pod.api.raw("stream", http_method="HEAD", id=ep["streamId"]).headers["content-length"] == \
        str(len(pod.audio["one"]))

    # a new item in the feed appears at the next refresh; known ones keep their ids and status
    serve_show(pod, episodes=[
        Ep("ep-1", "First Steps", "/audio/one.mp3", "Mon, 01 Jan 2024 10:00:00 GMT", "0:06"),
        Ep("ep-2", "Second & Last", "/audio/two.mp3", "Mon, 08 Jan 2024 10:00:00 GMT", "3"),
        Ep("ep-3", "Third", "/audio/three.mp3", "Mon, 15 Jan 2024 10:00:00 GMT"),
    ])
    pod.write("refreshPodcasts")
    pod.run_jobs()
    [channel] = pod.channels()
    assert [e["title"] for e in channel["episode"]] == ["Third", "Second & Last", "First Steps"]
    assert channel["episode"][2]["id"] == first["id"] and channel["episode"][2]["status"] == "completed"

    # delete the episode: its file goes, it stays listed as deleted, and a refresh keeps it so
    pod.write("deletePodcastEpisode", id=first["id"])
    assert not list(pod.data.glob("podcasts/*/*.mp3"))
    pod.api.fail("stream", 70, id=first["id"])
    pod.api.fail("download", 70, id=first["id"])
    assert pod.api.ok("getPodcastEpisode", id=first["id"])["podcastEpisode"]["status"] == "deleted"
    pod.write("refreshPodcasts")
    pod.run_jobs()
    assert pod.api.ok("getPodcastEpisode", id=first["id"])["podcastEpisode"]["status"] == "deleted"
    assert pod.api.ok("getNewestPodcasts")["newestPodcasts"].get("episode", []) == []

    # includeEpisodes=false and id=
    assert pod.channels(includeEpisodes=False)[0]["episode"] == []
    assert [c["id"] for c in pod.channels(id=channel["id"])] == [channel["id"]]

    # delete the channel: rows, episodes and files gone
    pod.write("deletePodcastChannel", id=channel["id"])
    assert pod.channels() == []
    pod.api.fail("getPodcastEpisode", 70, id=second["id"])
    pod.api.fail("getPodcasts", 70, id=channel["id"])
    assert not (pod.data / "podcasts" / channel["id"]).exists()
    assert not [p for p in (pod.data / "podcasts").rglob("*") if p.is_file()]


def test_bad_feeds_mark_only_their_channel(pod: Pod) -> None:
    serve_show(pod)
    pod.host.routes["/html.xml"] = Route(b"<html><body><h1>Welcome to nginx!</h1></body></html>",
                                         content_type="text/html")
    pod.host.routes["/garbage.xml"] = Route(bytes(range(256)) * 40, content_type="application/octet-stream")
    pod.host.routes["/huge.xml"] = Route(stream_bytes=3 * 1024 * 1024)  # the cap is 1 MB in this test
    pod.host.routes["/loop.xml"] = Route(status=302, headers={"Location": "/loop.xml"})
    pod.host.routes["/boom.xml"] = Route(b"oops", status=500, content_type="text/plain")
    urls = {name: pod.host.url(f"/{name}.xml") for name in ("show", "missing", "html", "garbage", "huge",
                                                           "loop", "boom")}
    for url in urls.values():
        pod.write("createPodcastChannel", url=url)
    pod.run_jobs()
    by_url = {c["url"]: c for c in pod.channels()}
    assert by_url[urls["show"]]["status"] == "completed" and len(by_url[urls["show"]]["episode"]) == 2
    expected = {"missing": "404", "html": "not an RSS or Atom feed", "garbage": "not an RSS or Atom feed",
                "huge": "larger than 1 MB", "loop": "redirects", "boom": "500"}
    for name, fragment in expected.items():
        c = by_url[urls[name]]
        assert c["status"] == "error" and fragment in c["errorMessage"], (name, c)
        assert c["episode"] == []

    # the good feed goes bad: its channel is error, its title and episodes stay
    show = by_url[urls["show"]]
    del pod.host.routes["/show.xml"]
    pod.write("refreshPodcasts")
    pod.run_jobs()
    [after] = [c for c in pod.channels() if c["url"] == urls["show"]]
    assert after["status"] == "error" and "404" in after["errorMessage"]
    assert after["title"] == show["title"] and [e["id"] for e in after["episode"]] == \
        [e["id"] for e in show["episode"]]
    # and recovers at the next refresh that works
    serve_show(pod)
    pod.write("refreshPodcasts")
    pod.run_jobs()
    [again] = [c for c in pod.channels() if c["url"] == urls["show"]]
    assert again["status"] == "completed" and "errorMessage" not in again


def test_failed_episode_download_is_error(pod: Pod) -> None:
    serve_show(pod, episodes=[Ep("gone", "Gone", "/audio/nothere.mp3", "Mon, 01 Jan 2024 10:00:00 GMT"),
                              Ep("html", "Not audio", "/audio/page.mp3", "Mon, 02 Jan 2024 10:00:00 GMT")])
    pod.host.routes["/audio/page.mp3"] = Route(b"<html>nope</html>" * 20, content_type="text/html")
    pod.write("createPodcastChannel", url=pod.host.url("/show.xml"))
    pod.run_jobs()
    episodes = pod.channels()[0]["episode"]
    for e in episodes:
        pod.write("downloadPodcastEpisode", id=e["id"])
    pod.run_jobs()
    got = {e["title"]: e for e in pod.channels()[0]["episode"]}
    assert got["Gone"]["status"] == "error" and got["Not audio"]["status"] == "error"
    assert not [p for p in (pod.data / "podcasts").rglob("*.mp3")]
    assert not [p for p in (pod.data / "podcasts").rglob(".part-*")]
    # a retry after the host is fixed works
    pod.host.routes["/audio/nothere.mp3"] = Route(pod.audio["two"], content_type="audio/mpeg")
    pod.write("downloadPodcastEpisode", id=got["Gone"]["id"])
    pod.write("downloadPodcastEpisode", id=got["Gone"]["id"])  # asked twice: downloaded once
    pod.run_jobs()
    assert pod.api.ok("getPodcastEpisode", id=got["Gone"]["id"])["podcastEpisode"]["status"] == "completed"
    assert len([h for h in pod.host.hits if h == "/audio/nothere.mp3"]) == 2  # the failure, then once
    # an episode left `downloading` without a job (its job lost) can be asked for again
    pod.host.routes["/audio/page.mp3"] = Route(pod.audio["three"], content_type="audio/mpeg")
    with psycopg.connect(pod.url) as conn:
        conn.execute("UPDATE podcast_episodes SET status = 'downloading' WHERE guid = 'html'")
    pod.write("downloadPodcastEpisode", id=got["Not audio"]["id"])
    pod.run_jobs()
    assert pod.api.ok("getPodcastEpisode", id=got["Not audio"]["id"])["podcastEpisode"]["status"] == "completed"


def test_ids_of_the_wrong_kind_are_70(pod: Pod) -> None:
    serve_show(pod)
    pod.write("createPodcastChannel", url=pod.host.url("/show.xml"))
    pod.run_jobs()
    [channel] = pod.channels()
    episode = channel["episode"][0]["id"]
    pod.api.fail("stream", 70, id=episode)  # not downloaded yet
    pod.api.fail("getPodcastEpisode", 70, id=channel["id"])
    pod.api.fail("getPodcastEpisode", 70, id="tr-1")
    pod.api.fail("getPodcastEpisode", 70, id="pe-zzzzzz")
    pod.api.fail("deletePodcastChannel", 70, id=episode)
    pod.api.fail("downloadPodcastEpisode", 70, id=channel["id"])
    pod.api.fail("deletePodcastEpisode", 70, id="tr-1")
    pod.api.fail("getPodcasts", 70, id=episode)
    pod.api.fail("getCoverArt", 70, id="pc-zzzz")
    pod.api.fail("createPodcastChannel", 10)
    for bad in ("javascript:alert(1)", "file:///etc/passwd", "/relative.xml"):
        assert "url" in pod.api.fail("createPodcastChannel", 0, url=bad)["message"]
    assert len(pod.channels()) == 1
    # episode ids never collide with track ids: a pe- id is not accepted where a song is meant
    pod.api.fail("getSong", 70, id=episode)
    pod.api.fail("scrobble", 70, id=channel["id"])  # a channel is not played (an episode is: below)


def test_roles_and_legacy_clients(pod: Pod) -> None:
    serve_show(pod)
    alice = pod.api.as_user(*ALICE)
    for method, params in (("createPodcastChannel", {"url": pod.host.url("/show.xml")}),
                           ("refreshPodcasts", {}), ("deletePodcastChannel", {"id": "pc-1"}),
                           ("downloadPodcastEpisode", {"id": "pe-1"}), ("deletePodcastEpisode", {"id": "pe-1"})):
        alice.fail(method, 50, **params)
    assert pod.channels(alice) == []
    pod.api.ok("updateUser", username=ALICE[0], podcastRole=True)
    pod.write("createPodcastChannel", alice, url=pod.host.url("/show.xml"))
    pod.run_jobs()
    [channel] = pod.channels(alice)  # every user reads the one list
    pod.write("downloadPodcastEpisode", alice, id=channel["episode"][1]["id"])
    pod.run_jobs()
    # DSub: plain 1.16.1 XML (validated against the original XSD by the client)
    dsub = Subsonic(pod.api.http, client="DSub", version="1.2.0")
    xml = dsub.raw("getPodcasts", fmt="xml")
    assert b'status="ok"' in xml.content and b"openSubsonic" not in xml.content
    assert b'status="completed"' in xml.content
    assert b"<episode " in dsub.raw("getNewestPodcasts", fmt="xml").content
    assert pod.api.ok("getOpenSubsonicExtensions")["openSubsonicExtensions"] and any(
        e["name"] == "getPodcastEpisode" and e["versions"] == [1]
        for e in pod.api.ok("getOpenSubsonicExtensions")["openSubsonicExtensions"])


def test_due_channels_are_refreshed_by_the_periodic_job(pod: Pod) -> None:
    serve_show(pod)
    pod.write("createPodcastChannel", url=pod.host.url("/show.xml"))
    pod.run_jobs()
    hits = len([h for h in pod.host.hits if h.startswith("/show.xml")])
    # nothing is due right after a refresh (interval 1 h) …
    asyncio.run(_run_task(pod.url, "podcasts.refresh_due"))
    pod.run_jobs()
    assert len([h for h in pod.host.hits if h.startswith("/show.xml")]) == hits
    # … and an hour later it is
    with psycopg.connect(pod.url) as conn:
        conn.execute("UPDATE podcast_channels SET refreshed_at = now() - interval '61 minutes'")
    asyncio.run(_run_task(pod.url, "podcasts.refresh_due"))
    pod.run_jobs()
    assert len([h for h in pod.host.hits if h.startswith("/show.xml")]) == hits + 1


async def _run_task(url: str, name: str) -> None:
    from orbsonic import jobs

    app = jobs.make_app(url)
    async with app.open_async():
        await jobs.defer(app, name, timestamp=0)


def test_feeds_on_the_servers_own_networks_are_refused(fresh_db: str, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch,
                                                        audio_files: dict[str, bytes]) -> None:
    """podcast_allow_networks empty (the default): a loopback, private, link-local, multicast
    or reserved feed URL is refused with an error envelope, nothing is stored or fetched."""
    with pod_server(fresh_db, tmp_path, monkeypatch, audio_files, "") as pod:
        serve_show(pod)
        port = pod.host.server.server_address[1]
        refused = {pod.host.url("/show.xml"): "loopback", f"http://localhost:{port}/show.xml": "loopback",
                   f"http://[::1]:{port}/show.xml": "loopback", "http://[::ffff:127.0.0.1]/x.xml": "loopback",
                   "http://169.254.169.254/latest/meta-data/": "link-local", "http://10.1.2.3/feed": "private",
                   "http://192.168.1.10/feed": "private", "http://224.0.0.1/feed": "multicast",
                   "http://0.0.0.0/feed": "unspecified", "http://240.0.0.1/feed": "reserved",
                   "http://100.64.0.1/feed": "not globally routable"}
        for url, kind in refused.items():
            error = pod.api.fail("createPodcastChannel", 0, url=url)
            assert "url" in error["message"] and kind in error["message"], (url, error)
        assert pod.channels() == []
        assert pod.host.hits == []


def test_redirects_and_enclosures_into_refused_networks(fresh_db: str, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch,
                                                        audio_files: dict[str, bytes]) -> None:
    """Only 127.0.0.1 allowed: a feed there that redirects to 127.0.0.2 (loopback, not
    allowed) marks its channel `error` without a connection to 127.0.0.2; an enclosure on
    127.0.0.2 is refused by downloadPodcastEpisode, one that redirects there by the job."""
    inner = FeedHost("127.0.0.2")
    try:
        with pod_server(fresh_db, tmp_path, monkeypatch, audio_files, "127.0.0.1/32") as pod:
            inner_ep = Ep("x", "X", "/a.mp3", "Mon, 01 Jan 2024 10:00:00 GMT")
            inner.routes["/show.xml"] = Route(rss(inner, "Inner", [inner_ep]))
            inner.routes["/a.mp3"] = Route(pod.audio["one"], content_type="audio/mpeg")
            pod.host.routes["/hop.xml"] = Route(status=302, headers={"Location": inner.url("/show.xml")})
            pod.write("createPodcastChannel", url=pod.host.url("/hop.xml"))  # the first hop is allowed
            pod.run_jobs()
            [channel] = pod.channels()
            assert channel["status"] == "error", channel
            assert "refused" in channel["errorMessage"] and "127.0.0.2" in channel["errorMessage"]
            assert "loopback" in channel["errorMessage"]
            assert inner.hits == []  # never connected to
            pod.write("deletePodcastChannel", id=channel["id"])

            # a feed on the allowed host whose enclosures and image live on the refused one
            pod.host.routes["/audio/hop.mp3"] = Route(status=301, headers={"Location": inner.url("/a.mp3")})
            pod.host.routes["/audio/ok.mp3"] = Route(pod.audio["two"], content_type="audio/mpeg")
            eps = [Ep("direct", "Direct", "/a.mp3", "Mon, 01 Jan 2024 10:00:00 GMT"),
                   Ep("hop", "Hop", "/audio/hop.mp3", "Mon, 02 Jan 2024 10:00:00 GMT"),
                   Ep("ok", "Ok", "/audio/ok.mp3", "Mon, 03 Jan 2024 10:00:00 GMT")]
            body = rss(pod.host, "Mixed", eps)
            body = body.replace(pod.host.url("/a.mp3").encode(), inner.url("/a.mp3").encode())
            image = f'<itunes:image href="{inner.url("/c.png")}"/>'.encode()
            body = body.replace(b"<channel><title>", b"<channel>" + image + b"<title>")
            pod.host.routes["/mixed.xml"] = Route(body)
            pod.write("createPodcastChannel", url=pod.host.url("/mixed.xml"))
            pod.run_jobs()
            [channel] = pod.channels()
            assert channel["status"] == "completed" and "coverArt" not in channel  # the image was refused
            got = {e["title"]: e for e in channel["episode"]}
            error = pod.api.fail("downloadPodcastEpisode", 0, id=got["Direct"]["id"])
            assert "127.0.0.2" in error["message"] and "loopback" in error["message"]
            pod.write("downloadPodcastEpisode", id=got["Hop"]["id"])
            pod.write("downloadPodcastEpisode", id=got["Ok"]["id"])
            pod.run_jobs()
            got = {e["title"]: e for e in pod.channels()[0]["episode"]}
            assert got["Direct"]["status"] == "new"
            assert got["Hop"]["status"] == "error"
            [(message,)] = q(pod.url, "SELECT error_message FROM podcast_episodes WHERE guid = 'hop'")
            assert "refused" in message and "127.0.0.2" in message, message
            assert got["Ok"]["status"] == "completed"
            assert inner.hits == []
    finally:
        inner.close()


def downloaded_episode(pod: Pod) -> dict[str, Any]:
    """The show's second episode, subscribed to and downloaded (jobs run): its podcastEpisode."""
    serve_show(pod)
    pod.write("createPodcastChannel", url=pod.host.url("/show.xml"))
    pod.run_jobs()
    first = pod.channels()[0]["episode"][1]
    pod.write("downloadPodcastEpisode", id=first["id"])
    pod.run_jobs()
    return pod.api.ok("getPodcastEpisode", id=first["id"])["podcastEpisode"]


def test_episodes_are_scrobbled_and_reported_like_songs(pod: Pod) -> None:
    """scrobble (notice and submission) and OpenSubsonic reportPlayback mediaType=podcast take
    an episode's id; getNowPlaying shows it to every user (XSD-valid: a Child of type podcast)."""
    ep = downloaded_episode(pod)
    alice = pod.api.as_user(*ALICE)

    pod.write("scrobble", Subsonic(pod.api.http, client="PodPlayer"), id=ep["streamId"], submission="false")
    [entry] = alice.ok("getNowPlaying")["nowPlaying"]["entry"]
    assert entry["id"] == ep["id"] and entry["type"] == "podcast" and entry["title"] == "First Steps"
    assert entry["playerName"] == "PodPlayer" and entry["username"] == pod.api.user
    dsub = Subsonic(pod.api.http, client="DSub", version="1.2.0")
    assert b"<entry " in dsub.raw("getNowPlaying", fmt="xml").content

    # a play, sent twice (an offline batch): counted once; with an unknown song in the batch
    pod.write("scrobble", id=[ep["streamId"], "tr-zzzz"], time=["1700000000000", "1700000000000"])
    pod.write("scrobble", id=ep["streamId"], time="1700000000000")
    [(episode_id,)] = q(pod.url, "SELECT id FROM podcast_episodes WHERE guid = 'ep-1'")
    assert q(pod.url, "SELECT episode_id, client FROM podcast_play_history") == [(episode_id, "pytest")]
    assert q(pod.url, "SELECT count(*) FROM play_history") == [(0,)]
    assert q(pod.url, "SELECT count(*) FROM scrobble_outbox") == [(0,)]  # not forwarded

    # reportPlayback: podcast ids with mediaType=podcast only
    tempus = Subsonic(pod.api.http, client="Tempus")
    tempus.ok("reportPlayback", mediaId=ep["id"], mediaType="podcast", positionMs="1500", state="playing")
    live = {e["playerName"]: e for e in pod.api.ok("getNowPlaying")["nowPlaying"]["entry"]}
    assert live["Tempus"]["id"] == ep["id"] and live["Tempus"]["state"] == "playing"
    assert live["Tempus"]["positionMs"] >= 1500
    pod.api.fail("reportPlayback", 70, mediaId=ep["id"], mediaType="song", positionMs="0", state="playing")
    pod.api.fail("reportPlayback", 70, mediaId="tr-1", mediaType="podcast", positionMs="0", state="playing")
    pod.api.fail("reportPlayback", 70, mediaId="pe-zzzzzz", mediaType="podcast", positionMs="0",
                 state="playing")
    tempus.ok("reportPlayback", mediaId=ep["id"], mediaType="podcast", positionMs="6000", state="stopped")
    live_now = pod.api.ok("getNowPlaying")["nowPlaying"].get("entry", [])
    assert "Tempus" not in {e.get("playerName") for e in live_now}
    # deleting the channel ends its now-playing entries and play history
    pod.write("deletePodcastChannel", id=pod.channels()[0]["id"])
    assert pod.api.ok("getNowPlaying")["nowPlaying"].get("entry", []) == []
    assert q(pod.url, "SELECT count(*) FROM podcast_play_history") == [(0,)]
