"""On-disk caches (covers, transcodes): the shared size-bounded store in disk.py."""
