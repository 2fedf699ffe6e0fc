"""Exact-match response cache in Redis for deterministic calls."""

import contextlib
import hashlib
import json
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError


def cache_key(
    *,
    namespace: str,
    model_chain: list[str],
    messages: list[dict[str, str]],
    max_tokens: int,
    temperature: float,
    response_format: dict[str, Any] | None,
) -> str:
    material = json.dumps(
        [namespace, model_chain, messages, max_tokens, temperature, response_format],
        sort_keys=True,
        separators=(",", ":"),
    )
    return "ai:cache:" + hashlib.sha256(material.encode()).hexdigest()


class ResponseCache:
    def __init__(self, redis: Redis, ttl_seconds: int) -> None:
        self.redis = redis
        self.ttl_seconds = ttl_seconds

    async def get(self, key: str) -> dict[str, Any] | None:
        try:
            raw = await self.redis.get(key)
        except RedisError:
            return None
        return json.loads(raw) if raw else None

    async def put(self, key: str, value: dict[str, Any]) -> None:
        with contextlib.suppress(RedisError):
            await self.redis.set(key, json.dumps(value), ex=self.ttl_seconds)
