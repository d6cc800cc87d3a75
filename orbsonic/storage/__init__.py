"""Where media bytes live: the `Storage` protocol and its local-folder implementation.

Every byte path (stream, download, covers, cached transcodes) opens files through a
Storage, so that the rules — stay inside the music folder, a regular file only — hold in
one place (docs/architecture.md, "file access").
"""

from orbsonic.storage.base import ObjectInfo, Storage, StoredFile
from orbsonic.storage.local import LocalStorage, folder_storage

__all__ = ["LocalStorage", "ObjectInfo", "Storage", "StoredFile", "folder_storage"]
