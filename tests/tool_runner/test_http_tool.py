"""http_request refuses private, loopback and metadata addresses, also after redirects."""

import httpx
import pytest
from fastapi import FastAPI
from fastapi.responses import RedirectResponse

from services.tool_runner.main import create_app
from tests.support import ThreadedServer, assert_error, serving
from tests.support.settings import tool_settings
from tests.support.users import identity_headers, make_user


def _call(client: httpx.Client, url: str) -> dict:
    response = client.post("/tools/execute", json={"tool_name": "http_request", "parameters": {"url": url}})
    assert response.status_code == 200, response.text
    return response.json()


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/",
        "http://localhost:8000/health",
        "http://169.254.169.254/latest/meta-data/",
        "http://10.0.0.5/",
        "http://192.168.1.1/",
        "http://[::1]/",
        "http://0.0.0.0/",
        "http://metadata.google.internal/",
    ],
)
def test_private_and_metadata_addresses_are_blocked(tools: httpx.Client, url: str) -> None:
    body = _call(tools, url)
    assert body["status"] == "failed" and body["result"]["blocked"] in ("ssrf_blocked", "dns_failure")


def test_redirects_are_checked_hop_by_hop(database_url: str, redis_url: str) -> None:
    upstream = FastAPI()

    @upstream.get("/ok")
    async def ok() -> dict[str, str]:
        return {"hello": "world"}

    @upstream.get("/to-metadata")
    async def to_metadata() -> RedirectResponse:
        return RedirectResponse("http://169.254.169.254/latest/meta-data/")

    @upstream.get("/to-loopback")
    async def to_loopback() -> RedirectResponse:
        return RedirectResponse("http://127.0.0.2:9/")

    @upstream.get("/big")
    async def big() -> dict[str, str]:
        return {"data": "x" * 50_000}

    # 127.0.0.1 stands for a trusted internal API here; everything else private stays blocked.
    settings = tool_settings(
        database_url, redis_url, http_allowed_private_addresses=["127.0.0.1"], http_max_response_bytes=10_000
    )
    user_id = make_user(database_url)
    with (
        serving(upstream) as target,
        serving(create_app(settings)) as runner,
        httpx.Client(base_url=runner.url, timeout=30) as client,
    ):
        client.headers.update(identity_headers(user_id))
        fine = _call(client, f"{target.url}/ok")
        assert fine["status"] == "succeeded" and fine["result"]["status_code"] == 200
        assert '"world"' in fine["result"]["body"]
        for path in ("/to-metadata", "/to-loopback"):
            blocked = _call(client, f"{target.url}{path}")
            assert blocked["status"] == "failed" and blocked["result"]["blocked"] == "ssrf_blocked"
        large = _call(client, f"{target.url}/big")
        assert large["result"]["truncated"] and len(large["result"]["body"]) == 10_000
        allow_list = tool_settings(database_url, redis_url, http_allowed_hosts=["api.example.com"])
        with (
            serving(create_app(allow_list)) as strict,
            httpx.Client(base_url=strict.url, timeout=30, headers=identity_headers(user_id)) as other,
        ):
            assert _call(other, f"{target.url}/ok")["result"]["blocked"] == "host_not_allowed"


def test_bad_urls(tools: httpx.Client) -> None:
    for url in ("ftp://example.com/", "not a url", "file:///etc/passwd"):
        assert_error(
            tools.post("/tools/execute", json={"tool_name": "http_request", "parameters": {"url": url}}),
            400,
            "invalid_parameters",
        )


@pytest.mark.needs_sandbox
def test_tools_listing_and_identity(tools: httpx.Client, tool_server: ThreadedServer) -> None:
    names = {t["name"] for t in tools.get("/tools").json()}
    assert names == {"execute_python", "http_request", "memory_search", "memory_store", "llm_complete"}
    assert_error(
        httpx.post(
            f"{tool_server.url}/tools/execute", json={"tool_name": "execute_python", "parameters": {"code": "print(1)"}}
        ),
        401,
    )
    assert httpx.get(f"{tool_server.url}/health").json()["details"]["sandbox"] == "bwrap"
