"""One typed function per cross-service hop, on the one client (shared/clients.py ServiceClient): the body and the
answer are the producing service's own models (shared/contracts), so mypy follows a call from the caller to the
route and back."""

from collections.abc import AsyncIterator
from typing import Any

from shared.clients import ServiceClient
from shared.contracts.ai import CompleteRequest, CompleteResponse, EmbedRequest, EmbedResponse
from shared.identity import Identity


async def complete(ai: ServiceClient, body: CompleteRequest, *, identity: Identity) -> CompleteResponse:
    """ai-runtime POST /complete."""
    return await ai.call("/complete", body, CompleteResponse, identity=identity)


def complete_streamed(
    ai: ServiceClient, body: CompleteRequest, *, identity: Identity
) -> AsyncIterator[tuple[str, Any]]:
    """ai-runtime POST /complete with stream: the answer's events, `chunk`s then `done` (a CompleteResponse)."""
    sent = body.model_copy(update={"stream": True}).model_dump(mode="json", exclude_none=True)
    return ai.stream_events("/complete", identity=identity, json=sent)


async def embed(ai: ServiceClient, body: EmbedRequest, *, identity: Identity) -> EmbedResponse:
    """ai-runtime POST /embed."""
    return await ai.call("/embed", body, EmbedResponse, identity=identity)
