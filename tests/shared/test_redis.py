"""The services' Redis client: redis-py's asyncio client, its commands packed by hiredis."""

import asyncio

import pytest
from redis.asyncio.connection import Connection
from redis.exceptions import DataError
from redis.typing import EncodableT

from shared.redis import (
    HiredisConnection,
    HiredisSSLConnection,
    HiredisUnixDomainSocketConnection,
    create_redis,
)

ARGUMENTS = [
    ("EVALSHA", "0" * 40, 3, "auth:revoked-session:s", b"rl:ip:127.0.0.1", "rl:user:é", b"1", 1666.6666666666667),
    ("CONFIG GET", "maxmemory"),
    (b"SET", "key", -7, 10**20, 1 / 3, memoryview(b"raw bytes"), ""),
    ("SET", "key", bytearray(b"mutable bytes")),
    ("SET", "key", memoryview(b"a view")),
]


@pytest.mark.parametrize("args", ARGUMENTS)
def test_commands_are_packed_into_the_bytes_redis_py_would_send(args: tuple[EncodableT, ...]) -> None:
    python_packed = b"".join(bytes(chunk) for chunk in Connection().pack_command(*args))
    assert b"".join(HiredisConnection().pack_command(*args)) == python_packed


@pytest.mark.parametrize("value", [True, None, [1]])
def test_a_value_redis_cannot_take_is_refused_as_redis_py_refuses_it(value: object) -> None:
    with pytest.raises(DataError):
        HiredisConnection().pack_command("SET", "key", value)


@pytest.mark.parametrize(
    ("url", "connection_class"),
    [
        ("redis://127.0.0.1:6379/0", HiredisConnection),
        ("rediss://127.0.0.1:6380/0", HiredisSSLConnection),
        ("unix:///run/redis.sock", HiredisUnixDomainSocketConnection),
    ],
)
def test_every_scheme_keeps_its_own_connection_kind(url: str, connection_class: type) -> None:
    assert create_redis(url).connection_pool.connection_class is connection_class


def test_commands_and_pipelines_reach_a_real_redis(redis_url: str) -> None:
    async def exercise() -> list[object]:
        client = create_redis(redis_url)
        try:
            await client.set("test-redis:text", "é")
            async with client.pipeline(transaction=True) as pipeline:
                pipeline.get("test-redis:text")
                pipeline.set("test-redis:number", 1.5)
                pipeline.incrbyfloat("test-redis:number", 0.25)
                replies: list[object] = await pipeline.execute()
            return [*replies, await client.config_get("maxmemory")]
        finally:
            await client.aclose()

    text, stored, number, config = asyncio.run(exercise())
    assert (text, stored, number) == ("é", True, 1.75)
    assert isinstance(config, dict) and "maxmemory" in config
