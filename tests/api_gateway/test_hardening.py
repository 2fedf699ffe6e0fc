"""Attacks on the gateway, each test named after what it stops: oversized bodies, path tricks that dodge the role
rules, a forged client address, key guessing, forged cache entries, a token flood and internal addresses leaking
out."""

import asyncio
import hashlib
import http.client
import json
import socket
import time
from collections.abc import Iterator
from urllib.parse import urlparse

import httpx
import pytest
from redis.asyncio import Redis

from services.api_gateway.authentication import ExpiringCache
from services.api_gateway.main import create_app as create_gateway
from shared.identity import Identity
from shared.revocation import api_key_cache_key
from tests.support import assert_error, eventually, forget_ip_limit, serving, sql_scalar
from tests.support.stack import Stack
from tests.support.users import RegisteredUser


def _raw_request(url: str, method: str, path: str, headers: dict[str, str], body: bytes = b"") -> tuple[int, dict]:
    """http.client sends the path exactly as written (httpx and browsers would resolve dot segments first)."""
    parsed = urlparse(url)
    connection = http.client.HTTPConnection(parsed.hostname or "", parsed.port, timeout=10)
    try:
        connection.request(method, path, body=body, headers={"Content-Type": "application/json", **headers})
        response = connection.getresponse()
        return response.status, json.loads(response.read() or b"{}")
    finally:
        connection.close()


@pytest.fixture
def small_body_gateway(stack: Stack) -> Iterator[str]:
    with serving(create_gateway(stack.gateway_settings(max_request_body_bytes=4096))) as gw:
        yield gw.url


class TestOversizedBodies:
    def test_declared_oversized_body_is_refused_before_reading(self, small_body_gateway: str) -> None:
        response = httpx.post(
            f"{small_body_gateway}/api/v1/auth/register", content=b"x" * 10_000, headers={"Content-Type": "text/plain"}
        )
        assert assert_error(response, 413, "payload_too_large")["details"]["max_bytes"] == 4096

    def test_chunked_oversized_body_is_cut_off_as_it_arrives(self, small_body_gateway: str) -> None:
        def chunks() -> Iterator[bytes]:
            for _ in range(50):
                yield b"y" * 1024

        response = httpx.post(f"{small_body_gateway}/api/v1/auth/register", content=chunks())
        assert_error(response, 413, "payload_too_large")

    def test_unauthenticated_register_cannot_make_auth_hold_a_large_body(self, stack: Stack) -> None:
        # The auth-service's own limit (64 KiB), straight to its port as an attacker inside the network would.
        response = httpx.post(f"{stack.auth.url}/register", content=b"{" + b" " * 200_000 + b"}")
        assert_error(response, 413, "payload_too_large")

    def test_bodies_under_the_limit_pass(self, small_body_gateway: str, user: RegisteredUser) -> None:
        response = httpx.post(f"{small_body_gateway}/api/v1/memories/echo", json={"a": "b" * 100}, headers=user.headers)
        assert response.status_code == 200, response.text


class TestPathTricks:
    @pytest.mark.parametrize("path", ["/api/v1/runs/../agents", "/api/v1/runs/%2e%2e/agents", "/api/v1/auth/./users"])
    def test_dot_segments_cannot_reach_another_route_than_the_one_checked(
        self, stack: Stack, user: RegisteredUser, path: str
    ) -> None:
        status, body = _raw_request(stack.gateway.url, "POST", path, user.headers, b"{}")
        assert status == 400 and body["error"]["code"] == "invalid_path"

    def test_trailing_slash_reveals_no_internal_url(self, stack: Stack, user: RegisteredUser) -> None:
        response = httpx.get(f"{stack.gateway.url}/api/v1/memories/echo/", headers=user.headers)
        assert response.status_code == 200 and "location" not in response.headers
        assert response.json()["path"] == "/memories/echo"

    def test_services_do_not_redirect_to_their_own_address(self, stack: Stack) -> None:
        response = httpx.get(f"{stack.auth.url}/me/")
        assert response.status_code == 404 and "location" not in response.headers


