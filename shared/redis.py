"""One Redis client factory."""

from redis.asyncio import Redis


def run_model_progress_key(run_id: str) -> str:
    """Where the ai-runtime says how a run's call to the embedded model stands (JSON, expiring); the orchestrator
    relays it on the run's event stream."""
    return f"cognitionos:run-model-progress:{run_id}"


def create_redis(url: str) -> Redis:
    return Redis.from_url(
        url, decode_responses=True, socket_connect_timeout=2, socket_timeout=2, health_check_interval=30
    )


async def redis_is_ready(redis: Redis) -> bool:
    try:
        return bool(await redis.ping())
    except Exception:
        return False
