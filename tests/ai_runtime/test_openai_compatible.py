"""The official openai SDK against CognitionOS: through the gateway, with an API key, budgets and cost tracking."""

import json
from collections.abc import Iterator
from typing import cast

import anthropic
import httpx
import openai
import pytest
from anthropic.types import MessageParam, TextBlock, ToolChoiceParam, ToolParam, ToolUseBlock
from openai.types.chat import (
    ChatCompletionFunctionToolParam,
    ChatCompletionMessageFunctionToolCall,
    ChatCompletionMessageParam,
    ChatCompletionToolChoiceOptionParam,
)
from openai.types.responses import FunctionToolParam, ResponseInputParam

from services.ai_runtime.main import create_app as create_runtime
from services.api_gateway.main import create_app as create_gateway
from tests.support import serving
from tests.support.ledger import usage_rows
from tests.support.providers import Providers
from tests.support.settings import runtime_settings
from tests.support.stack import Stack
from tests.support.users import register_and_login


@pytest.fixture(scope="module")
def sdk_stack(stack: Stack, database_url: str, redis_url: str, providers: Providers) -> Iterator[tuple[str, str, str]]:
    """(base_url for the SDK, api key, user id)."""
    with (
        serving(create_runtime(runtime_settings(database_url, redis_url, providers))) as runtime,
        serving(
            create_gateway(stack.gateway_settings(ai_runtime_url=runtime.url, upstream_timeout_seconds=60.0))
        ) as gateway,
        httpx.Client(base_url=gateway.url) as client,
    ):
        user = register_and_login(client, "sdk_user")
        key = client.post("/api/v1/auth/api-keys", headers=user.headers, json={"name": "sdk"}).json()["key"]
        yield f"{gateway.url}/v1", key, user.id


def test_chat_completion_with_the_sdk(sdk_stack: tuple[str, str, str], database_url: str) -> None:
    base_url, key, user_id = sdk_stack
    client = openai.OpenAI(base_url=base_url, api_key=key, max_retries=0)
    completion = client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}], max_tokens=20
    )
    assert completion.choices[0].message.content == "Hello from the OpenAI test server"
    assert completion.model == "gpt-4o-mini" and completion.usage is not None and completion.usage.total_tokens == 18
    assert any(r.model == "gpt-4o-mini" and r.cost_usd > 0 for r in usage_rows(database_url, user_id))


def test_the_earlier_address_of_the_compatible_api_keeps_working(sdk_stack: tuple[str, str, str]) -> None:
    base_url, key, _ = sdk_stack
    earlier = openai.OpenAI(base_url=base_url.replace("/v1", "/api/v1/ai/v1"), api_key=key, max_retries=0)
    completion = earlier.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
    assert completion.choices[0].message.content == "Hello from the OpenAI test server"


def test_streaming_with_the_sdk(sdk_stack: tuple[str, str, str]) -> None:
    base_url, key, _ = sdk_stack
    client = openai.OpenAI(base_url=base_url, api_key=key, max_retries=0)
    stream = client.chat.completions.create(
        model="claude-3-5-haiku-latest", messages=[{"role": "user", "content": "hi"}], stream=True
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Hello from the Anthropic test server"
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 9


def test_embeddings_and_models_with_the_sdk(sdk_stack: tuple[str, str, str]) -> None:
    base_url, key, _ = sdk_stack
    client = openai.OpenAI(base_url=base_url, api_key=key, max_retries=0)
    embeddings = client.embeddings.create(model="all-minilm-l6-v2", input=["hello", "world"])
    assert len(embeddings.data) == 2 and len(embeddings.data[0].embedding) == 384
    ids = {m.id for m in client.models.list()}
    assert {"gpt-4o-mini", "smollm2-135m-instruct", "all-minilm-l6-v2"} <= ids


def test_sdk_errors_are_typed(sdk_stack: tuple[str, str, str]) -> None:
    base_url, key, _ = sdk_stack
    with pytest.raises(openai.NotFoundError) as error:  # as OpenAI answers an unknown model
        openai.OpenAI(base_url=base_url, api_key=key, max_retries=0).chat.completions.create(
            model="gpt-9", messages=[{"role": "user", "content": "x"}]
        )
    assert "gpt-9" in str(error.value)
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=base_url, api_key="cos_bad_key", max_retries=0).models.list()