class TestClientAddress:
    def test_forwarded_for_from_loopback_does_not_reset_the_ip_limit(self, stack: Stack, redis_url: str) -> None:
        forget_ip_limit(redis_url)
        settings = stack.gateway_settings(rate_limit_ip_burst=3, rate_limit_ip_per_minute=1, trust_forwarded_for=False)
        try:
            with serving(create_gateway(settings)) as gw, httpx.Client(base_url=gw.url) as client:
                codes = [
                    client.post(
                        "/api/v1/auth/login",
                        json={"username": "nobody", "password": "x"},
                        headers={"X-Forwarded-For": f"203.0.113.{n}"},
                    ).status_code
                    for n in range(5)
                ]
            assert codes[-1] == 429
        finally:
            forget_ip_limit(redis_url)

    def test_guessing_api_keys_spends_the_ip_limit(self, stack: Stack, redis_url: str) -> None:
        forget_ip_limit(redis_url)
        settings = stack.gateway_settings(rate_limit_ip_burst=3, rate_limit_ip_per_minute=1)
        try:
            with serving(create_gateway(settings)) as gw, httpx.Client(base_url=gw.url) as client:
                codes = [
                    client.get("/api/v1/memories/echo", headers={"X-API-Key": f"cos_guess{n:040d}"}).status_code
                    for n in range(6)
                ]
            assert codes[:3] == [401, 401, 401] and codes[3:] == [429, 429, 429]
        finally:
            forget_ip_limit(redis_url)


def test_identity_written_into_the_key_cache_by_a_redis_client_is_not_trusted(
    gateway: httpx.Client, redis_url: str
) -> None:
    key = "cos_" + "f" * 40
    forged = {
        "user_id": "00000000-0000-0000-0000-000000000001",
        "username": "x",
        "role": "admin",
        "auth_method": "api_key",
    }
    cache_key = api_key_cache_key(hashlib.sha256(key.encode()).hexdigest())

    async def plant(value: str) -> None:
        async with Redis.from_url(redis_url) as redis:
            await redis.set(cache_key, value, ex=60)

    for value in (json.dumps(forged), "0" * 64 + "." + json.dumps(forged)):
        asyncio.run(plant(value))
        assert_error(gateway.get("/api/v1/memories/echo", headers={"X-API-Key": key}), 401, "invalid_api_key")


def test_a_flood_of_valid_tokens_cannot_grow_the_verified_token_cache() -> None:
    tokens: ExpiringCache[Identity] = ExpiringCache(max_entries=2)
    far = time.time() + 3600
    for n in range(3):
        tokens.put(f"token-{n}", Identity(f"user-{n}", f"u{n}", "user", "jwt", "sid"), until=far)
    assert tokens.get("token-0") is None  # the least recently used left
    assert tokens.get("token-2") == Identity("user-2", "u2", "user", "jwt", "sid")


def _api_key(gateway: httpx.Client, user: RegisteredUser) -> tuple[str, str]:
    created = gateway.post("/api/v1/auth/api-keys", headers=user.headers, json={"name": "held"}).json()
    return created["id"], created["key"]


def test_a_revoked_api_key_is_refused_at_once_by_a_replica_that_holds_it_in_memory(
    gateway: httpx.Client, stack: Stack, user: RegisteredUser
) -> None:
    key_id, key = _api_key(gateway, user)
    with serving(create_gateway(stack.gateway_settings())) as replica, httpx.Client(base_url=replica.url) as other:
        for _ in range(2):  # the second answer comes from the replica's memory
            assert other.get("/api/v1/auth/me", headers={"X-API-Key": key}).json()["id"] == user.id
        assert gateway.delete(f"/api/v1/auth/api-keys/{key_id}", headers=user.headers).status_code == 200
        assert_error(other.get("/api/v1/auth/me", headers={"X-API-Key": key}), 401, "invalid_api_key")


def test_an_api_key_entry_rewritten_in_redis_cannot_change_the_identity_a_gateway_holds(
    gateway: httpx.Client, user: RegisteredUser, redis_url: str
) -> None:
    """Whoever can write to Redis replaces the key's entry with an admin identity: the gateway's memory is not
    confirmed, the forged entry's seal fails, and the key's real owner comes from the database."""
    _, key = _api_key(gateway, user)
    for _ in range(2):
        assert gateway.get("/api/v1/auth/me", headers={"X-API-Key": key}).json()["id"] == user.id
    cache_key = api_key_cache_key(hashlib.sha256(key.encode()).hexdigest())
    forged = {
        "user_id": "00000000-0000-0000-0000-000000000001",
        "username": "x",
        "role": "admin",
        "auth_method": "api_key",
    }

    async def plant() -> None:
        async with Redis.from_url(redis_url) as redis:
            await redis.set(cache_key, "0" * 64 + "." + json.dumps(forged), ex=60)

    asyncio.run(plant())
    me = gateway.get("/api/v1/auth/me", headers={"X-API-Key": key})
    assert me.status_code == 200 and me.json()["id"] == user.id


def test_a_flood_of_valid_api_keys_cannot_grow_the_gateways_memory_of_them() -> None:
    held: ExpiringCache[tuple[Identity, str]] = ExpiringCache(max_entries=2, clock=time.monotonic)
    for n in range(3):
        held.put(
            f"key-{n}", (Identity(f"user-{n}", f"u{n}", "user", "api_key"), f"sealed-{n}"), until=time.monotonic() + 60
        )
    assert held.get("key-0") is None  # the least recently used left
    assert held.get("key-2") == (Identity("user-2", "u2", "user", "api_key"), "sealed-2")


