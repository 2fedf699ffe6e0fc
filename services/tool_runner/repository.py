"""SQL for tool_executions: every call is recorded."""

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from database.models import Agent, ToolExecution


async def record_execution(session: AsyncSession, **values: Any) -> uuid.UUID:
    execution = ToolExecution(id=uuid.uuid4(), **values)
    session.add(execution)
    await session.flush()
    return execution.id


async def agent_allowed_tools(session: AsyncSession, agent_id: uuid.UUID) -> list[str] | None:
    """The tools an active agent definition allows; None when there is no such agent."""
    agent = await session.get(Agent, agent_id)
    return list(agent.allowed_tools) if agent is not None and agent.is_active else None
