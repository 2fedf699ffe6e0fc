"""ai-runtime: LLM and embedding providers, fallback, token counting, cost and budget ledger."""

import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import platformdirs
from fastapi import FastAPI

from services.ai_runtime.anthropic_api import router as anthropic_router
from services.ai_runtime.api import router
from services.ai_runtime.budget import BudgetCounters
from services.ai_runtime.budgets_api import router as budgets_router
from services.ai_runtime.cache import ResponseCache
from services.ai_runtime.catalog import load_catalog
from services.ai_runtime.config import AIRuntimeSettings, get_settings
from services.ai_runtime.fallback import FallbackChain, RetryPolicy
from services.ai_runtime.ledger import UsageLedger
from services.ai_runtime.openai_api import router as openai_router
from services.ai_runtime.prompts import PromptLibrary
from services.ai_runtime.providers.anthropic_provider import AnthropicProvider
from services.ai_runtime.providers.local_models import (
    LocalChatProvider,
    LocalEmbeddingProvider,
    local_chat_available,
    local_embeddings_available,
)
from services.ai_runtime.providers.openai_provider import OpenAIProvider
from services.ai_runtime.responses_api import router as responses_router
from services.ai_runtime.service import AIRuntime
from services.ai_runtime.tokens import install_offline_vocabularies
from shared.app import CoreState, create_service_app, service_state
from shared.background import PeriodicTask

logger = logging.getLogger(__name__)


def build_providers(settings: AIRuntimeSettings) -> tuple[dict[str, Any], dict[str, Any], dict[str, str]]:
    """Chat providers, embedding providers, and a line per provider saying whether it is live and why not."""
    chat: dict[str, Any] = {}
    embedding: dict[str, Any] = {}
    status: dict[str, str] = {}
    timeout = settings.request_timeout_seconds
    if settings.openai_api_key:
        chat["openai"] = embedding["openai"] = OpenAIProvider(
            "openai", api_key=settings.openai_api_key, base_url=settings.openai_base_url, timeout_seconds=timeout
        )
        status["openai"] = "live"
    else:
        status["openai"] = "not configured: set OPENAI_API_KEY"
    if settings.anthropic_api_key:
        chat["anthropic"] = AnthropicProvider(settings.anthropic_api_key, settings.anthropic_base_url, timeout)
        status["anthropic"] = "live"
    else:
        status["anthropic"] = "not configured: set ANTHROPIC_API_KEY"
    if settings.openai_compatible_base_url:
        chat["openai_compatible"] = OpenAIProvider(
            "openai_compatible",
            api_key=settings.openai_compatible_api_key,
            base_url=settings.openai_compatible_base_url,
            timeout_seconds=timeout,
        )
        status["openai_compatible"] = f"live: {settings.openai_compatible_base_url}"
    else:
        status["openai_compatible"] = "not configured: set OPENAI_COMPATIBLE_BASE_URL"
    local_notes = []
    chat_ok, chat_note = local_chat_available()
    if settings.local_llm_enabled and chat_ok:
        chat["local"] = LocalChatProvider(
            settings.local_threads,
            auto_tool_calls=settings.local_auto_tool_calls,
            repeat_penalty=settings.local_repeat_penalty,
            max_answer_tokens=settings.local_max_tokens,
            max_queue_wait_seconds=settings.local_max_queue_wait_seconds,
        )
    else:
        local_notes.append(
            "chat: " + ("disabled (LOCAL_LLM_ENABLED=false)" if not settings.local_llm_enabled else chat_note)
        )
    embed_ok, embed_note = local_embeddings_available()
    if settings.local_embeddings_enabled and embed_ok:
        embedding["local"] = LocalEmbeddingProvider(
            settings.local_threads, max_batch=settings.local_embedding_batch, spinning=settings.local_inference_spinning
        )
    else:
        local_notes.append(
            "embeddings: "
            + ("disabled (LOCAL_EMBEDDINGS_ENABLED=false)" if not settings.local_embeddings_enabled else embed_note)
        )
    status["local"] = "live" if not local_notes else "; ".join(local_notes)
    return chat, embedding, status


LANE_WATCH_SECONDS = 1.0  # how soon a cancelled run's generation on the embedded model stops


def create_app(settings: AIRuntimeSettings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def runtime_state(core: CoreState) -> AsyncIterator[AIRuntime]:
        install_offline_vocabularies(
            settings.tiktoken_cache_dir or Path(platformdirs.user_cache_dir("cognitionos")) / "tiktoken"
        )
        catalog = load_catalog(extra_compatible_models=settings.openai_compatible_models)
        chat, embedding, status = build_providers(settings)
        policy = RetryPolicy(
            max_retries=settings.max_retries,
            base_seconds=settings.retry_base_seconds,
            max_seconds=settings.retry_max_seconds,
            cooldown_failures=settings.cooldown_failures,
            cooldown_seconds=settings.cooldown_seconds,
        )
        ledger = UsageLedger(
            core.sessionmaker, flush_seconds=settings.usage_flush_seconds, batch_size=settings.usage_batch_size
        )
        runtime = AIRuntime(
            settings=settings,
            catalog=catalog,
            chat_providers=chat,
            embedding_providers=embedding,
            provider_status=status,
            fallback=FallbackChain(policy),
            ledger=ledger,
            counters=BudgetCounters(core.redis),
            cache=ResponseCache(core.redis, settings.cache_ttl_seconds),
            prompts=PromptLibrary(settings.prompts_dir),
            sessionmaker=core.sessionmaker,
            redis=core.redis,
        )
        logger.info("providers", extra={"providers": status})
        lane_watch = PeriodicTask("local-lane-watch", LANE_WATCH_SECONDS, runtime.watch_local_lane)
        try:
            async with ledger, lane_watch:
                yield runtime
        finally:
            for provider in {id(p): p for p in [*chat.values(), *embedding.values()]}.values():
                if hasattr(provider, "aclose"):
                    with contextlib.suppress(Exception):
                        await provider.aclose()

    app = create_service_app(
        settings,
        title="CognitionOS ai-runtime",
        description=(
            "LLM and embedding providers (OpenAI, Anthropic, OpenAI-compatible, embedded local), fallback, token "
            "counting, cost ledger and budgets; OpenAI-compatible /v1 API."
        ),
        routers=[router, openai_router, anthropic_router, responses_router, budgets_router],
        service_lifespan=runtime_state,
        health_details=lambda app: {"providers": service_state(app, AIRuntime).provider_status},
    )
    return app