def test_health_reveals_no_internal_addresses(gateway: httpx.Client, stack: Stack) -> None:
    body = gateway.get("/health").text
    for url in (stack.auth.url, stack.echo.url, stack.dead_url):
        assert urlparse(url).netloc not in body


class TestReviewAttacks:
    @pytest.mark.parametrize(
        "encoded", ["%252e%252e", "%252E%252E", ".%252e", "%252e.", "%252e%252e%252f%252e%252e", "%25252e%25252e"]
    )
    def test_double_encoded_dot_segments_reach_the_service_as_the_path_that_was_authorised(
        self, stack: Stack, user: RegisteredUser, encoded: str
    ) -> None:
        status, echoed = _raw_request(stack.gateway.url, "POST", f"/api/v1/runs/{encoded}/agents", user.headers, b"{}")
        assert status == 200
        once_decoded = encoded.replace("%25", "%")
        assert echoed["path"] == f"/runs/{once_decoded}/agents"  # never /agents

    # (the tool-runner is routed under its /tools: its /metrics has no public path at all)
    @pytest.mark.parametrize("path", ["/api/v1/auth/metrics", "/api/v1/ai/metrics"])
    def test_service_metrics_are_never_served_to_clients(self, stack: Stack, admin_headers: dict, path: str) -> None:
        status, body = _raw_request(stack.gateway.url, "GET", path, admin_headers)
        assert status == 404 and body["error"]["code"] == "not_found"
        status, echoed = _raw_request(stack.gateway.url, "GET", "/api/v1/ai/metric%2573", admin_headers)
        assert status == 200 and echoed["path"] == "/metric%73"

    def test_a_request_head_of_any_size_is_cut_off_at_the_cap(self, stack: Stack) -> None:
        parsed = urlparse(stack.gateway.url)
        with socket.create_connection((parsed.hostname, parsed.port), timeout=10) as raw:
            raw.sendall(b"POST /api/v1/auth/login HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * (100 * 1024) + b"\r\n\r\n")
            answer = raw.recv(65536)
        assert answer.startswith(b"HTTP/1.1 431 ")
        assert b'"code": "request_header_too_large"' in answer
        with socket.create_connection((parsed.hostname, parsed.port), timeout=10) as raw:
            raw.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: ")
            with pytest.raises(OSError):  # the server stopped reading: 256 MB cannot all be sent
                for _ in range(4096):
                    raw.sendall(b"a" * (64 * 1024))
        assert httpx.get(f"{stack.gateway.url}/health", headers={"X-Fine": "a" * 8000}).status_code in (200, 503)

    def test_anonymous_requests_spend_the_ip_limit_and_leave_no_usage_rows(
        self, stack: Stack, redis_url: str, database_url: str, user: RegisteredUser, unique: str
    ) -> None:
        forget_ip_limit(redis_url)
        settings = stack.gateway_settings(rate_limit_ip_burst=3, rate_limit_ip_per_minute=1)
        try:
            with serving(create_gateway(settings)) as gw, httpx.Client(base_url=gw.url) as client:
                codes = [client.get(f"/api/v1/memories/anon-{unique}").status_code for _ in range(5)]
                forget_ip_limit(redis_url)
                assert client.get(f"/api/v1/memories/seen-{unique}", headers=user.headers).status_code == 200
                seen = "SELECT count(*) FROM api_usage WHERE path = :p"
                eventually(lambda: sql_scalar(database_url, seen, p=f"/api/v1/memories/seen-{unique}") == 1)
        finally:
            forget_ip_limit(redis_url)
        assert codes == [401, 401, 401, 429, 429]
        assert sql_scalar(database_url, seen, p=f"/api/v1/memories/anon-{unique}") == 0

    def test_a_chunked_body_over_the_limit_is_413_not_400(self, stack: Stack) -> None:
        def chunks() -> Iterator[bytes]:
            yield b'{"username": "'
            for _ in range(64):
                yield b"a" * 8192

        response = httpx.post(f"{stack.auth.url}/register", content=chunks())
        assert_error(response, 413, "payload_too_large")


def test_a_broken_upstream_stream_is_aborted_not_ended_cleanly(stack: Stack, user: RegisteredUser) -> None:
    with (
        httpx.Client(base_url=stack.gateway.url, timeout=10) as client,
        client.stream("GET", "/api/v1/ai/broken-sse", headers=user.headers) as response,
    ):
        assert response.status_code == 200
        with pytest.raises(httpx.RemoteProtocolError):
            for _ in response.iter_bytes():
                pass
