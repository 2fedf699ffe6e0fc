"""Idempotency-Key on the creating calls: a retried POST returns the first answer instead of acting twice; the same
key with another body, or while the first still runs, is a 409; keys are per user; a failure frees the key only when
the request certainly did nothing."""

import asyncio
import socket
import threading
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis
from starlette.responses import Response, StreamingResponse

from services.api_gateway.idempotency import Claim, IdempotencyKeys
from services.api_gateway.main import create_app as create_gateway
from shared.errors import ConflictError
from tests.support import ThreadedServer, assert_error, serving
from tests.support.stack import Stack
from tests.support.users import RegisteredUser, register_and_login


def test_a_retried_post_returns_the_first_answer_without_acting_again(
    gateway: httpx.Client, user: RegisteredUser
) -> None:
    headers = {**user.headers, "Idempotency-Key": f"k-{uuid.uuid4()}"}
    first = gateway.post("/api/v1/runs", json={"goal": "once"}, headers=headers)
    again = gateway.post("/api/v1/runs", json={"goal": "once"}, headers=headers)
    assert first.status_code == again.status_code == 200
    # the echo upstream shows the request it saw: the replay carries the first request's id, so it never reached it
    assert again.json()["headers"]["x-request-id"] == first.json()["headers"]["x-request-id"]
    assert again.headers["idempotent-replayed"] == "true" and "idempotent-replayed" not in first.headers
    assert again.content == first.content


def test_the_same_key_with_another_body_is_a_conflict(gateway: httpx.Client, user: RegisteredUser) -> None:
    headers = {**user.headers, "Idempotency-Key": "reused-key"}
    assert gateway.post("/api/v1/memories", json={"content": "a"}, headers=headers).status_code == 200
    assert_error(
        gateway.post("/api/v1/memories", json={"content": "b"}, headers=headers), 409, "idempotency_key_reused"
    )


def test_keys_belong_to_one_user(gateway: httpx.Client, user: RegisteredUser, unique: str) -> None:
    other = register_and_login(gateway, f"i{unique}")
    first = gateway.post("/api/v1/plans", json={"goal": "g"}, headers={**user.headers, "Idempotency-Key": "shared"})
    second = gateway.post("/api/v1/plans", json={"goal": "g"}, headers={**other.headers, "Idempotency-Key": "shared"})
    assert "idempotent-replayed" not in second.headers
    assert second.json()["verified_identity"]["user_id"] != first.json()["verified_identity"]["user_id"]


@asynccontextmanager
async def claimed(
    redis_url: str, *, path: str, body: bytes
) -> AsyncIterator[tuple[IdempotencyKeys, dict[str, Any], Claim]]:
    """The keys, a request of a fresh user, and the claim that request took."""
    redis = Redis.from_url(redis_url)
    keys = IdempotencyKeys(redis)
    request: dict[str, Any] = {"user_id": str(uuid.uuid4()), "key": "k", "method": "POST", "path": path, "body": body}
    claim = await keys.claim(**request)
    assert isinstance(claim, Claim)
    try:
        yield keys, request, claim
    finally:
        await redis.aclose()


def test_a_retry_while_the_first_still_runs_is_told_to_wait_and_an_unavailable_service_frees_the_key(
    redis_url: str,
) -> None:
    async def scenario() -> None:
        async with claimed(redis_url, path="/runs", body=b"{}") as (keys, request, claim):
            with pytest.raises(ConflictError) as waiting:
                await keys.claim(**request)
            assert waiting.value.code == "idempotency_request_in_progress"
            assert waiting.value.headers == {"Retry-After": "1"}
            await keys.settle(claim, Response(b"down", status_code=503))
            retry = await keys.claim(**request)  # the failure freed it: the retry acts
            assert isinstance(retry, Claim)
            await keys.settle(retry, Response(b'{"ok": true}', status_code=201, media_type="application/json"))
            replay = await keys.claim(**request)
            assert isinstance(replay, Response) and replay.status_code == 201 and replay.body == b'{"ok": true}'

    asyncio.run(scenario())


