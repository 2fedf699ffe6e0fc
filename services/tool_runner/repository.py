"""SQL for tool_executions (every call is recorded) and the users' MCP servers."""

import uuid
from typing import Any

from sqlalchemy import ColumnElement, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from database.models import Agent, ApiKey, McpServer, ToolExecution


async def record_execution(session: AsyncSession, **values: Any) -> uuid.UUID:
    execution = ToolExecution(id=uuid.uuid4(), **values)
    session.add(execution)
    await session.flush()
    return execution.id


async def api_key_allowed_tools(session: AsyncSession, key_id: uuid.UUID) -> list[str] | None:
    """The tools an API key allows; None for any (no allowlist, or no such key: the gateway vouched for it)."""
    key = await session.get(ApiKey, key_id)
    return list(key.allowed_tools) if key is not None and key.allowed_tools is not None else None


async def agent_allowed_tools(session: AsyncSession, agent_id: uuid.UUID) -> list[str] | None:
    """The tools an active agent definition allows; None when there is no such agent."""
    agent = await session.get(Agent, agent_id)
    return list(agent.allowed_tools) if agent is not None and agent.is_active else None


# --- MCP servers ------------------------------------------------------------------------------------------------


def _usable_by(user_id: uuid.UUID) -> ColumnElement[bool]:
    """The user's own servers and the shared ones."""
    return or_(McpServer.owner_id == user_id, McpServer.owner_id.is_(None))


async def mcp_servers(session: AsyncSession, user_id: uuid.UUID, *, enabled_only: bool = False) -> list[McpServer]:
    """The user's own servers, then the shared ones, each by name."""
    query = select(McpServer).where(_usable_by(user_id))
    if enabled_only:
        query = query.where(McpServer.enabled.is_(True))
    query = query.order_by(McpServer.owner_id.is_(None), McpServer.name)
    return list((await session.execute(query)).scalars())


async def mcp_server(session: AsyncSession, server_id: uuid.UUID) -> McpServer | None:
    return await session.get(McpServer, server_id)


async def mcp_server_named(session: AsyncSession, user_id: uuid.UUID, name: str) -> McpServer | None:
    """The user's own server of this name, else the shared one (a user's own name comes first)."""
    query = (
        select(McpServer)
        .where(_usable_by(user_id), McpServer.name == name)
        .order_by(McpServer.owner_id.is_(None))
        .limit(1)
    )
    return (await session.execute(query)).scalars().first()


async def count_own_mcp_servers(session: AsyncSession, user_id: uuid.UUID) -> int:
    query = select(func.count()).select_from(McpServer).where(McpServer.owner_id == user_id)
    return int((await session.execute(query)).scalar_one())


async def add_mcp_server(session: AsyncSession, server: McpServer) -> McpServer:
    session.add(server)
    await session.flush()
    return server
