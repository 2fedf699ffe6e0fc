"""tool-runner: sandboxed Python execution, HTTP requests with SSRF protection, memory and LLM tools."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from services.tool_runner.api import router
from services.tool_runner.config import ToolRunnerSettings, get_settings
from services.tool_runner.sandbox import sandbox_status
from shared.app import create_service_app
from shared.clients import ServiceClient


def create_app(settings: ToolRunnerSettings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def clients(app: FastAPI) -> AsyncIterator[None]:
        app.state.memory_client = ServiceClient(
            "memory-service", settings.memory_service_url, internal_secret=settings.internal_secret, timeout=60
        )
        app.state.ai_client = ServiceClient(
            "ai-runtime", settings.ai_runtime_url, internal_secret=settings.internal_secret, timeout=120
        )
        try:
            yield
        finally:
            await app.state.memory_client.aclose()
            await app.state.ai_client.aclose()

    return create_service_app(
        settings,
        title="CognitionOS tool-runner",
        description=(
            "Sandboxed Python execution (bubblewrap), HTTP requests with SSRF protection, memory and LLM tools."
        ),
        routers=[router],
        extra_lifespan=clients,
        health_details=lambda app: {"sandbox": sandbox_status(allow_unsandboxed=settings.sandbox_allow_unsandboxed)},
    )
