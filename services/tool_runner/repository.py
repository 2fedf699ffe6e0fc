"""SQL for tool_executions: every call is recorded."""

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from database.models import ToolExecution


async def record_execution(session: AsyncSession, **values: Any) -> uuid.UUID:
    execution = ToolExecution(id=uuid.uuid4(), **values)
    session.add(execution)
    await session.commit()
    return execution.id
