"""Budgets: reserve the worst-case cost before a call, settle the real cost after.

Counters live in Redis (one hash per scope and period, in micro-dollars and tokens) and a Lua script checks
and reserves every applicable limit atomically, so concurrent calls cannot overspend. A missing counter
(new period, or Redis was flushed) is seeded from the llm_usage ledger before use.
"""

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from redis.asyncio import Redis

MICROS = Decimal(1_000_000)

# KEYS: counter hashes. ARGV: per key (usd_limit_micros or -1, token_limit or -1, ttl_seconds), then cost, tokens.
RESERVE_LUA = """
local n = #KEYS
local cost = tonumber(ARGV[3 * n + 1])
local tokens = tonumber(ARGV[3 * n + 2])
for i, key in ipairs(KEYS) do
  local usd_limit = tonumber(ARGV[3 * i - 2])
  local token_limit = tonumber(ARGV[3 * i - 1])
  local state = redis.call('HMGET', key, 'spent', 'reserved', 'tokens', 'reserved_tokens')
  local spent = tonumber(state[1]) or 0
  local reserved = tonumber(state[2]) or 0
  local used_tokens = tonumber(state[3]) or 0
  local reserved_tokens = tonumber(state[4]) or 0
  if usd_limit >= 0 and spent + reserved + cost > usd_limit then
    return {0, i, 'usd', spent + reserved, usd_limit}
  end
  if token_limit >= 0 and used_tokens + reserved_tokens + tokens > token_limit then
    return {0, i, 'tokens', used_tokens + reserved_tokens, token_limit}
  end
end
for i, key in ipairs(KEYS) do
  redis.call('HINCRBY', key, 'reserved', cost)
  redis.call('HINCRBY', key, 'reserved_tokens', tokens)
  redis.call('EXPIRE', key, tonumber(ARGV[3 * i]))
end
return {1, 0, '', 0, 0}
"""

# Move a reservation to spent: KEYS as above; ARGV: minus the reserved cost, minus the reserved tokens,
# actual cost, actual tokens (integers, signs applied by the caller).
SETTLE_LUA = """
for _, key in ipairs(KEYS) do
  redis.call('HINCRBY', key, 'reserved', ARGV[1])
  redis.call('HINCRBY', key, 'reserved_tokens', ARGV[2])
  redis.call('HINCRBY', key, 'spent', tonumber(ARGV[3]))
  redis.call('HINCRBY', key, 'tokens', tonumber(ARGV[4]))
end
return 1
"""


@dataclass(frozen=True, slots=True, kw_only=True)
class Limit:
    """One counter with its limits, e.g. user X today."""

    key: str
    scope: str
    scope_id: str
    period: str  # "day", "month" or "total"
    since: datetime | None
    usd: Decimal | None
    tokens: int | None
    ttl_seconds: int


@dataclass(frozen=True, slots=True)
class Reservation:
    limits: tuple[Limit, ...]
    cost_micros: int
    tokens: int


@dataclass(frozen=True, slots=True, kw_only=True)
class BudgetExceeded(Exception):
    limit: Limit
    kind: str  # "usd" or "tokens"
    used: Decimal
    allowed: Decimal

    def describe(self) -> dict[str, object]:
        scale = MICROS if self.kind == "usd" else Decimal(1)
        return {
            "scope": self.limit.scope,
            "scope_id": self.limit.scope_id,
            "period": self.limit.period,
            "kind": self.kind,
            "used": str((self.used / scale).normalize()),
            "limit": str((self.allowed / scale).normalize()),
        }


def to_micros(usd: Decimal) -> int:
    return int((usd * MICROS).to_integral_value(rounding="ROUND_CEILING"))


def period_limits(
    *,
    scope: str,
    scope_id: str,
    daily: tuple[Decimal | None, int | None],
    monthly: tuple[Decimal | None, int | None],
    total: tuple[Decimal | None, int | None],
    now: datetime | None = None,
) -> list[Limit]:
    now = now or datetime.now(UTC)
    day_start = now.replace(hour=0, minute=0, second=0, microsecond=0)
    month_start = day_start.replace(day=1)
    periods = (
        ("day", f"d:{day_start:%Y-%m-%d}", day_start, daily, 2 * 86400),
        ("month", f"m:{month_start:%Y-%m}", month_start, monthly, 32 * 86400),
        ("total", "total", None, total, 90 * 86400),
    )
    limits = []
    for period, key_suffix, since, (usd, tokens), ttl_seconds in periods:
        if usd is None and tokens is None:
            continue
        limits.append(
            Limit(
                key=f"budget:{scope}:{scope_id}:{key_suffix}",
                scope=scope,
                scope_id=scope_id,
                period=period,
                since=since,
                usd=usd,
                tokens=tokens,
                ttl_seconds=ttl_seconds,
            )
        )
    return limits


class BudgetCounters:
    def __init__(self, redis: Redis) -> None:
        self.redis = redis
        self._reserve = redis.register_script(RESERVE_LUA)
        self._settle = redis.register_script(SETTLE_LUA)

    async def missing(self, limits: list[Limit]) -> list[Limit]:
        async with self.redis.pipeline(transaction=False) as pipeline:
            for limit in limits:
                pipeline.exists(limit.key)
            present = await pipeline.execute()
        return [limit for limit, exists in zip(limits, present, strict=True) if not exists]

    async def seed(self, limit: Limit, spent_usd: Decimal, tokens: int) -> None:
        """Start a counter from the ledger; HSETNX keeps whatever a concurrent call already wrote."""
        await self.redis.hsetnx(limit.key, "spent", to_micros(spent_usd))
        await self.redis.hsetnx(limit.key, "tokens", tokens)
        await self.redis.expire(limit.key, limit.ttl_seconds)

    async def reserve(self, limits: list[Limit], cost: Decimal, tokens: int) -> Reservation:
        if not limits:
            return Reservation((), 0, 0)
        cost_micros = to_micros(cost)
        args: list[int] = []
        for limit in limits:
            args += [
                to_micros(limit.usd) if limit.usd is not None else -1,
                limit.tokens if limit.tokens is not None else -1,
                limit.ttl_seconds,
            ]
        ok, index, kind, used, allowed = await self._reserve(
            keys=[limit.key for limit in limits], args=[*args, cost_micros, tokens]
        )
        if not ok:
            raise BudgetExceeded(
                limit=limits[int(index) - 1],
                kind=kind.decode() if isinstance(kind, bytes) else kind,
                used=Decimal(used),
                allowed=Decimal(allowed),
            )
        return Reservation(tuple(limits), cost_micros, tokens)

    async def settle(self, reservation: Reservation, cost: Decimal, tokens: int) -> None:
        if not reservation.limits:
            return
        await self._settle(
            keys=[limit.key for limit in reservation.limits],
            args=[-reservation.cost_micros, -reservation.tokens, to_micros(cost), tokens],
        )

    async def usage(self, limit: Limit) -> tuple[Decimal, int, Decimal, int]:
        state = await self.redis.hmget(limit.key, "spent", "tokens", "reserved", "reserved_tokens")
        spent, tokens, reserved, reserved_tokens = (int(v or 0) for v in state)
        return Decimal(spent) / MICROS, tokens, Decimal(reserved) / MICROS, reserved_tokens
