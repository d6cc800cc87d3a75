"""Native route modules; importing this package registers them (native_api/v1.py mounts them).

Each module is one concept (auth, library, stream, playlists, queue, sync, realtime …) and
registers its handlers with `@route(...)`. Add a module's import here.
"""

from native_api.endpoints import apikeys  # noqa: F401
from native_api.endpoints import auth  # noqa: F401
from native_api.endpoints import library  # noqa: F401
from native_api.endpoints import stream  # noqa: F401
from native_api.endpoints import users  # noqa: F401
from native_api.endpoints import playlists  # noqa: F401
from native_api.endpoints import queue  # noqa: F401
from native_api.endpoints import upload  # noqa: F401
from native_api.endpoints import realtime, sync  # noqa: F401
from native_api.endpoints import scrobbling  # noqa: F401
