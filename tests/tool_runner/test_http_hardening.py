"""http_request under attack, each test named after what it stops: IPv6 addresses that lead to private IPv4,
a server that drips bytes to hold a worker, unreachable targets turned into server errors, proxies from the
environment that would bypass the address check."""

import asyncio
import ipaddress
import time
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from fastapi import FastAPI
from fastapi.responses import StreamingResponse

from services.tool_runner.http_tool import is_public
from services.tool_runner.main import create_app
from tests.support import free_port, serving, sql_scalar
from tests.support.settings import tool_settings
from tests.support.users import identity_headers, make_user


@pytest.mark.parametrize(
    "address",
    [
        "::ffff:127.0.0.1",  # IPv4-mapped
        "64:ff9b::a9fe:a9fe",  # NAT64 of 169.254.169.254
        "64:ff9b::a00:5",  # NAT64 of 10.0.0.5
        "64:ff9b:1::a00:5",  # local-use NAT64 prefix
        "2002:a00:5::1",  # 6to4 of 10.0.0.5
        "2002:7f00:1::1",  # 6to4 of 127.0.0.1
        "2001:0:4136:e378:8000:63bf:f5ff:fffe",  # Teredo, client 10.0.0.1
    ],
)
def test_ipv6_addresses_that_lead_to_private_ipv4_are_not_public(address: str) -> None:
    assert not is_public(ipaddress.ip_address(address))


def test_public_addresses_stay_public() -> None:
    assert is_public(ipaddress.ip_address("93.184.216.34"))
    assert is_public(ipaddress.ip_address("64:ff9b::5db8:d822"))  # NAT64 of that public address
    assert is_public(ipaddress.ip_address("2606:4700:4700::1111"))


def _execute(client: httpx.Client, url: str, timeout: float = 30) -> dict:
    response = client.post(
        "/tools/execute",
        json={"tool_name": "http_request", "parameters": {"url": url}, "timeout_seconds": timeout},
    )
    assert response.status_code == 200, response.text
    return response.json()


@pytest.fixture
def trusting_loopback(database_url: str, redis_url: str) -> Iterator[httpx.Client]:
    # 127.0.0.1 stands for a trusted internal API here, as an operator may allow it.
    settings = tool_settings(database_url, redis_url, http_allowed_private_addresses=["127.0.0.1"])
    user_id = make_user(database_url)
    with (
        serving(create_app(settings)) as runner,
        httpx.Client(base_url=runner.url, timeout=60, headers=identity_headers(user_id)) as client,
    ):
        yield client


def test_a_server_dripping_bytes_cannot_hold_a_request_past_its_deadline(trusting_loopback: httpx.Client) -> None:
    upstream = FastAPI()

    @upstream.get("/drip")
    async def drip() -> StreamingResponse:
        async def body() -> AsyncIterator[bytes]:
            for _ in range(60):
                yield b"x"
                await asyncio.sleep(0.5)

        return StreamingResponse(body())

    with serving(upstream) as target:
        started = time.monotonic()
        result = _execute(trusting_loopback, f"{target.url}/drip", timeout=2)
        elapsed = time.monotonic() - started
    assert result["status"] == "timeout" and elapsed < 6, (result, elapsed)


def test_an_unreachable_target_is_a_recorded_failed_run_not_a_server_error(
    trusting_loopback: httpx.Client, database_url: str
) -> None:
    result = _execute(trusting_loopback, f"http://127.0.0.1:{free_port()}/")
    assert result["status"] == "failed" and result["result"]["blocked"] == "network_error"
    assert "Connect" in result["error"]
    recorded = sql_scalar(database_url, "SELECT status FROM tool_executions WHERE id = :i", i=result["execution_id"])
    assert recorded == "failed"
    # The next caller is served normally.
    assert _execute(trusting_loopback, f"http://127.0.0.1:{free_port()}/")["status"] == "failed"


def test_proxy_variables_in_the_environment_cannot_reroute_requests(
    trusting_loopback: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    upstream = FastAPI()

    @upstream.get("/ok")
    async def ok() -> dict[str, str]:
        return {"reached": "directly"}

    dead_proxy = f"http://127.0.0.1:{free_port()}"
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.setenv(name, dead_proxy)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    with serving(upstream) as target:
        result = _execute(trusting_loopback, f"{target.url}/ok")
    assert result["status"] == "succeeded" and "directly" in result["result"]["body"]
