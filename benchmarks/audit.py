"""Audited writes against the same writes unaudited, two processes writing at once (8 transactions each).

Each write is what creating an API key is: one INSERT into api_keys, committed. Audited, the same transaction also
appends its event to the audit log's hash chain (an advisory lock held to the commit, the last row read, one
INSERT). Both kinds run in the same run, plain first then audited, on the same database. Reported: writes per second
of both processes together, and their ratio; P50/P99 of one transaction.

    python -m benchmarks.audit [--writes 2000]
"""

import argparse
import asyncio
import json
import subprocess
import sys
import time
import uuid

import asyncpg
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

from benchmarks.common import backends, percentile
from benchmarks.orchestrator import insert_user
from database.models import ApiKey
from services.agent_orchestrator.events import asyncpg_dsn
from shared import audit
from shared.identity import Identity

CONCURRENCY = 8


async def worker(url: str, user_id: str, count: int, *, audited: bool) -> list[float]:
    """`count` writes, CONCURRENCY at a time; each one's milliseconds."""
    engine = create_async_engine(url, pool_size=CONCURRENCY)
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    actor = Identity(user_id=user_id, username="bench", role="admin", auth_method="jwt")
    remaining = list(range(count))
    took: list[float] = []

    async def write() -> None:
        while remaining:
            remaining.pop()
            started = time.perf_counter()
            async with sessions() as session:
                key = ApiKey(user_id=uuid.UUID(user_id), name="bench", prefix="cos_bench", key_hash=uuid.uuid4().hex)
                session.add(key)
                await session.flush()
                if audited:
                    details = {"name": "bench"}
                    await audit.record(
                        session, actor, "api_key.created", target_type="api_key", target_id=key.id, details=details
                    )
                await session.commit()
            took.append((time.perf_counter() - started) * 1000)

    await asyncio.gather(*(write() for _ in range(CONCURRENCY)))
    await engine.dispose()
    return took


def two_processes(url: str, user_id: str, writes: int, *, audited: bool) -> tuple[float, list[float]]:
    command = [sys.executable, "-m", "benchmarks.audit", "--worker", url, user_id, str(writes // 2)]
    started = time.perf_counter()
    processes = [
        subprocess.Popen([*command, "audited" if audited else "plain"], stdout=subprocess.PIPE) for _ in range(2)
    ]
    outputs = [p.communicate(timeout=600)[0] for p in processes]
    wall = time.perf_counter() - started
    return wall, [ms for out in outputs for ms in json.loads(out)]


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        url, actor_id, count, kind = sys.argv[2:6]
        print(json.dumps(asyncio.run(worker(url, actor_id, int(count), audited=kind == "audited"))))
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--writes", type=int, default=2000, help="writes of each kind, both processes together")
    args = parser.parse_args()
    with backends() as urls:
        user_id = uuid.uuid4()

        async def add_user() -> None:
            connection = await asyncpg.connect(asyncpg_dsn(urls["DATABASE_URL"]))
            try:
                await insert_user(connection, user_id)
            finally:
                await connection.close()

        asyncio.run(add_user())
        url = urls["DATABASE_URL"]
        two_processes(url, str(user_id), 200, audited=True)  # warm: connections, the chain's first rows
        plain_wall, plain = two_processes(url, str(user_id), args.writes, audited=False)
        audited_wall, audited = two_processes(url, str(user_id), args.writes, audited=True)

        async def chain() -> audit.Verification:
            engine = create_async_engine(url)
            async with async_sessionmaker(engine)() as session:
                result = await audit.verify(session)
            await engine.dispose()
            return result

        checked = asyncio.run(chain())
    plain_rate, audited_rate = len(plain) / plain_wall, len(audited) / audited_wall
    print(f"benchmark: {args.writes} API-key writes, 2 processes x {CONCURRENCY} transactions at once")
    print(
        f"   plain     {plain_rate:7.0f} writes/s  p50={percentile(plain, 50):6.1f} ms  "
        f"p99={percentile(plain, 99):6.1f} ms"
    )
    print(
        f"   audited   {audited_rate:7.0f} writes/s  p50={percentile(audited, 50):6.1f} ms  "
        f"p99={percentile(audited, 99):6.1f} ms"
    )
    print(f"   ratio audited / plain: throughput x{audited_rate / plain_rate:.2f}")
    print(f"   chain verified: {checked.ok}, {checked.checked} events")


if __name__ == "__main__":
    main()