def test_a_streamed_answer_is_stored_whole(redis_url: str) -> None:
    async def parts() -> AsyncIterator[bytes]:
        yield b'{"items": '
        yield b"[1, 2]}"

    async def scenario() -> None:
        async with claimed(redis_url, path="/memories", body=b"[]") as (keys, request, claim):
            answer = StreamingResponse(parts(), status_code=200, media_type="application/json")
            streamed = await keys.settle(claim, answer)
            assert isinstance(streamed, StreamingResponse)
            chunks = [chunk async for chunk in streamed.body_iterator]
            assert b"".join(c if isinstance(c, bytes) else str(c).encode() for c in chunks) == b'{"items": [1, 2]}'
            replay = await keys.claim(**request)
            assert isinstance(replay, Response) and replay.body == b'{"items": [1, 2]}'

    asyncio.run(scenario())


def test_bad_keys_and_other_routes(gateway: httpx.Client, user: RegisteredUser) -> None:
    assert_error(
        gateway.post("/api/v1/runs", json={}, headers={**user.headers, "Idempotency-Key": "has space"}),
        400,
        "invalid_idempotency_key",
    )
    assert_error(
        gateway.post("/api/v1/runs", json={}, headers={**user.headers, "Idempotency-Key": "x" * 256}),
        400,
        "invalid_idempotency_key",
    )
    # routes that do not take keys ignore them (a GET is idempotent anyway)
    headers = {**user.headers, "Idempotency-Key": "ignored"}
    one, two = gateway.get("/api/v1/runs", headers=headers), gateway.get("/api/v1/runs", headers=headers)
    assert one.json()["headers"]["x-request-id"] != two.json()["headers"]["x-request-id"]


def test_a_memory_posted_twice_with_one_key_is_stored_once(platform_gateway: ThreadedServer, unique: str) -> None:
    with httpx.Client(base_url=platform_gateway.url, timeout=30) as client:
        user = register_and_login(client, f"r{unique}")
        headers = {**user.headers, "Idempotency-Key": "store-once"}
        body = {"content": "The user's first retry-safe memory", "memory_type": "fact"}
        first, again = (client.post("/api/v1/memories", json=body, headers=headers) for _ in range(2))
        assert first.status_code == again.status_code == 201 and first.json()["id"] == again.json()["id"]
        assert len(client.get("/api/v1/memories", headers=user.headers).json()["items"]) == 1


def test_a_service_that_may_have_acted_before_failing_keeps_the_key_pending(redis_url: str) -> None:
    async def scenario() -> None:
        async with claimed(redis_url, path="/runs", body=b"{}") as (keys, request, claim):
            await keys.settle(claim, Response(b"boom", status_code=500))
            with pytest.raises(ConflictError) as waiting:
                await keys.claim(**request)
            assert waiting.value.code == "idempotency_request_in_progress"

    asyncio.run(scenario())


def test_an_upstream_lost_after_the_request_was_sent_keeps_the_key_pending(stack: Stack, user: RegisteredUser) -> None:
    """The orchestrator died after committing a run and before answering: a retry must not create a second one."""
    vanished = socket.socket()
    vanished.bind(("127.0.0.1", 0))
    vanished.listen(8)
    stop = threading.Event()

    def read_then_vanish() -> None:
        vanished.settimeout(0.2)
        while not stop.is_set():
            try:
                connection, _ = vanished.accept()
            except TimeoutError:
                continue
            connection.recv(65536)
            connection.close()

    worker = threading.Thread(target=read_then_vanish, daemon=True)
    worker.start()
    url = f"http://127.0.0.1:{vanished.getsockname()[1]}"
    try:
        with (
            serving(create_gateway(stack.gateway_settings(agent_orchestrator_url=url))) as gw,
            httpx.Client(base_url=gw.url, timeout=10) as client,
        ):
            headers = {**user.headers, "Idempotency-Key": f"k-{uuid.uuid4()}"}
            first = client.post("/api/v1/runs", json={"goal": "once"}, headers=headers)
            assert first.status_code == 503, first.text
            retry = client.post("/api/v1/runs", json={"goal": "once"}, headers=headers)
            assert_error(retry, 409, "idempotency_request_in_progress")
    finally:
        stop.set()
        worker.join()
        vanished.close()
