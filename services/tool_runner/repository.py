"""SQL for tool_executions (every call is recorded) and the users' MCP servers."""

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, delete, exists, func, or_, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from database.models import Agent, ApiKey, McpServer, Run, StoredFile, Task, ToolExecution
from shared import teams
from shared.identity import Identity
from shared.pagination import keyset


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


async def _usable_by(session: AsyncSession, identity: Identity) -> ColumnElement[bool]:
    """The user's own servers, their teams' and the shared ones."""
    shared = and_(McpServer.owner_id.is_(None), McpServer.team_id.is_(None))
    return or_(await teams.reachable(session, identity, owner=McpServer.owner_id, team=McpServer.team_id), shared)


# Own servers first, then the teams', then the shared ones: a name is the first server's.
_PRECEDENCE = (McpServer.owner_id.is_(None), McpServer.team_id.is_not(None))


async def mcp_servers(session: AsyncSession, identity: Identity, *, enabled_only: bool = False) -> list[McpServer]:
    """The user's own servers, then their teams', then the shared ones, each by name."""
    query = select(McpServer).where(await _usable_by(session, identity))
    if enabled_only:
        query = query.where(McpServer.enabled.is_(True))
    query = query.order_by(*_PRECEDENCE, McpServer.name)
    return list((await session.execute(query)).scalars())


async def mcp_server(session: AsyncSession, server_id: uuid.UUID) -> McpServer | None:
    return await session.get(McpServer, server_id)


async def mcp_server_named(session: AsyncSession, identity: Identity, name: str) -> McpServer | None:
    """The user's own server of this name, else a team's, else the shared one."""
    query = (
        select(McpServer)
        .where(await _usable_by(session, identity), McpServer.name == name)
        .order_by(*_PRECEDENCE)
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


# --- files ----------------------------------------------------------------------------------------------------


async def lock_owner(session: AsyncSession, owner_id: uuid.UUID) -> None:
    """Until the transaction ends: one file stored at a time per owner, so two cannot both fit the same room."""
    await session.execute(text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"), {"key": f"files:{owner_id}"})


async def lock_content(session: AsyncSession, sha256: str) -> None:
    """Until the transaction ends: a blob is not deleted while a file that uses it is being added, nor added back
    while it is being deleted."""
    await session.execute(text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"), {"key": f"blob:{sha256}"})


async def bytes_used(session: AsyncSession, owner_id: uuid.UUID) -> int:
    query = select(func.coalesce(func.sum(StoredFile.size), 0)).where(StoredFile.owner_id == owner_id)
    return int((await session.execute(query)).scalar_one())


async def add_file(session: AsyncSession, stored: StoredFile) -> StoredFile:
    session.add(stored)
    await session.flush()
    await session.refresh(stored)  # created_at, set by the database
    return stored


async def _file_reachable(session: AsyncSession, identity: Identity) -> ColumnElement[bool]:
    return await teams.reachable(session, identity, owner=StoredFile.owner_id, team=StoredFile.team_id)


async def reachable_file(session: AsyncSession, identity: Identity, file_id: uuid.UUID) -> StoredFile | None:
    query = select(StoredFile).where(StoredFile.id == file_id, await _file_reachable(session, identity))
    return (await session.execute(query)).scalar_one_or_none()


async def reachable_files(session: AsyncSession, identity: Identity, ids: list[uuid.UUID]) -> list[StoredFile]:
    query = select(StoredFile).where(StoredFile.id.in_(ids), await _file_reachable(session, identity))
    return list((await session.execute(query)).scalars())


async def page_files(
    session: AsyncSession,
    identity: Identity,
    *,
    run_id: uuid.UUID | None,
    kind: str | None,
    after: tuple[datetime, uuid.UUID] | None,
    limit: int,
) -> list[StoredFile]:
    query = select(StoredFile).where(await _file_reachable(session, identity))
    if run_id is not None:
        query = query.where(StoredFile.run_id == run_id)
    if kind is not None:
        query = query.where(StoredFile.kind == kind)
    return list(
        (await session.execute(keyset(query, StoredFile, after=after, limit=limit, newest_first=True))).scalars()
    )


async def content_in_use(session: AsyncSession, sha256: str) -> bool:
    return bool((await session.execute(select(exists().where(StoredFile.sha256 == sha256)))).scalar())


async def expired_files(session: AsyncSession, *, now: datetime, limit: int) -> list[tuple[uuid.UUID, str]]:
    """Deletes up to `limit` files past their expiry: their ids and content hashes."""
    due = select(StoredFile.id).where(StoredFile.expires_at <= now).limit(limit).scalar_subquery()
    query = delete(StoredFile).where(StoredFile.id.in_(due)).returning(StoredFile.id, StoredFile.sha256)
    return [(row.id, row.sha256) for row in await session.execute(query)]


async def run_owned(session: AsyncSession, owner_id: uuid.UUID, run_id: uuid.UUID, task_id: uuid.UUID | None) -> bool:
    """Whether the run is the owner's (and the task, when given, one of its tasks)."""
    query = select(exists().where(Run.id == run_id, Run.user_id == owner_id))
    if task_id is not None:
        query = select(
            exists().where(Task.id == task_id, Task.run_id == Run.id, Run.id == run_id, Run.user_id == owner_id)
        )
    return bool((await session.execute(query)).scalar())
