"""One Redis client factory."""

from redis.asyncio import Redis


def create_redis(url: str) -> Redis:
    return Redis.from_url(
        url, decode_responses=True, socket_connect_timeout=2, socket_timeout=2, health_check_interval=30
    )


async def redis_is_ready(redis: Redis) -> bool:
    try:
        return bool(await redis.ping())
    except Exception:
        return False
