"""The users' own tools over the Model Context Protocol, with the official `mcp` SDK: list a server's tools, call
one. Only network transports (streamable HTTP; SSE for older servers): a stdio server would run an arbitrary process
inside the tool-runner."""

import re
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import Any, Literal

import httpx2
from mcp import Client
from mcp.client.sse import sse_client
from mcp.client.streamable_http import StreamableHTTPError, streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client
from mcp.shared.exceptions import MCPError
from mcp_types import CallToolResult, TextContent

from shared.contracts.tools import MCP_PREFIX

PREFIX = MCP_PREFIX
# What an LLM's tool calling accepts as a function name (OpenAI's rule): longer or odder names are left out.
USABLE_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
Transport = Literal["streamable_http", "sse"]


class McpError(Exception):
    """The server could not be reached, initialised or asked (its message says why)."""


FAILURES = (httpx2.HTTPError, OSError, TimeoutError, MCPError, StreamableHTTPError)


@dataclass(frozen=True, kw_only=True)
class McpEndpoint:
    url: str
    transport: Transport
    headers: dict[str, str]
    timeout: float


def full_name(server: str, tool: str) -> str:
    return f"{PREFIX}{server}__{tool}"


def split_name(name: str) -> tuple[str, str] | None:
    """mcp__<server>__<tool> -> (server, tool); None for any other name."""
    if not name.startswith(PREFIX):
        return None
    server, sep, tool = name[len(PREFIX) :].partition("__")
    return (server, tool) if sep and server and tool else None


async def list_tools(endpoint: McpEndpoint) -> list[dict[str, Any]]:
    """The server's tools: name, description, input_schema."""
    async with _connected(endpoint) as client:
        listed = await client.list_tools()
    return [
        {"name": t.name, "description": t.description or "", "input_schema": t.input_schema or {"type": "object"}}
        for t in listed.tools
    ]


async def call_tool(endpoint: McpEndpoint, tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
    """The tool's result, normalised: its text, its structured content, and whether the server called it an error."""
    async with _connected(endpoint) as client:
        result = await client.call_tool(tool, arguments)
    return normalise(result)


def normalise(result: CallToolResult) -> dict[str, Any]:
    texts = [block.text for block in result.content if isinstance(block, TextContent)]
    others = [block.type for block in result.content if not isinstance(block, TextContent)]
    return {
        "text": "\n".join(texts),
        "structured": result.structured_content,
        "is_error": bool(result.is_error),
        **({"other_content": others} if others else {}),
    }


@asynccontextmanager
async def _connected(endpoint: McpEndpoint) -> AsyncIterator[Client]:
    try:
        async with AsyncExitStack() as stack:
            client = Client(await _transport(endpoint, stack), read_timeout_seconds=endpoint.timeout, cache=None)
            yield await stack.enter_async_context(client)
    except* FAILURES as group:  # the SDK's task groups wrap what failed inside them
        raise McpError("; ".join(_said(e) for e in _leaves(group))[:2000]) from group


async def _transport(endpoint: McpEndpoint, stack: AsyncExitStack) -> Any:
    if endpoint.transport == "sse":
        return sse_client(endpoint.url, headers=endpoint.headers, timeout=endpoint.timeout)
    http = await stack.enter_async_context(
        create_mcp_http_client(headers=endpoint.headers, timeout=httpx2.Timeout(endpoint.timeout))
    )
    return streamable_http_client(endpoint.url, http_client=http)


def _leaves(group: BaseExceptionGroup[Exception]) -> list[Exception]:
    found: list[Exception] = []
    for error in group.exceptions:
        found += _leaves(error) if isinstance(error, BaseExceptionGroup) else [error]
    return found


def _said(error: Exception) -> str:
    return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
