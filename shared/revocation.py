"""Redis keys the auth service writes and the gateway reads, so revocation needs no call to auth."""

from redis.asyncio import Redis


def revoked_session_key(session_id: str) -> str:
    return f"auth:revoked-session:{session_id}"


def api_key_cache_key(key_hash: str) -> str:
    return f"auth:api-key:{key_hash}"


async def mark_session_revoked(redis: Redis, session_id: str, ttl_seconds: int) -> None:
    """Access tokens of a revoked session stay rejected until they would have expired anyway."""
    await redis.set(revoked_session_key(session_id), "1", ex=max(ttl_seconds, 1))


async def is_session_revoked(redis: Redis, session_id: str) -> bool:
    return bool(await redis.exists(revoked_session_key(session_id)))


async def forget_api_key(redis: Redis, key_hash: str) -> None:
    await redis.delete(api_key_cache_key(key_hash))
