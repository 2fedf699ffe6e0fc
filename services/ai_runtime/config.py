from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field

from shared.config import BaseServiceSettings

Role = Literal["planner", "executor", "critic", "summarizer"]


class AIRuntimeSettings(BaseServiceSettings):
    service_name: str = "ai-runtime"

    openai_api_key: str | None = None
    openai_base_url: str | None = None
    anthropic_api_key: str | None = None
    anthropic_base_url: str | None = None
    openai_compatible_base_url: str | None = Field(
        default=None, description="Ollama, vLLM, llama.cpp server, LM Studio …"
    )
    openai_compatible_api_key: str = "not-needed"
    openai_compatible_models: list[str] = Field(
        default_factory=list, description='Models served there, e.g. ["llama3.1:8b"]'
    )

    local_llm_enabled: bool = True
    local_embeddings_enabled: bool = True
    local_threads: int | None = Field(default=None, description="Threads for local inference (default: all cores)")
    local_embedding_batch: int = Field(
        default=32,
        ge=1,
        le=256,
        description="Most texts one embedding model run takes when concurrent calls are coalesced (1: no coalescing)",
    )
    local_inference_spinning: bool = Field(
        default=False,
        description="Let ONNX Runtime's threads spin between embedding runs: a single caller's embedding is faster "
        "(batch-1 rate +20% here), but the spinning takes CPU from everything else on the host (64 clients through "
        "the memory API: 20% fewer requests/s); off suits a host shared with the database and the other services",
    )
    local_auto_tool_calls: bool = Field(
        default=False,
        description="With tool_choice auto, let the embedded model choose between answering and calling a tool. Off: "
        "it answers (the 135M model called a tool for 4 of 4 plain messages); required and named choices always call",
    )

    local_repeat_penalty: float = Field(
        default=1.1,
        ge=1.0,
        le=2.0,
        description="Penalty on repeated tokens for the embedded model (1: none; without one SmolLM2 repeated a "
        "sentence 24 times)",
    )
    local_max_tokens: int = Field(
        default=768,
        ge=16,
        description="Most tokens one embedded-model answer may take, whatever the caller asks (the 2,048-token "
        "context otherwise let a plan run for minutes)",
    )
    local_max_queue_wait_seconds: float = Field(
        default=30.0,
        gt=0,
        description="When the embedded model's queue would keep a new call waiting longer than this, the call is "
        "answered at once with 429 model_busy and Retry-After instead of timing out",
    )

    model_aliases: dict[str, str] = Field(
        default_factory=lambda: {"default": "smollm2-135m-instruct", "local": "smollm2-135m-instruct"}
    )
    role_models: dict[str, list[str]] = Field(
        default_factory=lambda: {
            role: ["gpt-4o-mini", "claude-3-5-haiku-latest", "smollm2-135m-instruct"]
            for role in (
                "planner",
                "executor",
                "critic",
                "summarizer",
                "assistant",
                "memory_extractor",
                "memory_updater",
            )
        },
        description="Per role: models to try in order; those whose provider is not configured are skipped",
    )
    fallbacks: dict[str, list[str]] = Field(
        default_factory=dict,
        description='Explicit fallback chains for a requested model, e.g. {"gpt-4o": ["claude-sonnet-4-5"]}',
    )
    default_embedding_model: str = "all-minilm-l6-v2"
    default_max_tokens: int = Field(default=512, ge=1)

    max_retries: int = Field(default=2, ge=0, description="Retries per deployment on 429/5xx/timeouts")
    retry_base_seconds: float = Field(default=0.25, ge=0)
    retry_max_seconds: float = Field(default=8.0, ge=0, description="Cap on any single wait, Retry-After included")
    cooldown_failures: int = Field(
        default=3, ge=1, description="Consecutive failed calls that put a deployment in cooldown"
    )
    cooldown_seconds: float = Field(default=30.0, ge=0)
    request_timeout_seconds: float = Field(default=60.0, gt=0)

    budget_policy: Literal["reject", "downgrade"] = "reject"
    downgrade_model: str = "smollm2-135m-instruct"
    budget_cache_seconds: float = Field(
        default=5.0, ge=0, description="How long a replica may use a budget row before re-reading it"
    )
    cache_enabled: bool = Field(default=False, description="Cache exact repeats of deterministic (temperature 0) calls")
    cache_ttl_seconds: int = 3600
    usage_flush_seconds: float = 0.5
    usage_batch_size: int = 200
    tiktoken_cache_dir: Path | None = None
    prompts_dir: Path | None = None


@lru_cache
def get_settings() -> AIRuntimeSettings:
    return AIRuntimeSettings()
