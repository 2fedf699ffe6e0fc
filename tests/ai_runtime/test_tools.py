"""Tool calls in OpenAI's shape, translated for Anthropic; refused clearly where a model cannot call tools."""

import json
from typing import Any

import httpx

from tests.support import assert_error
from tests.support.providers import Providers

FIB_TOOL: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": "fibonacci",
        "description": "n-th Fibonacci number",
        "parameters": {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]},
    },
}


def test_openai_tool_call(ai: httpx.Client, providers: Providers) -> None:
    body = ai.post(
        "/complete", json={"model": "gpt-4o-mini", "prompt": "fib of 10?", "tools": [FIB_TOOL], "tool_choice": "auto"}
    ).json()
    assert body["finish_reason"] == "tool_calls"
    assert body["tool_calls"] == [
        {"id": "call_1", "type": "function", "function": {"name": "fibonacci", "arguments": '{"n": 10}'}}
    ]
    sent = providers.openai_app.state.requests[0]["body"]
    assert sent["tools"][0]["function"]["name"] == "fibonacci" and sent["tool_choice"] == "auto"


def test_anthropic_tool_call_and_result_round_trip(ai: httpx.Client, providers: Providers) -> None:
    first = ai.post(
        "/complete",
        json={
            "model": "claude-3-5-haiku-latest",
            "prompt": "fib of 10?",
            "tools": [FIB_TOOL],
            "tool_choice": "required",
        },
    ).json()
    (call,) = first["tool_calls"]
    assert call["function"]["name"] == "fibonacci" and json.loads(call["function"]["arguments"]) == {"n": 10}
    sent = providers.anthropic_app.state.requests[0]["body"]
    assert sent["tools"] == [
        {
            "name": "fibonacci",
            "description": "n-th Fibonacci number",
            "input_schema": FIB_TOOL["function"]["parameters"],
        }
    ]
    assert sent["tool_choice"] == {"type": "any"}

    context = [
        {"role": "user", "content": "fib of 10?"},
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": call["id"], "content": "55"},
    ]
    ai.post("/complete", json={"model": "claude-3-5-haiku-latest", "context": context})
    follow_up = providers.anthropic_app.state.requests[1]["body"]["messages"]
    assert follow_up[1] == {
        "role": "assistant",
        "content": [{"type": "tool_use", "id": call["id"], "name": "fibonacci", "input": {"n": 10}}],
    }
    assert follow_up[2] == {
        "role": "user",
        "content": [{"type": "tool_result", "tool_use_id": call["id"], "content": "55"}],
    }


def test_tools_refused_clearly_where_unsupported(ai: httpx.Client) -> None:
    assert_error(
        ai.post("/complete", json={"model": "gpt-4o-mini", "context": [{"role": "tool", "content": "55"}]}), 422
    )
    bad_args = {
        "role": "assistant",
        "tool_calls": [{"id": "c", "type": "function", "function": {"name": "f", "arguments": "{nope"}}],
    }
    assert_error(ai.post("/complete", json={"model": "gpt-4o-mini", "context": [bad_args]}), 422)
