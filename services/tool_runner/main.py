"""tool-runner: Sandboxed Python execution, HTTP requests with SSRF protection and other tools."""

from fastapi import FastAPI

from services.tool_runner.api import router
from services.tool_runner.config import ToolRunnerSettings, get_settings
from shared.app import create_service_app


def create_app(settings: ToolRunnerSettings | None = None) -> FastAPI:
    settings = settings or get_settings()
    return create_service_app(
        settings,
        title="CognitionOS tool-runner",
        description="Sandboxed Python execution, HTTP requests with SSRF protection and other tools.",
        routers=[router],
    )
