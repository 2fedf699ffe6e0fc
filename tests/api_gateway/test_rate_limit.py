"""Rate limits: atomic under concurrency, per user and per IP, with the standard headers."""

import asyncio

import httpx
import pytest
from redis.asyncio import Redis

from services.api_gateway.main import create_app as create_gateway
from services.api_gateway.ratelimit import Bucket, RateLimiter
from tests.support import assert_error, forget_ip_limit, serving
from tests.support.stack import Stack
from tests.support.users import RegisteredUser, register_and_login


async def _burst(url: str, headers: dict[str, str], count: int) -> list[httpx.Response]:
    async with httpx.AsyncClient(base_url=url, timeout=20) as client:
        return await asyncio.gather(*(client.get("/api/v1/memories/x", headers=headers) for _ in range(count)))


def test_user_limit_holds_under_concurrency(stack: Stack, user: RegisteredUser) -> None:
    settings = stack.gateway_settings(rate_limit_user_burst=5, rate_limit_user_per_minute=1)
    with serving(create_gateway(settings)) as gw:
        responses = asyncio.run(_burst(gw.url, user.headers, 30))
    statuses = sorted(r.status_code for r in responses)
    assert statuses.count(200) == 5 and statuses.count(429) == 25
    limited = next(r for r in responses if r.status_code == 429)
    assert_error(limited, 429, "rate_limited")
    assert int(limited.headers["retry-after"]) >= 1
    assert limited.headers["x-ratelimit-limit"] == "5" and limited.headers["x-ratelimit-remaining"] == "0"
    ok = next(r for r in responses if r.status_code == 200)
    assert ok.headers["x-ratelimit-limit"] == "5"


def test_limits_are_per_user(stack: Stack, gateway: httpx.Client, unique: str) -> None:
    settings = stack.gateway_settings(rate_limit_user_burst=2, rate_limit_user_per_minute=1)
    first, second = register_and_login(gateway, f"a{unique}"), register_and_login(gateway, f"b{unique}")
    with serving(create_gateway(settings)) as gw, httpx.Client(base_url=gw.url) as client:
        assert [client.get("/api/v1/memories/x", headers=first.headers).status_code for _ in range(3)] == [
            200,
            200,
            429,
        ]
        assert client.get("/api/v1/memories/x", headers=second.headers).status_code == 200


def test_ip_limit_covers_anonymous_requests(stack: Stack, redis_url: str) -> None:
    forget_ip_limit(redis_url)
    settings = stack.gateway_settings(rate_limit_ip_burst=3, rate_limit_ip_per_minute=1)
    try:
        with serving(create_gateway(settings)) as gw, httpx.Client(base_url=gw.url) as client:
            codes = [
                client.post("/api/v1/auth/login", json={"username": "nobody", "password": "x"}).status_code
                for _ in range(5)
            ]
        assert codes == [401, 401, 401, 429, 429]
    finally:
        forget_ip_limit(redis_url)


@pytest.mark.asyncio
async def test_bucket_refills_over_time(redis_url: str, unique: str) -> None:
    redis = Redis.from_url(redis_url)
    limiter = RateLimiter(redis)
    bucket = Bucket(f"rl:test:{unique}", capacity=2, per_minute=600)  # 10 per second

    async def allowed() -> bool:
        decision = await limiter.check([bucket])
        assert decision is not None
        return decision.allowed

    assert await allowed() and await allowed()
    denied = await limiter.check([bucket])
    assert denied is not None and not denied.allowed and denied.retry_after_seconds == 1
    await asyncio.sleep(0.25)  # the clock refills the bucket: a tenth of a second earns one request
    assert await allowed()
    await redis.aclose()


@pytest.mark.asyncio
async def test_the_limit_still_applies_after_redis_forgets_its_scripts(redis_url: str, unique: str) -> None:
    redis = Redis.from_url(redis_url)
    limiter = RateLimiter(redis)
    bucket = Bucket(f"rl:test:{unique}", capacity=1, per_minute=1)
    try:
        first = await limiter.check([bucket])
        await redis.script_flush()  # as after a Redis restart: the script is loaded again, not skipped
        second = await limiter.check([bucket])
        assert first is not None and first.allowed
        assert second is not None and not second.allowed
    finally:
        await redis.aclose()
