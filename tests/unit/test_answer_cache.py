"""subsonic_api.answers.AnswerCache on its own (no LISTEN channel): the LRU bound in bytes,
one user's invalidation, and stores voided by an invalidation that came in meanwhile."""

from __future__ import annotations

from subsonic_api.answers import ENTRY_OVERHEAD, Answer, AnswerCache, answer_key, etag_of


def _answer(size: int) -> Answer:
    body = b"x" * size
    return Answer(body, "application/json", etag_of(body))


def _key(user: int, n: int) -> tuple[object, ...]:
    return answer_key("getAlbum", user, None, [("id", f"al-{n}"), ("u", "ignored")])


def test_the_bound_is_in_bytes_and_drops_the_least_recently_used() -> None:
    cost = 1000 + ENTRY_OVERHEAD
    cache = AnswerCache(None, max_bytes=cost * 4)
    for n in range(4):
        cache.store(_key(1, n), _answer(1000), cache.generation(1))
    assert cache.bytes == 4 * cost
    assert cache.lookup(_key(1, 0)) is not None  # now the most recently used
    cache.store(_key(1, 4), _answer(1000), cache.generation(1))
    assert cache.bytes == 4 * cost
    assert cache.lookup(_key(1, 1)) is None  # the least recently used went
    assert all(cache.lookup(_key(1, n)) is not None for n in (0, 2, 3, 4))
    cache.store(_key(1, 5), _answer(cost * 2), cache.generation(1))  # over a quarter: not kept
    assert cache.lookup(_key(1, 5)) is None and cache.bytes == 4 * cost
    cache.store(_key(1, 0), _answer(10), cache.generation(1))  # replaced, not counted twice
    assert cache.bytes == 3 * cost + 10 + ENTRY_OVERHEAD


def test_credentials_are_not_part_of_the_key() -> None:
    assert _key(1, 0) == answer_key("getAlbum", 1, None, [("id", "al-0"), ("u", "other"), ("t", "x")])


def test_forget_user_drops_only_that_user_and_voids_their_store_in_flight() -> None:
    cache = AnswerCache(None)
    cache.store(_key(1, 0), _answer(10), cache.generation(1))
    cache.store(_key(2, 0), _answer(10), cache.generation(2))
    building_1, building_2 = cache.generation(1), cache.generation(2)
    cache.forget_user(1)
    assert cache.lookup(_key(1, 0)) is None and cache.lookup(_key(2, 0)) is not None
    cache.store(_key(1, 1), _answer(10), building_1)  # built before the change: dropped
    cache.store(_key(2, 1), _answer(10), building_2)  # another user's: kept
    assert cache.lookup(_key(1, 1)) is None and cache.lookup(_key(2, 1)) is not None
    assert cache.bytes == 2 * (10 + ENTRY_OVERHEAD)
