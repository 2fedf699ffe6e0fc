"""The tool-runner's running state and the dependencies its routes declare."""

from dataclasses import dataclass
from typing import Annotated

from cryptography.fernet import Fernet
from fastapi import Depends, Request
from redis.asyncio import Redis

from services.tool_runner.config import ToolRunnerSettings
from services.tool_runner.pool import SandboxPool
from services.tool_runner.service import ToolService
from services.tool_runner.storage import FileStorage
from shared.app import DbSession, service_state
from shared.clients import ServiceClient


@dataclass(kw_only=True)
class ToolRunnerState:
    settings: ToolRunnerSettings
    memory: ServiceClient
    ai: ServiceClient
    redis: Redis
    sandbox: str  # "bwrap", or why code cannot run here (the start-up self-check)
    cipher: Fernet  # MCP servers' headers at rest
    storage: FileStorage
    pool: SandboxPool | None = None


async def get_tool_service(request: Request, session: DbSession) -> ToolService:
    state = service_state(request.app, ToolRunnerState)
    return ToolService(
        session=session,
        settings=state.settings,
        memory=state.memory,
        ai=state.ai,
        redis=state.redis,
        cipher=state.cipher,
        storage=state.storage,
        pool=state.pool,
    )


Tools = Annotated[ToolService, Depends(get_tool_service)]
