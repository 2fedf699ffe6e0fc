"""CognitionOS as an MCP server, through the gateway's /mcp with the official MCP client: the caller's memory and
runs, authenticated as the REST API is."""

import asyncio
import json
from typing import Any

import httpx
import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client
from mcp_types import TextContent

from cognitionos_sdk import CognitionOS
from tests.support import ThreadedServer
from tests.support.platform import RoleScript, task


def as_mcp(url: str, key: str | None) -> Client:
    """The official client at the gateway's /mcp, with this API key (or none)."""
    headers = {"X-API-Key": key} if key else {}
    http = create_mcp_http_client(headers=headers, timeout=httpx2.Timeout(60))
    return Client(streamable_http_client(f"{url}/mcp", http_client=http), cache=None)


def structured(result: Any) -> Any:
    assert not result.is_error, result
    if result.structured_content is not None:
        return result.structured_content.get("result", result.structured_content)
    return json.loads("".join(b.text for b in result.content if isinstance(b, TextContent)))


def test_an_mcp_host_stores_and_finds_memories_and_starts_runs_as_its_user(
    platform_gateway: ThreadedServer, own_account: tuple[str, str], script: RoleScript
) -> None:
    _, key = own_account
    script.add("planner", {"tasks": [task("only", tool="noop")], "risks": []})

    async def session() -> tuple[set[str], Any, Any, Any, Any]:
        async with as_mcp(platform_gateway.url, key) as client:
            names = {t.name for t in (await client.list_tools()).tools}
            stored = structured(
                await client.call_tool("memory_store", {"content": "The user's favourite tea is a smoky lapsang"})
            )
            found = structured(await client.call_tool("memory_search", {"query": "favourite tea"}))
            started = structured(await client.call_tool("start_run", {"goal": "Do one small thing"}))
            prompts = await client.list_prompts()
            read = await client.read_resource(f"memory://{stored['id']}")
            return names, found, started, prompts, read

    names, found, started, prompts, read = asyncio.run(session())
    assert "lapsang" in json.loads(read.contents[0].text)["content"]
    assert {"memory_search", "memory_store", "start_run", "get_run", "list_runs", "send_message"} <= names
    assert any("lapsang" in m["content"] for m in found)
    assert "recall" in {p.name for p in prompts.prompts}
    with CognitionOS(platform_gateway.url, api_key=key) as sdk:
        run = sdk.runs.wait(started["run_id"], timeout=60)  # the REST API shows the run the MCP host started
        assert run.status == "succeeded" and run.goal == "Do one small thing"


def test_without_a_key_the_mcp_endpoint_is_401_and_users_stay_apart(
    platform_gateway: ThreadedServer, own_account: tuple[str, str], unique: str
) -> None:
    initialize = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "tools/list",
        "params": {},
    }
    anonymous = httpx.post(
        f"{platform_gateway.url}/mcp",
        json=initialize,
        headers={"Accept": "application/json, text/event-stream"},
    )
    assert anonymous.status_code == 401 and anonymous.json()["error"]["code"]
    _, key = own_account
    with CognitionOS(platform_gateway.url) as sdk:
        sdk.register(f"mcp_other_{unique}", f"mcp_other_{unique}@example.com", "other-account-pass")
        sdk.sign_in(f"mcp_other_{unique}", "other-account-pass")
        other_key = sdk.api_keys.create("mcp").key
        assert other_key is not None

    async def remember_then_look_as_the_other() -> Any:
        async with as_mcp(platform_gateway.url, key) as mine:
            await mine.call_tool("memory_store", {"content": f"My locker code is {unique}"})
        async with as_mcp(platform_gateway.url, other_key) as theirs:
            return structured(await theirs.call_tool("memory_search", {"query": "locker code"}))

    assert all(unique not in m["content"] for m in asyncio.run(remember_then_look_as_the_other()))


def test_bad_calls_are_mcp_errors_not_server_errors(
    platform_gateway: ThreadedServer, own_account: tuple[str, str]
) -> None:
    _, key = own_account

    async def misuse() -> list[Any]:
        async with as_mcp(platform_gateway.url, key) as client:
            return [
                await client.call_tool("no_such_tool", {}),
                await client.call_tool("memory_search", {"k": "many"}),
                await client.call_tool("get_run", {"run_id": "not-a-uuid"}),
            ]

    for result in asyncio.run(misuse()):
        assert result.is_error
    malformed = httpx.post(
        f"{platform_gateway.url}/mcp",
        content=b'{"jsonrpc": "2.0", "method": ',
        headers={"X-API-Key": key, "Content-Type": "application/json", "Accept": "application/json, text/event-stream"},
    )
    assert 400 <= malformed.status_code < 500, malformed.text
