"""One Redis client factory."""

import contextlib
from typing import Any

import hiredis
from redis.asyncio import Redis
from redis.asyncio.connection import AbstractConnection, Connection, SSLConnection, UnixDomainSocketConnection
from redis.connection import HiredisRespSerializer


def run_model_progress_key(run_id: str) -> str:
    """Where the ai-runtime says how a run's call to the embedded model stands (JSON, expiring); the orchestrator
    relays it on the run's event stream."""
    return f"cognitionos:run-model-progress:{run_id}"


def create_redis(url: str) -> Redis:
    client = Redis.from_url(
        url, decode_responses=True, socket_connect_timeout=2, socket_timeout=2, health_check_interval=30
    )
    pool = client.connection_pool
    pool.connection_class = HIREDIS_PACKING.get(pool.connection_class, pool.connection_class)
    return client


class HiredisPacking(AbstractConnection):
    """Commands packed by hiredis's C packer, by the serializer redis-py's own synchronous client uses when hiredis
    is installed; its asyncio connections pack in Python, one encoder call per argument (the gateway's rate-limit
    call has a dozen). The same bytes either way."""

    _packer = HiredisRespSerializer()

    def pack_command(self, *args: Any) -> list[bytes]:
        # Nearly every command: a one-word name and arguments hiredis takes as they are, packed at once (the
        # serializer's per-argument pass costs a third of what packing in C saves). Anything else (a two-word
        # command, a bytearray to convert, a value to refuse with DataError) takes the serializer's whole path.
        if isinstance(args[0], str) and " " not in args[0]:
            with contextlib.suppress(TypeError):
                return [hiredis.pack_command(args)]
        return self._packer.pack(*args)


class HiredisConnection(HiredisPacking, Connection):
    pass


class HiredisSSLConnection(HiredisPacking, SSLConnection):
    pass


class HiredisUnixDomainSocketConnection(HiredisPacking, UnixDomainSocketConnection):
    pass


# By the class redis-py picked for the URL's scheme.
HIREDIS_PACKING: dict[type[AbstractConnection], type[AbstractConnection]] = {
    Connection: HiredisConnection,
    SSLConnection: HiredisSSLConnection,
    UnixDomainSocketConnection: HiredisUnixDomainSocketConnection,
}


async def redis_is_ready(redis: Redis) -> bool:
    try:
        return bool(await redis.ping())
    except Exception:
        return False
