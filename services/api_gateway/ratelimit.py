"""Token-bucket rate limiting in Redis: one atomic Lua call checks every bucket of a request."""

import functools
import hashlib
import math
from collections.abc import Mapping
from dataclasses import dataclass

from redis.asyncio import Redis
from redis.exceptions import NoScriptError

# KEYS: first ARGV[1] deny flags (a revoked session, say), then ARGV[2] held keys, then the bucket keys.
# ARGV: the number of deny flags, the number of held keys, the value each held key must still have, then capacity
# and refill-per-ms for each bucket in turn.
# Returns {allowed (1, 0, -1 when a deny flag is set, -2 when a held key changed), tokens remaining, retry-after ms}.
# A held key is an entry the gateway relies on from its own memory (an API key's cached identity): unchanged in
# Redis, the memory is still right; deleted or rewritten (the key revoked or edited), it is not. Nothing is consumed
# on -1 or -2. Redis server time keeps several gateway replicas consistent. A request is admitted only if every
# bucket has a token, and then takes one from each. Checking the flags and held keys here saves round trips.
TOKEN_BUCKET_LUA = """
local flags = tonumber(ARGV[1])
local held = tonumber(ARGV[2])
for i = 1, flags do
  if redis.call('EXISTS', KEYS[i]) == 1 then return {-1, 0, 0} end
end
for i = 1, held do
  if redis.call('GET', KEYS[flags + i]) ~= ARGV[2 + i] then return {-2, 0, 0} end
end
local first = flags + held + 1
local base = 2 + held - 2 * first
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local allowed = 1
local retry_ms = 0
local levels = {}
for i = first, #KEYS do
  local capacity = tonumber(ARGV[base + 2 * i + 1])
  local rate = tonumber(ARGV[base + 2 * i + 2])
  local state = redis.call('HMGET', KEYS[i], 'tokens', 'ts')
  local tokens = tonumber(state[1]) or capacity
  local ts = tonumber(state[2]) or now
  tokens = math.min(capacity, tokens + math.max(0, now - ts) * rate)
  if tokens < 1 then
    allowed = 0
    retry_ms = math.max(retry_ms, math.ceil((1 - tokens) / rate))
  end
  levels[i] = tokens
end
local remaining = -1
for i = first, #KEYS do
  local capacity = tonumber(ARGV[base + 2 * i + 1])
  local rate = tonumber(ARGV[base + 2 * i + 2])
  local tokens = levels[i]
  if allowed == 1 then tokens = tokens - 1 end
  redis.call('HSET', KEYS[i], 'tokens', tostring(tokens), 'ts', now)
  redis.call('PEXPIRE', KEYS[i], math.ceil(capacity / rate) + 1000)
  local left = math.floor(tokens)
  if remaining < 0 or left < remaining then remaining = left end
end
return {allowed, remaining, retry_ms}
"""


@dataclass(frozen=True, slots=True)
class Bucket:
    key: str
    capacity: int
    per_minute: int

    @property
    def script_args(self) -> tuple[bytes, bytes]:
        """Capacity and refill per ms, as the script reads them."""
        return _script_args(self.capacity, self.per_minute)


@functools.lru_cache(maxsize=1024)
def _script_args(capacity: int, per_minute: int) -> tuple[bytes, bytes]:
    # Encoded once per setting (there are a few): redis-py's encoder would type-check and format each number anew.
    return str(capacity).encode(), repr(per_minute / 60_000).encode()


@dataclass(frozen=True, slots=True, kw_only=True)
class RateLimitDecision:
    allowed: bool
    limit: int
    remaining: int
    retry_after_seconds: int

    def headers(self) -> dict[str, str]:
        headers = {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(max(self.remaining, 0)),
            "X-RateLimit-Reset": str(self.retry_after_seconds),
        }
        if not self.allowed:
            headers["Retry-After"] = str(self.retry_after_seconds)
        return headers


class RateLimiter:
    def __init__(self, redis: Redis) -> None:
        self._redis = redis
        self._sha = hashlib.sha1(TOKEN_BUCKET_LUA.encode(), usedforsecurity=False).hexdigest()

    async def check(
        self, buckets: list[Bucket], deny_flags: list[str] | None = None, held: Mapping[str, str] | None = None
    ) -> RateLimitDecision | None:
        """None when a deny flag is set, HeldKeyChanged when a held key no longer has its value (nothing consumed
        either way); otherwise the decision over every bucket."""
        flags, kept = deny_flags or [], held or {}
        args: list[bytes | str] = [str(len(flags)).encode(), str(len(kept)).encode(), *kept.values()]
        for bucket in buckets:
            args += bucket.script_args
        keys = [*flags, *kept, *(b.key for b in buckets)]
        allowed, remaining, retry_ms = await self._evaluate(keys, args)
        if allowed == -1:
            return None
        if allowed == -2:
            raise HeldKeyChanged
        return RateLimitDecision(
            allowed=bool(allowed),
            limit=min((b.capacity for b in buckets), default=0),
            remaining=int(remaining),
            retry_after_seconds=max(1, math.ceil(int(retry_ms) / 1000)) if not allowed else 0,
        )

    async def _evaluate(self, keys: list[str], args: list[bytes | str]) -> list[int]:
        """The script by its hash, loaded first where the server lacks it (restarted, or SCRIPT FLUSH). redis-py's
        Script object does the same, with more steps per call than the gateway spends on the rest of the limit."""
        try:
            return list(await self._redis.execute_command("EVALSHA", self._sha, len(keys), *keys, *args))
        except NoScriptError:
            self._sha = await self._redis.script_load(TOKEN_BUCKET_LUA)
            return list(await self._redis.execute_command("EVALSHA", self._sha, len(keys), *keys, *args))


class HeldKeyChanged(Exception):
    """A Redis entry the gateway held in memory was deleted or rewritten since: look the caller up again."""
