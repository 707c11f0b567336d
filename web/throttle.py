"""Sign-in throttling: too many wrong passwords for one user name, or from one address, lock it.

Counts live in redis so every web replica sees the same ones. An attempt is counted *before*
its password is checked, so a burst of parallel guesses cannot all slip in ahead of the count;
a right password then takes its attempt back. A lock lasts ``lockout_s`` or until an admin
lifts it (``triage web unlock``). Locking a name also locks it for its owner; that is the
price of stopping guessing, and why the lock is short and liftable.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import redis.asyncio as aioredis

from web.auth import text, token_digest

#: KEYS: lock:user, lock:addr, count:user, count:addr. ARGV: window_s, lockout_s, max_user,
#: max_addr, user label, addr label. Returns the milliseconds to wait (0: go ahead).
_ATTEMPT = """
local wait = math.max(redis.call('pttl', KEYS[1]), redis.call('pttl', KEYS[2]))
if wait > 0 then return wait end
local limits = {tonumber(ARGV[3]), tonumber(ARGV[4])}
local labels = {ARGV[5], ARGV[6]}
local locked = 0
for i = 1, 2 do
  local n = redis.call('incr', KEYS[i + 2])
  if n == 1 then redis.call('expire', KEYS[i + 2], ARGV[1]) end
  if n > limits[i] then
    redis.call('set', KEYS[i], labels[i], 'EX', ARGV[2])
    redis.call('del', KEYS[i + 2])
    locked = 1
  end
end
if locked == 1 then return tonumber(ARGV[2]) * 1000 end
return 0
"""

#: The address's count goes down only while it is positive and keeps its expiry.
_SUCCEEDED = """
redis.call('del', KEYS[1])
local n = tonumber(redis.call('get', KEYS[2]) or '0')
if n > 0 then redis.call('decr', KEYS[2]) end
return 0
"""

Kind = str  # "user" or "addr"


def _label(value: str) -> str:
    return value if len(value) <= 64 else value[:63] + "…"


@dataclass
class LoginThrottle:
    redis: aioredis.Redis | None  # set when the app starts (bound to its event loop)
    namespace: str
    max_failures: int
    max_failures_per_address: int
    window_s: int
    lockout_s: int

    def _key(self, what: str, kind: Kind, value: str) -> str:
        return f"triage:{self.namespace}web:login-{what}:{kind}:{token_digest(value)}"

    def _client(self) -> aioredis.Redis:
        assert self.redis is not None, "the app is not started"
        return self.redis

    async def attempt(self, user: str, address: str) -> int:
        """Counts one sign-in attempt; returns the seconds to wait if refused, else 0."""
        keys = [
            self._key("lock", "user", user),
            self._key("lock", "addr", address),
            self._key("count", "user", user),
            self._key("count", "addr", address),
        ]
        args = [self.window_s, self.lockout_s, self.max_failures, self.max_failures_per_address]
        wait_ms = await self._client().eval(
            _ATTEMPT, 4, *keys, *args, _label(user), _label(address)
        )
        return math.ceil(int(wait_ms) / 1000)

    async def succeeded(self, user: str, address: str) -> None:
        """A right password: the user's count restarts, the address gets its attempt back."""
        keys = [self._key("count", "user", user), self._key("count", "addr", address)]
        await self._client().eval(_SUCCEEDED, 2, *keys)

    async def unlock(self, kind: Kind, value: str) -> bool:
        """Lifts a lock and forgets the failures behind it; False if there was no lock."""
        redis = self._client()
        locked = await redis.delete(self._key("lock", kind, value))
        await redis.delete(self._key("count", kind, value))
        return bool(locked)

    async def locks(self) -> list[tuple[Kind, str, int]]:
        """(kind, user name or address, seconds left) of every current lock."""
        redis = self._client()
        found: list[tuple[Kind, str, int]] = []
        async for key in redis.scan_iter(match=f"triage:{self.namespace}web:login-lock:*"):
            label, ttl = await redis.get(key), await redis.ttl(key)
            if label is not None and ttl > 0:
                kind = text(key).rsplit(":", 2)[-2]
                found.append((kind, text(label), ttl))
        return sorted(found)