def test_tool_calls_with_the_sdk(sdk_stack: tuple[str, str, str]) -> None:
    base_url, key, _ = sdk_stack
    client = openai.OpenAI(base_url=base_url, api_key=key, max_retries=0)
    tool: ChatCompletionFunctionToolParam = {
        "type": "function",
        "function": {"name": "fibonacci", "parameters": {"type": "object", "properties": {"n": {"type": "integer"}}}},
    }
    completion = client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "fib 10"}], tools=[tool]
    )
    (call,) = completion.choices[0].message.tool_calls or []
    assert isinstance(call, ChatCompletionMessageFunctionToolCall)
    assert call.function.name == "fibonacci" and call.function.arguments == '{"n": 10}'
    assert completion.choices[0].finish_reason == "tool_calls"


def test_an_unknown_model_is_the_sdks_not_found_error(sdk_stack: tuple[str, str, str]) -> None:
    base_url, key, _ = sdk_stack
    client = openai.OpenAI(base_url=base_url, api_key=key, max_retries=0)
    with pytest.raises(openai.NotFoundError) as raised:
        client.chat.completions.create(model="no-such-model", messages=[{"role": "user", "content": "hi"}])
    assert raised.value.code == "model_not_found" and raised.value.type == "invalid_request_error"
    assert raised.value.param == "model"


def test_errors_on_v1_carry_openais_type_and_param(sdk_stack: tuple[str, str, str]) -> None:
    base_url, key, _ = sdk_stack
    response = httpx.post(
        f"{base_url}/chat/completions", headers={"Authorization": f"Bearer {key}"}, json={"model": "gpt-4o-mini"}
    )
    error = response.json()["error"]
    assert response.status_code == 422 and error["type"] == "invalid_request_error" and "param" in error
    assert {"code", "message", "details"} <= set(error)
    malformed = httpx.post(
        f"{base_url}/chat/completions",
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
        content=b'{"model": "gpt-4o-mini", "messages": [',
    )
    assert malformed.status_code == 400 and malformed.json()["error"]["code"] == "invalid_json"
    assert malformed.json()["error"]["type"] == "invalid_request_error"
    unauthenticated = httpx.post(f"{base_url}/chat/completions", json={"model": "gpt-4o-mini", "messages": []})
    assert unauthenticated.json()["error"]["type"] == "authentication_error"


def test_legacy_completions_with_the_sdk(sdk_stack: tuple[str, str, str]) -> None:
    base_url, key, _ = sdk_stack
    client = openai.OpenAI(base_url=base_url, api_key=key, max_retries=0)
    completion = client.completions.create(model="gpt-4o-mini", prompt="Say hello", max_tokens=20)
    assert completion.object == "text_completion"
    assert completion.choices[0].text == "Hello from the OpenAI test server"
    assert completion.usage is not None and completion.usage.total_tokens > 0
    streamed = "".join(
        chunk.choices[0].text
        for chunk in client.completions.create(model="gpt-4o-mini", prompt="Say hello", max_tokens=20, stream=True)
        if chunk.choices
    )
    assert streamed == "Hello from the OpenAI test server"


def test_the_anthropic_sdk_talks_to_any_configured_model(sdk_stack: tuple[str, str, str]) -> None:
    """Anthropic's Messages API at the gateway, answered here by an OpenAI-served model."""
    base_url, key, _ = sdk_stack
    client = anthropic.Anthropic(base_url=base_url.removesuffix("/v1"), api_key=key, max_retries=0)
    message = client.messages.create(
        model="gpt-4o-mini",
        max_tokens=20,
        system="Be brief.",
        messages=[{"role": "user", "content": "hi"}],
    )
    assert message.type == "message" and message.role == "assistant"
    assert isinstance(message.content[0], TextBlock) and message.content[0].text == "Hello from the OpenAI test server"
    assert message.stop_reason == "end_turn" and message.usage.input_tokens > 0
    with client.messages.stream(
        model="gpt-4o-mini", max_tokens=20, messages=[{"role": "user", "content": "hi"}]
    ) as stream:
        streamed = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert streamed == "Hello from the OpenAI test server" and final.stop_reason == "end_turn"
    with pytest.raises(anthropic.NotFoundError):
        client.messages.create(model="no-such-model", max_tokens=5, messages=[{"role": "user", "content": "x"}])


