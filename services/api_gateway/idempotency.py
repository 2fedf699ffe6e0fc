"""Safe retries of creating calls (POST /runs, /plans, /memories, /memories/batch, /memories/import) with an
`Idempotency-Key` header, as Stripe does: the same key and body return the first answer (replayed,
`Idempotent-Replayed: true`); the same key with another body is a 409; a retry while the first is still running is a
409 too. Keys are per user, kept 24 hours in Redis.

A failure frees the key only when the request certainly did nothing: the service could not be reached, or it answered
503 (unavailable, before acting). Any other failure (a lost connection, a timeout, another 5xx) may come after the
service committed, so the key stays pending until PENDING_SECONDS lapse; a retry after that reaches the service, and
the services that create runs store the key themselves and answer it with the first run.
"""

import base64
import hashlib
import json
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis
from starlette.responses import Response, StreamingResponse

from shared.errors import BadRequestError, ConflictError

HEADER = "idempotency-key"
KEY_SHAPE = re.compile(r"^[\x21-\x7e]{1,255}$")  # printable ASCII, no spaces, as the header's draft RFC suggests
KEEP_SECONDS = 24 * 3600
PENDING_SECONDS = 300  # a first request that never finishes (the gateway died) frees its key after this
REPLAYED_HEADERS = ("content-type",)


@dataclass(frozen=True, slots=True, kw_only=True)
class Claim:
    """A key this request holds while it runs; the answer is stored under it when it ends."""

    redis_key: str
    fingerprint: str


class IdempotencyKeys:
    def __init__(self, redis: Redis) -> None:
        self.redis = redis

    async def claim(self, *, user_id: str, key: str, method: str, path: str, body: bytes) -> Claim | Response:
        """Take the key for this request, or answer from the first request that took it."""
        if not KEY_SHAPE.match(key):
            raise BadRequestError(
                "Idempotency-Key must be 1 to 255 printable ASCII characters", code="invalid_idempotency_key"
            )
        redis_key = "idem:" + hashlib.sha256(f"{user_id}\n{method}\n{path}\n{key}".encode()).hexdigest()
        fingerprint = hashlib.sha256(body).hexdigest()
        pending = json.dumps({"state": "pending", "fingerprint": fingerprint})
        if await self.redis.set(redis_key, pending, nx=True, ex=PENDING_SECONDS):
            return Claim(redis_key=redis_key, fingerprint=fingerprint)
        raw = await self.redis.get(redis_key)
        if raw is None:  # the first request just ended in a failure and freed it: this one takes it
            return await self.claim(user_id=user_id, key=key, method=method, path=path, body=body)
        first = json.loads(raw)
        if first["fingerprint"] != fingerprint:
            raise ConflictError(
                "This Idempotency-Key was used with a different request body",
                code="idempotency_key_reused",
            )
        if first["state"] == "pending":
            raise ConflictError(
                "A request with this Idempotency-Key is still in progress; retry shortly",
                code="idempotency_request_in_progress",
                headers={"Retry-After": "1"},
            )
        return _replayed(first)

    async def settle(self, claim: Claim, response: Response) -> Response:
        """Store the answer (the whole body, also when it streams) and hand it on; a 503 frees the key, and another
        5xx leaves it pending (the service may have acted before it failed)."""
        if response.status_code >= 500:
            if response.status_code == 503:
                await self.release(claim)
            return response
        if not isinstance(response, StreamingResponse):
            await self._store(claim, response, bytes(response.body))
            return response
        original = response.body_iterator

        async def tee() -> AsyncIterator[bytes]:
            chunks: list[bytes] = []
            try:
                async for chunk in original:
                    data = chunk if isinstance(chunk, bytes) else str(chunk).encode()
                    chunks.append(data)
                    yield data
            except BaseException:
                # The answer broke off mid-body: the service acted, so the key stays pending rather than free.
                raise
            await self._store(claim, response, b"".join(chunks))

        response.body_iterator = tee()
        return response

    async def release(self, claim: Claim) -> None:
        await self.redis.delete(claim.redis_key)

    async def _store(self, claim: Claim, response: Response, body: bytes) -> None:
        headers = {name: response.headers[name] for name in REPLAYED_HEADERS if name in response.headers}
        stored = {
            "state": "done",
            "fingerprint": claim.fingerprint,
            "status": response.status_code,
            "headers": headers,
            "body": base64.b64encode(body).decode(),
        }
        await self.redis.set(claim.redis_key, json.dumps(stored), ex=KEEP_SECONDS)


def _replayed(first: dict[str, Any]) -> Response:
    headers = {**first["headers"], "Idempotent-Replayed": "true"}
    return Response(base64.b64decode(first["body"]), status_code=int(first["status"]), headers=headers)
