"""RedisLock against a real redis-server: exclusion, expiry, renewal, and token-checked release."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator

import pytest
import redis

from bus import LockNotAcquired, RedisLock

pytestmark = pytest.mark.integration

REDIS_URL = "redis://127.0.0.1:6379/0"


@pytest.fixture
def client() -> Iterator[redis.Redis]:
    with redis.Redis.from_url(REDIS_URL) as conn:
        yield conn


@pytest.fixture
def key(client: redis.Redis) -> Iterator[str]:
    name = f"triage:test-lock:{uuid.uuid4().hex}"
    yield name
    client.delete(name)


def test_second_holder_waits_until_the_first_releases(client: redis.Redis, key: str) -> None:
    first, second = RedisLock(client, key), RedisLock(client, key)
    assert first.acquire(wait_s=0)
    assert not second.acquire(wait_s=0.2)
    assert second.holder() == first.token
    assert first.release()
    assert second.acquire(wait_s=0)
    assert second.held
    assert not first.held
    assert second.release()
    assert client.get(key) is None


def test_a_stale_holder_cannot_release_or_renew_the_new_holders_lock(
    client: redis.Redis, key: str
) -> None:
    """The case a plain DEL gets wrong: the old holder stalled past its TTL."""
    stale = RedisLock(client, key, ttl_ms=150, keep_alive=False)
    assert stale.acquire(wait_s=0)
    time.sleep(0.3)  # expired while "stalled"
    fresh = RedisLock(client, key, ttl_ms=5_000, keep_alive=False)
    assert fresh.acquire(wait_s=0)

    assert not stale.renew()
    assert not stale.held
    assert not stale.release()
    assert fresh.holder() == fresh.token
    assert client.pttl(key) > 4_000  # stale.renew did not touch the new holder's expiry
    assert fresh.release()


def test_a_dead_holder_frees_the_lock_after_its_ttl(client: redis.Redis, key: str) -> None:
    dead = RedisLock(client, key, ttl_ms=200, keep_alive=False)
    assert dead.acquire(wait_s=0)  # never released: the process "died"
    waiter = RedisLock(client, key)
    started = time.monotonic()
    assert waiter.acquire(wait_s=5)
    assert 0.05 < time.monotonic() - started < 2
    waiter.release()


def test_keep_alive_holds_the_lock_well_past_its_ttl(client: redis.Redis, key: str) -> None:
    holder = RedisLock(client, key, ttl_ms=300)
    other = RedisLock(client, key)
    assert holder.acquire(wait_s=0)
    assert not other.acquire(wait_s=1.2)  # four TTLs
    assert holder.held
    assert holder.release()
    assert other.acquire(wait_s=0)
    other.release()


def test_renew_extends_the_expiry(client: redis.Redis, key: str) -> None:
    lock = RedisLock(client, key, ttl_ms=1_000, keep_alive=False)
    assert lock.acquire(wait_s=0)
    time.sleep(0.4)
    assert client.pttl(key) < 700
    assert lock.renew()
    assert client.pttl(key) > 900
    lock.release()


def test_context_manager_names_the_holder_when_it_gives_up(client: redis.Redis, key: str) -> None:
    with RedisLock(client, key) as held:
        with pytest.raises(LockNotAcquired) as caught, RedisLock(client, key, wait_s=0.1):
            pass  # pragma: no cover
        assert held.token in str(caught.value)
        assert "one replica" in str(caught.value)
    assert client.get(key) is None


def test_too_short_a_ttl_is_refused(client: redis.Redis, key: str) -> None:
    with pytest.raises(ValueError, match="ttl_ms=10"):
        RedisLock(client, key, ttl_ms=10)


def test_contending_threads_never_overlap(client: redis.Redis, key: str) -> None:
    """A read-modify-write under the lock: any overlap would lose an increment."""
    counter = f"{key}:counter"
    rounds, threads = 10, 4
    errors: list[BaseException] = []

    def work() -> None:
        try:
            with redis.Redis.from_url(REDIS_URL) as conn:
                for _ in range(rounds):
                    with RedisLock(conn, key, retry_s=0.005):
                        value = int(conn.get(counter) or 0)
                        time.sleep(0.002)
                        conn.set(counter, value + 1)
        except BaseException as exc:  # surfaced below, not lost in the thread
            errors.append(exc)

    pool = [threading.Thread(target=work) for _ in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join(timeout=60)
    try:
        assert not errors, errors
        assert int(client.get(counter) or 0) == rounds * threads
    finally:
        client.delete(counter)
