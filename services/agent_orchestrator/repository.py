"""SQL for agent definitions."""

import uuid

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from database.models import Agent


async def list_visible(session: AsyncSession, owner_id: uuid.UUID) -> list[Agent]:
    query = select(Agent).where(Agent.is_active.is_(True), or_(Agent.owner_id.is_(None), Agent.owner_id == owner_id)).order_by(Agent.name)
    return list((await session.execute(query)).scalars())


async def get_by_name(session: AsyncSession, name: str) -> Agent | None:
    return (await session.execute(select(Agent).where(Agent.name == name))).scalars().first()


async def add(session: AsyncSession, agent: Agent) -> Agent:
    session.add(agent)
    await session.commit()
    await session.refresh(agent)
    return agent