ANTHROPIC_WEATHER: ToolParam = {
    "name": "get_weather",
    "description": "The weather in a city",
    "input_schema": {
        "type": "object",
        "properties": {"city": {"type": "string", "maxLength": 40}},
        "required": ["city"],
    },
}


def test_the_anthropic_sdk_gets_tool_use_blocks_streamed_or_not(
    sdk_stack: tuple[str, str, str], providers: Providers
) -> None:
    """tools and tool_choice went unread on /v1/messages: a forced tool call came back as prose with end_turn."""
    base_url, key, _ = sdk_stack
    client = anthropic.Anthropic(base_url=base_url.removesuffix("/v1"), api_key=key, max_retries=0)
    ask: list[MessageParam] = [{"role": "user", "content": "What is the weather in Paris?"}]
    forced = client.messages.create(
        model="smollm2-135m-instruct",  # the embedded model: the grammar makes its answer a call of the named tool
        max_tokens=40,
        messages=ask,
        tools=[ANTHROPIC_WEATHER],
        tool_choice={"type": "tool", "name": "get_weather"},
    )
    (use,) = [block for block in forced.content if isinstance(block, ToolUseBlock)]
    assert forced.stop_reason == "tool_use" and use.name == "get_weather" and isinstance(use.input["city"], str)

    with client.messages.stream(
        model="gpt-4o-mini", max_tokens=40, messages=ask, tools=[ANTHROPIC_WEATHER], tool_choice={"type": "any"}
    ) as stream:
        final = stream.get_final_message()
    (streamed,) = [block for block in final.content if isinstance(block, ToolUseBlock)]
    assert final.stop_reason == "tool_use" and streamed.name == "get_weather" and isinstance(streamed.input, dict)
    sent = providers.openai_app.state.requests[-1]["body"]
    assert sent["tool_choice"] == "required" and sent["tools"][0]["function"]["name"] == "get_weather"

    providers.openai_app.state.reply = "Sunny in Paris"
    answered = client.messages.create(
        model="gpt-4o-mini",
        max_tokens=40,
        tools=[ANTHROPIC_WEATHER],
        tool_choice={"type": "none"},
        messages=[
            *ask,
            {
                "role": "assistant",
                "content": [{"type": "tool_use", "id": streamed.id, "name": "get_weather", "input": streamed.input}],
            },
            {
                "role": "user",
                "content": [{"type": "tool_result", "tool_use_id": streamed.id, "content": "Sunny, 21 C"}],
            },
        ],
    )
    assert isinstance(answered.content[0], TextBlock) and answered.content[0].text == "Sunny in Paris"
    assert answered.stop_reason == "end_turn"
    sent_messages = providers.openai_app.state.requests[-1]["body"]["messages"]
    assert sent_messages[1]["tool_calls"][0]["id"] == streamed.id
    assert sent_messages[2] == {"role": "tool", "tool_call_id": streamed.id, "content": "Sunny, 21 C"}


