"""Podcasts outside the request path: fetching feeds, images and episodes over HTTP
(`fetch`), reading feeds (`feed`), and the jobs that refresh channels and download episodes
(`tasks`). The rows and queries are in orbsonic/library/podcasts.py; the Subsonic endpoints
in subsonic_api/endpoints/podcasts.py."""
