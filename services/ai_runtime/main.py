"""ai-runtime: LLM and embedding providers, fallback, token counting, cost and budget ledger."""

from fastapi import FastAPI

from services.ai_runtime.api import router
from services.ai_runtime.config import AIRuntimeSettings, get_settings
from shared.app import create_service_app


def create_app(settings: AIRuntimeSettings | None = None) -> FastAPI:
    settings = settings or get_settings()
    return create_service_app(
        settings,
        title="CognitionOS ai-runtime",
        description="LLM and embedding providers, fallback, token counting, cost and budget ledger.",
        routers=[router],
    )
