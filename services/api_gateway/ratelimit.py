"""Token-bucket rate limiting in Redis: one atomic Lua call checks every bucket of a request."""

import math
from dataclasses import dataclass

from redis.asyncio import Redis

# KEYS: bucket keys. ARGV: capacity, refill-per-ms for each key in turn.
# Redis server time keeps several gateway replicas consistent. A request is admitted only if every
# bucket has a token, and then takes one from each.
TOKEN_BUCKET_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local allowed = 1
local retry_ms = 0
local levels = {}
for i, key in ipairs(KEYS) do
  local capacity = tonumber(ARGV[2 * i - 1])
  local rate = tonumber(ARGV[2 * i])
  local state = redis.call('HMGET', key, 'tokens', 'ts')
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
for i, key in ipairs(KEYS) do
  local capacity = tonumber(ARGV[2 * i - 1])
  local rate = tonumber(ARGV[2 * i])
  local tokens = levels[i]
  if allowed == 1 then tokens = tokens - 1 end
  redis.call('HSET', key, 'tokens', tostring(tokens), 'ts', now)
  redis.call('PEXPIRE', key, math.ceil(capacity / rate) + 1000)
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
    def refill_per_ms(self) -> float:
        return self.per_minute / 60_000


@dataclass(frozen=True, slots=True)
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
        self._script = redis.register_script(TOKEN_BUCKET_LUA)

    async def check(self, buckets: list[Bucket]) -> RateLimitDecision:
        args: list[float] = []
        for bucket in buckets:
            args += [bucket.capacity, bucket.refill_per_ms]
        allowed, remaining, retry_ms = await self._script(keys=[b.key for b in buckets], args=args)
        return RateLimitDecision(
            allowed=bool(allowed),
            limit=min(b.capacity for b in buckets),
            remaining=int(remaining),
            retry_after_seconds=max(1, math.ceil(int(retry_ms) / 1000)) if not allowed else 0,
        )
