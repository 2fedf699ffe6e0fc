"""Anthropic via the official SDK (Messages API)."""

import json
from collections.abc import AsyncIterator
from typing import Any

import anthropic

from services.ai_runtime.providers.base import (
    ChatRequest,
    ChatResult,
    ProviderError,
    StreamChunk,
    json_instruction,
    parse_retry_after,
)

STOP_REASONS = {"end_turn": "stop", "stop_sequence": "stop", "max_tokens": "length", "tool_use": "tool_calls"}


def _error(exc: Exception) -> ProviderError:
    if isinstance(exc, anthropic.APITimeoutError):
        return ProviderError("anthropic", "request timed out", retryable=True)
    if isinstance(exc, anthropic.APIConnectionError):
        return ProviderError("anthropic", f"connection failed: {exc}", retryable=True)
    if isinstance(exc, anthropic.APIStatusError):
        status = exc.status_code
        retry_after = parse_retry_after(exc.response.headers.get("retry-after"))
        if status in (429, 529) or status >= 500:
            return ProviderError(
                "anthropic", str(exc.message), status=status, retryable=True, retry_after_seconds=retry_after
            )
        if status in (401, 403):
            return ProviderError(
                "anthropic", f"rejected the API key ({status}): check ANTHROPIC_API_KEY", status=status
            )
        return ProviderError("anthropic", str(exc.message), status=status, client_error=status in (400, 413, 422))
    return ProviderError("anthropic", f"malformed response: {type(exc).__name__}: {exc}", retryable=True)


def _anthropic_message(message: dict[str, Any]) -> dict[str, Any]:
    """OpenAI-shaped message -> Messages API: tool calls become tool_use blocks, tool results tool_result blocks."""
    if message["role"] == "tool":
        return {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": message["tool_call_id"], "content": message.get("content") or ""}
            ],
        }
    if message["role"] == "assistant" and message.get("tool_calls"):
        blocks: list[dict[str, Any]] = [{"type": "text", "text": message["content"]}] if message.get("content") else []
        for call in message["tool_calls"]:
            blocks.append(
                {
                    "type": "tool_use",
                    "id": call["id"],
                    "name": call["function"]["name"],
                    "input": json.loads(call["function"]["arguments"] or "{}"),
                }
            )
        return {"role": "assistant", "content": blocks}
    return {"role": message["role"], "content": message.get("content") or ""}


def _anthropic_tool_choice(choice: Any) -> dict[str, Any] | None:
    if isinstance(choice, dict) and choice.get("type") == "function":
        return {"type": "tool", "name": choice["function"]["name"]}
    named = {"auto": {"type": "auto"}, "required": {"type": "any"}, "none": {"type": "none"}}
    return named.get(choice) if isinstance(choice, str) else None


class AnthropicProvider:
    name = "anthropic"

    def __init__(self, api_key: str, base_url: str | None, timeout_seconds: float) -> None:
        self.client = anthropic.AsyncAnthropic(
            api_key=api_key, base_url=base_url, max_retries=0, timeout=timeout_seconds
        )

    async def aclose(self) -> None:
        await self.client.close()

    def _arguments(self, request: ChatRequest) -> tuple[dict[str, Any], str]:
        """Messages API arguments, and the text prefilled for the assistant (JSON mode starts the object)."""
        system = [m["content"] for m in request.messages if m["role"] == "system"]
        messages = [_anthropic_message(m) for m in request.messages if m["role"] != "system"]
        prefill = ""
        if request.response_format:
            system.append(json_instruction(request.response_format))
            prefill = "{"
            messages.append({"role": "assistant", "content": prefill})
        arguments: dict[str, Any] = {
            "model": request.model,
            "messages": messages,
            "max_tokens": request.max_tokens,
            # SDK 2.x dropped the typed sampling parameters; the Messages API still takes them in the body.
            "extra_body": {"temperature": request.temperature},
            "timeout": request.timeout_seconds,
        }
        if system:
            arguments["system"] = "\n\n".join(system)
        if request.tools:
            arguments["tools"] = [
                {
                    "name": t["function"]["name"],
                    "description": t["function"].get("description", ""),
                    "input_schema": t["function"].get("parameters") or {"type": "object", "properties": {}},
                }
                for t in request.tools
            ]
            if (choice := _anthropic_tool_choice(request.tool_choice)) is not None:
                arguments["tool_choice"] = choice
        return arguments, prefill

    async def complete(self, request: ChatRequest) -> ChatResult:
        arguments, prefill = self._arguments(request)
        try:
            response = await self.client.messages.create(**arguments)
            text = "".join(block.text for block in response.content if block.type == "text")
            tool_calls = [
                {
                    "id": block.id,
                    "type": "function",
                    "function": {"name": block.name, "arguments": json.dumps(block.input)},
                }
                for block in response.content
                if block.type == "tool_use"
            ]
        except (anthropic.AnthropicError, ValueError, AttributeError, TypeError) as exc:
            raise _error(exc) from exc
        return ChatResult(
            content=prefill + text,
            finish_reason=STOP_REASONS.get(response.stop_reason or "", response.stop_reason),
            prompt_tokens=response.usage.input_tokens,
            completion_tokens=response.usage.output_tokens,
            tool_calls=tool_calls or None,
        )

    async def stream(self, request: ChatRequest) -> AsyncIterator[StreamChunk]:
        arguments, prefill = self._arguments(request)
        try:
            if prefill:
                yield StreamChunk(delta=prefill)
            prompt_tokens = 0
            tools: dict[int, int] = {}  # content block index -> tool call index
            async with self.client.messages.stream(**arguments) as stream:
                async for event in stream:
                    if event.type == "message_start":
                        prompt_tokens = event.message.usage.input_tokens
                    elif event.type == "content_block_start" and event.content_block.type == "tool_use":
                        tools[event.index] = len(tools)
                        block = event.content_block
                        start = {"name": block.name, "arguments": ""}
                        call = {"index": tools[event.index], "id": block.id, "type": "function", "function": start}
                        yield StreamChunk(tool_calls=[call])
                    elif event.type == "content_block_delta" and event.delta.type == "input_json_delta":
                        part = {"index": tools[event.index], "function": {"arguments": event.delta.partial_json}}
                        yield StreamChunk(tool_calls=[part])
                    elif event.type == "content_block_delta" and event.delta.type == "text_delta":
                        yield StreamChunk(delta=event.delta.text)
                    elif event.type == "message_delta":
                        yield StreamChunk(
                            finish_reason=STOP_REASONS.get(event.delta.stop_reason or "", event.delta.stop_reason),
                            prompt_tokens=prompt_tokens,
                            completion_tokens=event.usage.output_tokens,
                        )
        except (anthropic.AnthropicError, ValueError, AttributeError, TypeError) as exc:
            raise _error(exc) from exc
