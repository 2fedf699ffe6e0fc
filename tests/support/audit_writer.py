"""Writes audit events as fast as it can, in a process of its own: `python -m tests.support.audit_writer URL COUNT`
(8 transactions at once, one event each), so that two such processes extend one chain together."""

import asyncio
import sys
import uuid

from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

from shared import audit
from shared.identity import Identity

ACTOR = Identity(user_id=str(uuid.uuid4()), username="writer", role="admin", auth_method="jwt")


async def write(url: str, count: int, concurrency: int = 8) -> None:
    engine = create_async_engine(url, pool_size=concurrency)
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    queue = list(range(count))

    async def worker() -> None:
        while queue:
            n = queue.pop()
            async with sessions() as session:
                await audit.record(
                    session, ACTOR, "test.written", target_type="test", target_id=str(n), details={"n": n}
                )
                await session.commit()

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    await engine.dispose()


if __name__ == "__main__":
    asyncio.run(write(sys.argv[1], int(sys.argv[2])))
