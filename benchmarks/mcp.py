"""MCP both ways, measured against baselines in the same run.

1. A tool of a registered MCP server called through the tool-runner (POST /tools/execute mcp__bench__add: the
   registry lookup, the SSRF check, a connection with the official SDK, the tool_executions row) vs the same call made
   straight to the same server with the official client, connecting per call as the tool-runner does. P50/P99.
2. CognitionOS as an MCP server through the gateway's /mcp: tools/list and tools/call (list_runs) in one session of
   the official client, P50/P99, and the same call as REST (GET /api/v1/runs) in the same run.

    python -m benchmarks.mcp [--calls 200]
"""

import argparse
import asyncio
import time
from collections.abc import Awaitable, Callable
from contextlib import ExitStack

import httpx
import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

from benchmarks.common import backends, percentile, service_process, summary
from benchmarks.gateway import SECRETS, login
from services.tool_runner.mcp import McpEndpoint, call_tool
from tests.support import serving
from tests.support.mcp_server import create_mcp_test_app


async def timed(call: Callable[[], Awaitable[object]], count: int) -> list[float]:
    for _ in range(10):  # warm up
        await call()
    samples = []
    for _ in range(count):
        started = time.perf_counter()
        await call()
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def through_the_tool_runner(mcp_url: str, gateway: str, token: str, count: int) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    registered = httpx.post(
        f"{gateway}/api/v1/tools/mcp-servers", json={"name": "bench", "url": mcp_url}, headers=headers, timeout=60
    )
    registered.raise_for_status()
    endpoint = McpEndpoint(url=mcp_url, transport="streamable_http", headers={}, timeout=30)

    async def measure() -> tuple[list[float], list[float]]:
        async with httpx.AsyncClient(base_url=gateway, headers=headers, timeout=60) as client:

            async def via_runner() -> None:
                body = {"tool_name": "mcp__bench__add", "parameters": {"a": 2, "b": 3}}
                answer = await client.post("/api/v1/tools/execute", json=body)
                assert answer.json()["status"] == "succeeded", answer.text

            async def direct() -> None:
                assert (await call_tool(endpoint, "add", {"a": 2, "b": 3}))["text"] == "5"

            return await timed(via_runner, count), await timed(direct, count)

    runner, direct = asyncio.run(measure())
    print(f"1. an MCP tool call, {count} each:")
    print(f"   through gateway + tool-runner   {summary(runner)}")
    print(f"   direct, official client         {summary(direct)}")
    print(
        f"   added: p50 {percentile(runner, 50) - percentile(direct, 50):.2f} ms, "
        f"p99 {percentile(runner, 99) - percentile(direct, 99):.2f} ms"
    )


def cognitionos_as_a_server(gateway: str, token: str, count: int) -> None:
    async def measure() -> tuple[list[float], list[float], list[float]]:
        http = create_mcp_http_client(headers={"Authorization": f"Bearer {token}"}, timeout=httpx2.Timeout(60))
        async with (
            Client(streamable_http_client(f"{gateway}/mcp", http_client=http), cache=None) as client,
            httpx.AsyncClient(base_url=gateway, headers={"Authorization": f"Bearer {token}"}) as rest,
        ):

            async def listed() -> None:
                await client.list_tools()

            async def called() -> None:
                assert not (await client.call_tool("list_runs", {"limit": 5})).is_error

            async def as_rest() -> None:
                (await rest.get("/api/v1/runs", params={"limit": 5})).raise_for_status()

            return await timed(listed, count), await timed(called, count), await timed(as_rest, count)

    listed, called, rest = asyncio.run(measure())
    print(f"2. CognitionOS at the gateway's /mcp, one session, {count} each:")
    print(f"   tools/list                      {summary(listed)}")
    print(f"   tools/call list_runs            {summary(called)}")
    print(f"   baseline: GET /api/v1/runs      {summary(rest)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=200)
    args = parser.parse_args()
    with backends() as urls, serving(create_mcp_test_app()) as mcp_server, ExitStack() as stack:
        env = {
            **urls,
            **SECRETS,
            "LOCAL_LLM_ENABLED": "false",
            "HTTP_ALLOWED_PRIVATE_ADDRESSES": '["127.0.0.1"]',  # the MCP server here listens on loopback
            "RATE_LIMIT_USER_BURST": "1000000",
            "RATE_LIMIT_USER_PER_MINUTE": "1000000",
            "RATE_LIMIT_IP_BURST": "1000000",
            "RATE_LIMIT_IP_PER_MINUTE": "1000000",
        }
        auth = stack.enter_context(service_process("auth_service", env))
        tools = stack.enter_context(service_process("tool_runner", env))
        orchestrator = stack.enter_context(service_process("agent_orchestrator", {**env, "WORKER_ENABLED": "false"}))
        gateway = stack.enter_context(
            service_process(
                "api_gateway",
                {
                    **env,
                    "AUTH_SERVICE_URL": auth,
                    "TOOL_RUNNER_URL": tools,
                    "AGENT_ORCHESTRATOR_URL": orchestrator,
                },
            )
        )
        token = login(gateway)
        through_the_tool_runner(f"{mcp_server.url}/mcp", gateway, token, args.calls)
        cognitionos_as_a_server(gateway, token, args.calls)


if __name__ == "__main__":
    main()