def test_the_anthropic_sdk_counts_tokens_and_is_refused_what_is_not_supported(sdk_stack: tuple[str, str, str]) -> None:
    base_url, key, _ = sdk_stack
    client = anthropic.Anthropic(base_url=base_url.removesuffix("/v1"), api_key=key, max_retries=0)
    ask: list[MessageParam] = [{"role": "user", "content": "What is the weather in Paris?"}]
    choices: tuple[tuple[str, ToolChoiceParam], ...] = (
        ("smollm2-135m-instruct", {"type": "any"}),
        ("gpt-4o-mini", {"type": "auto"}),
    )
    for model, choice in choices:
        counted = client.messages.count_tokens(model=model, messages=ask)
        with_tools = client.messages.count_tokens(
            model=model, messages=ask, tools=[ANTHROPIC_WEATHER], tool_choice=choice
        )
        assert 0 < counted.input_tokens < with_tools.input_tokens  # the tools offered are part of the prompt
    with pytest.raises(anthropic.BadRequestError) as unsupported:  # never silently dropped
        client.messages.create(model="gpt-4o-mini", max_tokens=5, messages=ask, stop_sequences=["END"])
    assert unsupported.value.status_code == 400 and "stop_sequences" in str(unsupported.value)
    with pytest.raises(anthropic.BadRequestError):
        client.messages.create(
            model="gpt-4o-mini", max_tokens=5, messages=ask, tool_choice={"type": "tool", "name": "get_weather"}
        )
    malformed = httpx.post(
        f"{base_url}/messages",
        headers={"x-api-key": key, "Content-Type": "application/json"},
        content=b'{"model": "gpt-4o-mini", "messages": [',
    )
    body = malformed.json()
    assert malformed.status_code == 400 and body["type"] == "error"
    assert body["error"]["type"] == "invalid_request_error" and body["error"]["code"] == "invalid_json"
    with pytest.raises(anthropic.NotFoundError):
        client.messages.count_tokens(model="no-such-model", messages=ask)


WEATHER: ChatCompletionFunctionToolParam = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string", "maxLength": 40}},
            "required": ["city"],
        },
    },
}
TIME: ChatCompletionFunctionToolParam = {
    "type": "function",
    "function": {"name": "get_time", "description": "The time now", "parameters": {"type": "object", "properties": {}}},
}


