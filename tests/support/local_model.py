"""Calls to the embedded model as its tests and its benchmark make them: one user message, deterministic."""

from services.ai_runtime.providers.base import ChatRequest
from services.ai_runtime.providers.local_models import LOCAL_CHAT_MODEL

LONG = "Write a very long story about a dragon who learns to cook."  # a generation that runs to its cap


def ask(content: str, *, max_tokens: int, run_id: str | None = None) -> ChatRequest:
    return ChatRequest(
        model=LOCAL_CHAT_MODEL,
        messages=[{"role": "user", "content": content}],
        max_tokens=max_tokens,
        temperature=0,
        run_id=run_id,
    )
