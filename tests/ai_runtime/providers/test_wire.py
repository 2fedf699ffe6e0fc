"""What both HTTP providers share on the wire (services/ai_runtime/providers/wire.py)."""

import pytest
from fastapi import FastAPI, Request

from services.ai_runtime.providers.base import ChatRequest, ChatResult
from services.ai_runtime.providers.openai_provider import OpenAIProvider
from tests.ai_runtime.providers.support import used_once
from tests.support import free_port, serving

UNREACHABLE_PROVIDER = "http://llm-provider.invalid/v1"  # .invalid never resolves: only a proxy can reach it


def forward_proxy() -> FastAPI:
    """An outbound proxy that answers for the provider itself (or, called directly, the provider): a request in
    absolute form (what a client sends a proxy) reaches this route by its path, and its Host names where the client
    meant to go."""
    app = FastAPI()
    app.state.hosts = []

    @app.post("/v1/chat/completions")
    async def chat(request: Request) -> dict[str, object]:
        app.state.hosts.append(request.headers["host"])
        return {"choices": [{"message": {"content": "via the proxy"}, "finish_reason": "stop"}], "usage": {}}

    return app


def complete_once(provider: OpenAIProvider) -> ChatResult:
    request = ChatRequest(model="m", messages=[], max_tokens=4, temperature=0)
    return used_once(provider, lambda provider: provider.complete(request))


def test_a_provider_reachable_only_through_the_outbound_proxy_in_http_proxy_is_called_through_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    app = forward_proxy()
    with serving(app) as proxy:
        for name in ("http_proxy", "no_proxy", "NO_PROXY", "all_proxy", "ALL_PROXY"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        provider = OpenAIProvider("openai_compatible", api_key="k", base_url=UNREACHABLE_PROVIDER, timeout_seconds=5)
        result = complete_once(provider)
    assert result.content == "via the proxy"
    assert app.state.hosts == ["llm-provider.invalid"]


def test_a_provider_on_a_host_in_no_proxy_is_called_directly_past_the_outbound_proxy(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    app = forward_proxy()
    with serving(app) as provider_server:
        for name in ("http_proxy", "no_proxy", "all_proxy", "ALL_PROXY"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{free_port()}")  # nothing listens there
        monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
        provider = OpenAIProvider(
            "openai_compatible", api_key="k", base_url=f"{provider_server.url}/v1", timeout_seconds=5
        )
        assert complete_once(provider).content == "via the proxy"
