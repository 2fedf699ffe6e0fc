"""One Redis client factory."""

from typing import Any

import hiredis
from redis.asyncio import Redis
from redis.asyncio.connection import AbstractConnection, Connection, SSLConnection, UnixDomainSocketConnection
from redis.exceptions import DataError


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
    """Commands packed by hiredis's C packer, as redis-py's own synchronous client packs them when hiredis is
    installed; its asyncio connections pack in Python, one encoder call per argument (the gateway's rate-limit
    call has a dozen). The same bytes either way."""

    def pack_command(self, *args: Any) -> list[bytes]:
        if isinstance(args[0], str):  # a command of two words ("CONFIG GET") is sent as two arguments
            args = (*args[0].encode().split(), *args[1:])
        elif b" " in args[0]:
            args = (*args[0].split(), *args[1:])
        try:
            return [hiredis.pack_command(args)]
        except TypeError as exc:
            raise DataError(str(exc)) from exc


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
