"""Tool calls on the embedded model, which has none of its own: the tools are described in the system prompt and the
answer is constrained by a llama.cpp grammar built from their JSON schemas, so it is always either a valid call of one
of the offered tools (with arguments of that tool's schema) or, where allowed, a plain answer.

OpenAI's `tool_choice`: "none" offers no tool; "auto" (the default) lets the model answer or call (only with
LOCAL_AUTO_TOOL_CALLS: the 135M model otherwise calls a tool for nearly every message); "required" makes it call one;
`{"type": "function", "function": {"name": ...}}` makes it call that one. The conversation's earlier tool
calls and results are written back into the model's plain chat format, which has no tool roles.
"""

import json
import uuid
from typing import Any

from services.ai_runtime.providers.base import ChatRequest


def tool_mode(request: ChatRequest, *, auto_tool_calls: bool) -> tuple[list[dict[str, Any]], bool]:
    """The tools the model may call and whether it must call one (empty: answer as usual). With `auto_tool_calls`
    off, "auto" answers in words: given the choice, the 135M model calls a tool for nearly every message."""
    tools = [t for t in request.tools or [] if t.get("type", "function") == "function"]
    choice = request.tool_choice
    if not tools or choice == "none" or (choice in (None, "auto") and not auto_tool_calls):
        return [], False
    if isinstance(choice, dict):
        name = (choice.get("function") or {}).get("name")
        return [t for t in tools if t["function"]["name"] == name], True
    return tools, choice == "required"


def answer_schema(tools: list[dict[str, Any]], *, must_call: bool) -> dict[str, Any]:
    calls = [
        {
            "type": "object",
            "properties": {
                "tool": {"type": "string", "enum": [t["function"]["name"]]},
                "arguments": t["function"].get("parameters") or {"type": "object"},
            },
            "required": ["tool", "arguments"],
        }
        for t in tools
    ]
    answer = {"type": "object", "properties": {"answer": {"type": "string"}}, "required": ["answer"]}
    options = calls if must_call else [answer, *calls]
    return options[0] if len(options) == 1 else {"anyOf": options}


def tool_prompt(tools: list[dict[str, Any]], *, must_call: bool) -> str:
    listed = "\n".join(
        f"- {t['function']['name']}: {t['function'].get('description', '')} Arguments (JSON schema): "
        f"{json.dumps(t['function'].get('parameters') or {})}"
        for t in tools
    )
    how = (
        'Call one of them: answer with JSON {"tool": <name>, "arguments": {...}}.'
        if must_call
        else 'To call one, answer with JSON {"tool": <name>, "arguments": {...}}; otherwise {"answer": <your reply>}.'
    )
    return f"You can use these tools:\n{listed}\n{how}"


def plain_messages(messages: list[dict[str, Any]], *, tools_prompt: str) -> list[dict[str, Any]]:
    """OpenAI messages with tool calls and tool results as plain chat turns, and the tools described up front."""
    names: dict[str, str] = {}
    plain: list[dict[str, Any]] = []
    for message in messages:
        if message["role"] == "assistant" and message.get("tool_calls"):
            call = message["tool_calls"][0]["function"]
            names.update({c["id"]: c["function"]["name"] for c in message["tool_calls"]})
            arguments = json.loads(call.get("arguments") or "{}")
            plain.append({"role": "assistant", "content": json.dumps({"tool": call["name"], "arguments": arguments})})
        elif message["role"] == "tool":
            name = names.get(message.get("tool_call_id", ""), "the tool")
            plain.append({"role": "user", "content": f"Result of {name}: {message.get('content') or ''}"})
        else:
            plain.append({"role": message["role"], "content": message.get("content") or ""})
    if not tools_prompt:
        return plain
    if plain and plain[0]["role"] == "system":
        plain[0] = {"role": "system", "content": f"{plain[0]['content']}\n\n{tools_prompt}"}
    else:
        plain.insert(0, {"role": "system", "content": tools_prompt})
    return plain


def parse_answer(text: str) -> tuple[str, list[dict[str, Any]] | None]:
    """(content, tool_calls) from the grammar-shaped answer; text that is not the expected JSON is the content."""
    try:
        parsed = json.loads(text)
    except ValueError:
        return text, None
    if isinstance(parsed, dict) and isinstance(parsed.get("tool"), str):
        call = {
            "id": f"call_{uuid.uuid4().hex[:24]}",
            "type": "function",
            "function": {"name": parsed["tool"], "arguments": json.dumps(parsed.get("arguments") or {})},
        }
        return "", [call]
    if isinstance(parsed, dict) and isinstance(parsed.get("answer"), str):
        return parsed["answer"], None
    return text, None
