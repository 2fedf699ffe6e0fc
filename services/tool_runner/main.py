"""tool-runner: sandboxed Python execution, HTTP requests with SSRF protection, memory and LLM tools."""

import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

from services.tool_runner.api import router
from services.tool_runner.cgroups import cgroup_flavour
from services.tool_runner.config import ToolRunnerSettings, get_settings
from services.tool_runner.deps import ToolRunnerState
from services.tool_runner.files import purge_expired
from services.tool_runner.pool import SandboxPool
from services.tool_runner.sandbox import bwrap_path, sandbox_self_check, sandbox_status
from services.tool_runner.seccomp import sandbox_filter
from services.tool_runner.storage import build_storage
from shared.app import CoreState, create_service_app, service_state
from shared.background import PeriodicTask
from shared.clients import service_client
from shared.crypto import build_cipher


def tool_runner_health(state: ToolRunnerState) -> dict[str, Any]:
    sandbox = state.sandbox
    flavour = cgroup_flavour()
    details: dict[str, Any] = {
        "sandbox": sandbox,
        "run_limits": f"cgroup-{flavour}" if flavour else "rlimits only (no writable cgroup)",
        "syscall_filter": "seccomp" if sandbox_filter() is not None else "none (libseccomp missing)",
        "file_storage": state.storage.backend,
    }
    if sandbox != "bwrap":
        details["degraded"] = f"code execution: {sandbox}"
    return details


async def _sandbox_check(settings: ToolRunnerSettings) -> str:
    if settings.sandbox_allow_unsandboxed and not bwrap_path():
        return sandbox_status(allow_unsandboxed=True)
    return await sandbox_self_check(settings.sandbox_limits())


def create_app(settings: ToolRunnerSettings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def clients(core: CoreState) -> AsyncIterator[ToolRunnerState]:
        storage = build_storage(settings)

        async def purge() -> None:
            await purge_expired(core.sessionmaker, storage)

        async with (
            service_client(settings, "memory-service", timeout=60) as memory,
            service_client(settings, "ai-runtime", timeout=120) as ai,
            PeriodicTask("file-purge", settings.files_purge_interval_seconds, purge),
        ):
            sandbox = await _sandbox_check(settings)
            pool = None
            if sandbox == "bwrap" and settings.sandbox_pool_size:
                pool = SandboxPool(size=settings.sandbox_pool_size, limits=settings.sandbox_limits(), sandboxed=True)
            async with pool or contextlib.nullcontext():
                yield ToolRunnerState(
                    settings=settings,
                    memory=memory,
                    ai=ai,
                    redis=core.redis,
                    sandbox=sandbox,
                    cipher=build_cipher(settings.encryption_key, settings.internal_secret, purpose="mcp-headers"),
                    storage=storage,
                    pool=pool,
                )

    return create_service_app(
        settings,
        title="CognitionOS tool-runner",
        description=(
            "Sandboxed Python execution (bubblewrap), HTTP requests with SSRF protection, memory and LLM tools."
        ),
        routers=[router],
        service_lifespan=clients,
        health_details=lambda app: tool_runner_health(service_state(app, ToolRunnerState)),
    )
