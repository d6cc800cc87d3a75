"""Shared short-lived state and invalidation messages (docs/architecture.md, "shared state").

`base.KV` is the protocol; `memory.MemoryKV` serves one process, `valkey.ValkeyKV` several
when VALKEY_URL is set, and `pgnotify.PgChannel` carries invalidations between the workers
and replicas of one database through LISTEN/NOTIFY (transactional: a NOTIFY sent inside a
write's transaction is delivered on commit, never on rollback).
"""