def test_tool_calls_on_the_embedded_model_with_the_sdk(sdk_stack: tuple[str, str, str]) -> None:
    """No key needed: the grammar makes SmolLM2's answer a valid call of an offered tool, arguments per its schema."""
    base_url, key, _ = sdk_stack
    client = openai.OpenAI(base_url=base_url, api_key=key, max_retries=0)
    ask: list[ChatCompletionMessageParam] = [{"role": "user", "content": "What is the weather in Paris?"}]
    forced = client.chat.completions.create(
        model="smollm2-135m-instruct", messages=ask, tools=[WEATHER, TIME], tool_choice="required", max_tokens=40
    )
    (call,) = forced.choices[0].message.tool_calls or []
    assert isinstance(call, ChatCompletionMessageFunctionToolCall)
    assert forced.choices[0].finish_reason == "tool_calls" and call.function.name in ("get_weather", "get_time")
    assert isinstance(json.loads(call.function.arguments), dict)

    named = client.chat.completions.create(
        model="smollm2-135m-instruct",
        messages=ask,
        tools=[WEATHER, TIME],
        tool_choice={"type": "function", "function": {"name": "get_weather"}},
        max_tokens=40,
    )
    (call,) = named.choices[0].message.tool_calls or []
    assert isinstance(call, ChatCompletionMessageFunctionToolCall)
    assert call.function.name == "get_weather" and isinstance(json.loads(call.function.arguments)["city"], str)

    # the result goes back as a tool message and the model answers in words (no tools offered: it must)
    answered = client.chat.completions.create(
        model="smollm2-135m-instruct",
        messages=[
            *ask,
            {
                "role": "assistant",
                "tool_calls": [
                    {
                        "id": call.id,
                        "type": "function",
                        "function": {"name": call.function.name, "arguments": call.function.arguments},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": call.id, "content": "Sunny, 21 C"},
        ],
        tools=[WEATHER],
        tool_choice="none",
        max_tokens=24,
    )
    assert answered.choices[0].message.content and not answered.choices[0].message.tool_calls

    either = client.chat.completions.create(
        model="smollm2-135m-instruct", messages=ask, tools=[WEATHER], tool_choice="auto", max_tokens=40
    )
    message = either.choices[0].message
    assert bool(message.content) != bool(message.tool_calls)  # an answer or a valid call, never broken JSON


def test_responses_api_with_the_sdk_text_and_streaming(sdk_stack: tuple[str, str, str], providers: Providers) -> None:
    base_url, key, _ = sdk_stack
    client = openai.OpenAI(base_url=base_url, api_key=key, max_retries=0)
    providers.openai_app.state.reply = "Hello from the OpenAI test server"
    response = client.responses.create(model="gpt-4o-mini", instructions="Be brief.", input="Say hello")
    assert response.output_text == "Hello from the OpenAI test server" and response.status == "completed"
    assert (
        response.usage is not None
        and response.usage.input_tokens == 11
        and response.usage.output_tokens == 7
        and response.id.startswith("resp_")
    )
    sent = providers.openai_app.state.requests[-1]["body"]["messages"]
    assert sent == [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Say hello"}]

    with client.responses.stream(model="gpt-4o-mini", input=[{"role": "user", "content": "Stream it"}]) as stream:
        deltas = [event.delta for event in stream if event.type == "response.output_text.delta"]
        final = stream.get_final_response()
    assert "".join(deltas) == "Hello from the OpenAI test server" == final.output_text and len(deltas) > 1

    local = client.responses.create(model="smollm2-135m-instruct", input="Name a color.", max_output_tokens=8)
    assert local.output_text.strip() and local.model == "smollm2-135m-instruct"


def test_responses_api_function_tools_round_trip(sdk_stack: tuple[str, str, str], providers: Providers) -> None:
    base_url, key, _ = sdk_stack
    client = openai.OpenAI(base_url=base_url, api_key=key, max_retries=0)
    tool: FunctionToolParam = {
        "type": "function",
        "strict": None,
        "name": "fibonacci",
        "description": "The n-th Fibonacci number",
        "parameters": {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]},
    }
    asked = client.responses.create(model="gpt-4o-mini", input="What is fib(10)?", tools=[tool])
    (call,) = [item for item in asked.output if item.type == "function_call"]
    assert call.name == "fibonacci" and json.loads(call.arguments) == {"n": 10}
    offered = providers.openai_app.state.requests[-1]["body"]["tools"]
    assert offered[0]["function"]["name"] == "fibonacci"

    providers.openai_app.state.reply = "fib(10) is 55"
    conversation: ResponseInputParam = [
        {"role": "user", "content": "What is fib(10)?"},
        {"type": "function_call", "call_id": call.call_id, "name": call.name, "arguments": call.arguments},
        {"type": "function_call_output", "call_id": call.call_id, "output": "55"},
    ]
    answered = client.responses.create(model="gpt-4o-mini", input=conversation)
    assert answered.output_text == "fib(10) is 55"
    sent = providers.openai_app.state.requests[-1]["body"]["messages"]
    assert sent[1]["tool_calls"][0]["id"] == call.call_id and sent[2] == {
        "role": "tool",
        "tool_call_id": call.call_id,
        "content": "55",
    }
    with pytest.raises(openai.BadRequestError) as refused:
        unsupported = cast(ResponseInputParam, [{"type": "web_search_call"}])  # an item this server does not run
        client.responses.create(model="gpt-4o-mini", input=unsupported)
    assert refused.value.code == "unsupported_input"


def test_tool_calls_stream_as_deltas_with_the_sdk(sdk_stack: tuple[str, str, str]) -> None:
    """The SDK's streamed chunks carry tool_calls deltas (id and name, then the arguments in pieces), from a provider
    and from the embedded model; the ledger gets the whole call's usage."""
    base_url, key, _ = sdk_stack
    client = openai.OpenAI(base_url=base_url, api_key=key, max_retries=0)
    ask: list[ChatCompletionMessageParam] = [{"role": "user", "content": "What is the weather in Paris?"}]
    choices: tuple[tuple[str, ChatCompletionToolChoiceOptionParam], ...] = (
        ("gpt-4o-mini", "auto"),
        ("claude-3-5-haiku-latest", "auto"),
        ("smollm2-135m-instruct", "required"),
    )
    for model, choice in choices:
        stream = client.chat.completions.create(
            model=model, messages=ask, tools=[WEATHER], tool_choice=choice, stream=True, max_tokens=40
        )
        name, arguments, finish = "", "", None
        for chunk in stream:
            for choice_delta in chunk.choices:
                for call in choice_delta.delta.tool_calls or []:
                    name += call.function.name or "" if call.function else ""
                    arguments += call.function.arguments or "" if call.function else ""
                finish = choice_delta.finish_reason or finish
        assert name == "get_weather" and isinstance(json.loads(arguments), dict) and finish == "tool_calls", model
