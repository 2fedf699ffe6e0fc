"""Anthropic's Messages API over its wire protocol with aiohttp (services.ai_runtime.providers.wire says why not
the SDK): the x-api-key and anthropic-version headers, POST /v1/messages, and its named server-sent events."""

import json
from collections.abc import AsyncIterator
from typing import Any

from services.ai_runtime.providers.base import ChatRequest, ChatResult, StreamChunk, json_instruction
from services.ai_runtime.providers.wire import FAILURES, Upstream, provider_error

ANTHROPIC_BASE_URL = "https://api.anthropic.com"
API_VERSION = "2023-06-01"  # the Messages API's version header, as the SDK sends it
KEY_SETTING = "ANTHROPIC_API_KEY"
STOP_REASONS = {"end_turn": "stop", "stop_sequence": "stop", "max_tokens": "length", "tool_use": "tool_calls"}


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
        self.upstream = Upstream(
            base_url or ANTHROPIC_BASE_URL, {"x-api-key": api_key, "anthropic-version": API_VERSION}
        )

    async def aclose(self) -> None:
        await self.upstream.aclose()

    def _arguments(self, request: ChatRequest) -> tuple[dict[str, Any], str]:
        """The Messages API's request body, and the text prefilled for the assistant (JSON mode starts the
        object)."""
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
            "temperature": request.temperature,
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
            message = await self.upstream.answer("/v1/messages", arguments, request.timeout_seconds)
            blocks = message["content"]
            text = "".join(block["text"] for block in blocks if block["type"] == "text")
            tool_calls = [
                {
                    "id": block["id"],
                    "type": "function",
                    "function": {"name": block["name"], "arguments": json.dumps(block["input"])},
                }
                for block in blocks
                if block["type"] == "tool_use"
            ]
            stop_reason = message.get("stop_reason")
            usage = message["usage"]
            return ChatResult(
                content=prefill + text,
                finish_reason=STOP_REASONS.get(stop_reason or "", stop_reason),
                prompt_tokens=usage["input_tokens"],
                completion_tokens=usage["output_tokens"],
                tool_calls=tool_calls or None,
            )
        except FAILURES as exc:
            raise provider_error(self.name, exc, key_setting=KEY_SETTING) from exc

    async def stream(self, request: ChatRequest) -> AsyncIterator[StreamChunk]:
        arguments, prefill = self._arguments(request)
        try:
            if prefill:
                yield StreamChunk(delta=prefill)
            reader = _StreamReader()
            body = {**arguments, "stream": True}
            async with self.upstream.events(
                "/v1/messages", body, request.timeout_seconds, last_type="message_stop"
            ) as events:
                async for event in events:
                    if (chunk := reader.chunk(event)) is not None:
                        yield chunk
        except FAILURES as exc:
            raise provider_error(self.name, exc, key_setting=KEY_SETTING) from exc


class _StreamReader:
    """A stream's events as chunks: text deltas, each tool call (its id and name, then its input's JSON in pieces),
    and the stop reason with the usage, whose prompt count came in message_start."""

    def __init__(self) -> None:
        self.prompt_tokens = 0
        self.tools: dict[int, int] = {}  # content block index -> tool call index

    def chunk(self, event: dict[str, Any]) -> StreamChunk | None:
        kind, delta = event["type"], event.get("delta") or {}
        if kind == "message_start":
            self.prompt_tokens = event["message"]["usage"]["input_tokens"]
        elif kind == "content_block_start" and event["content_block"]["type"] == "tool_use":
            index = self.tools[event["index"]] = len(self.tools)
            started = event["content_block"]
            call = {"name": started["name"], "arguments": ""}
            return StreamChunk(tool_calls=[{"index": index, "id": started["id"], "type": "function", "function": call}])
        elif kind == "content_block_delta" and delta["type"] == "input_json_delta":
            part = {"arguments": delta["partial_json"]}
            return StreamChunk(tool_calls=[{"index": self.tools[event["index"]], "function": part}])
        elif kind == "content_block_delta" and delta["type"] == "text_delta":
            return StreamChunk(delta=delta["text"])
        elif kind == "message_delta":
            stop_reason = delta.get("stop_reason")
            return StreamChunk(
                finish_reason=STOP_REASONS.get(stop_reason or "", stop_reason),
                prompt_tokens=self.prompt_tokens,
                completion_tokens=event["usage"]["output_tokens"],
            )
        return None
