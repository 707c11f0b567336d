"""A redis lock with an owner token: one holder at a time across processes and hosts.

Why redis and not a single-partition topic: the learner already needs redis for the model
pointer, and a lock says "someone else is doing this" at once, where a topic partition only
moves the race to whoever consumes first. Why a token: a holder that stalled past the TTL (a
long GC pause, a frozen VM) must not delete or extend the lock a newer holder now owns, so
release and renew compare the token and act in one Lua script, atomically.

The TTL bounds how long a crashed holder blocks the others; a live holder keeps the lock by
renewing it (``keep_alive``: a daemon thread every TTL/3). A holder that finds its lock gone
(``held`` turned False) must not act as the owner any more: it lost the race to a TTL expiry.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from types import TracebackType

import redis

from bus.exceptions import BusError

log = logging.getLogger(__name__)

#: Deletes the key only while it still holds our token.
_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then
    return redis.call('del', KEYS[1])
end
return 0
"""

#: Extends the key's TTL only while it still holds our token.
_RENEW = """
if redis.call('get', KEYS[1]) == ARGV[1] then
    return redis.call('pexpire', KEYS[1], ARGV[2])
end
return 0
"""


class LockNotAcquired(BusError):
    """Another holder kept the lock for as long as this caller was willing to wait."""


def owner_token() -> str:
    """Names the holder (host, pid) so an operator can tell who holds a lock, plus a random
    part so two locks in one process never share a token."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex}"


class RedisLock:
    """``SET key token NX PX ttl``; renewed and released only by the token's owner.

    Usable as a context manager, which waits up to ``wait_s`` and raises
    :class:`LockNotAcquired` naming the current holder when it cannot get the lock.
    """

    def __init__(
        self,
        client: redis.Redis,
        key: str,
        *,
        ttl_ms: int = 30_000,
        wait_s: float = 60.0,
        retry_s: float = 0.05,
        keep_alive: bool = True,
    ) -> None:
        if ttl_ms < 100:
            raise ValueError(f"ttl_ms={ttl_ms} is too short to renew in time; use >= 100")
        self.client = client
        self.key = key
        self.ttl_ms = ttl_ms
        self.wait_s = wait_s
        self.retry_s = retry_s
        self.keep_alive = keep_alive
        self.token = owner_token()
        self._held = False
        self._release = client.register_script(_RELEASE)
        self._renew = client.register_script(_RENEW)
        self._stop = threading.Event()
        self._renewer: threading.Thread | None = None

    @property
    def held(self) -> bool:
        """True while this object owns the lock, as far as its last renew or acquire knows."""
        return self._held

    def holder(self) -> str | None:
        """The token of whoever holds the lock now (None: free)."""
        raw = self.client.get(self.key)
        return raw.decode() if isinstance(raw, bytes) else raw

    def acquire(self, *, wait_s: float | None = None) -> bool:
        """Take the lock, retrying for up to ``wait_s`` (0: one try); False if still held."""
        deadline = time.monotonic() + (self.wait_s if wait_s is None else wait_s)
        while True:
            if self.client.set(self.key, self.token, nx=True, px=self.ttl_ms):
                self._held = True
                self._start_renewer()
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(self.retry_s)

    def renew(self) -> bool:
        """Push the expiry out another TTL; False (and ``held`` False) if the lock was lost."""
        self._held = bool(self._renew(keys=[self.key], args=[self.token, self.ttl_ms]))
        return self._held

    def release(self) -> bool:
        """Give the lock up; False if it had already expired (or another holder owns it)."""
        self._stop_renewer()
        was_ours = bool(self._release(keys=[self.key], args=[self.token]))
        self._held = False
        return was_ours

    def __enter__(self) -> RedisLock:
        if not self.acquire():
            raise LockNotAcquired(
                f"lock {self.key} is still held by {self.holder() or 'nobody (just freed)'} "
                f"after {self.wait_s:g} s; another process is doing the same work. Run one "
                f"replica, or wait: a holder that died frees it within {self.ttl_ms / 1000:g} s"
            )
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if not self.release():
            log.error("lock %s had expired before release: another holder may have run", self.key)

    def _start_renewer(self) -> None:
        if not self.keep_alive:
            return
        self._stop.clear()
        self._renewer = threading.Thread(
            target=self._renew_loop, name=f"lock-renew:{self.key}", daemon=True
        )
        self._renewer.start()

    def _stop_renewer(self) -> None:
        self._stop.set()
        if self._renewer is not None and self._renewer is not threading.current_thread():
            self._renewer.join(timeout=self.ttl_ms / 1000)
        self._renewer = None

    def _renew_loop(self) -> None:
        """Renew every TTL/3, so two missed renewals still leave the lock ours."""
        while not self._stop.wait(self.ttl_ms / 3000):
            try:
                if not self.renew():
                    log.error("lock %s was lost (expired): stop acting as its owner", self.key)
                    return
            except redis.RedisError as exc:  # a blip: the next try may still be in time
                log.warning("renewing lock %s failed (%r); retrying", self.key, exc)
