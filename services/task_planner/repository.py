import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from database.models import Plan


async def add_plan(session: AsyncSession, **values: Any) -> Plan:
    plan = Plan(id=uuid.uuid4(), **values)
    session.add(plan)
    await session.flush()
    await session.refresh(plan)
    return plan


async def get_plan(session: AsyncSession, plan_id: uuid.UUID) -> Plan | None:
    return await session.get(Plan, plan_id)
