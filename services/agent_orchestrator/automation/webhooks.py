"""Webhooks: subscriptions, the outbox their deliveries are written to (in the transaction of the change each one
reports), and the dispatcher that sends them signed per the Standard Webhooks specification, retried with
exponential backoff and jitter until delivered or dead."""

import asyncio
import base64
import contextlib
import ipaddress
import json
import logging
import random
import secrets
import socket
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from cryptography.fernet import Fernet
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from standardwebhooks import Webhook as Signer

from database.models import Webhook
from services.agent_orchestrator.automation import repository
from services.agent_orchestrator.automation.schemas import (
    DeliveryResponse,
    WebhookCreate,
    WebhookResponse,
    WebhookUpdate,
)
from services.agent_orchestrator.config import OrchestratorSettings
from services.agent_orchestrator.repository import NewEvent
from shared import audit
from shared.background import BackgroundComponent
from shared.crypto import build_cipher
from shared.errors import NotFoundError, TooManyRequestsError, UnprocessableError
from shared.identity import Identity
from shared.pagination import Page, after_cursor, page_of
from shared.ssrf import Address, refused, resolve

logger = logging.getLogger(__name__)

# Run log events -> the webhook event types they are delivered as.
RUN_EVENT_TYPES: dict[str, tuple[str, ...]] = {
    "run_succeeded": ("run.succeeded",),
    "run_failed": ("run.failed",),
    "run_cancelled": ("run.cancelled",),
    "approval_requested": ("approval.requested", "run.waiting"),
    "input_requested": ("run.waiting",),
    "artifact_created": ("artifact.created",),
}
ONE_OFF_TYPES = frozenset({"run.succeeded", "run.failed", "run.cancelled"})  # what a run's own webhook is told


@lru_cache(maxsize=4)
def webhook_cipher(encryption_key: str | None, internal_secret: str) -> Fernet:
    return build_cipher(encryption_key, internal_secret, purpose="webhook-secrets")


def cipher_for(settings: OrchestratorSettings) -> Fernet:
    return webhook_cipher(settings.encryption_key, settings.internal_secret)


def new_secret() -> str:
    """A Standard Webhooks secret: whsec_ and 24 random bytes in base64."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


def allowed_private(settings: OrchestratorSettings) -> frozenset[Address]:
    return frozenset(ipaddress.ip_address(a) for a in settings.webhook_allowed_private_addresses)


async def check_url(url: str, settings: OrchestratorSettings) -> None:
    """422 url_not_allowed for a URL that is not http(s), or whose host is or resolves to an address that is not
    public (loopback, private, link-local, metadata...), unless WEBHOOK_ALLOWED_PRIVATE_ADDRESSES lets it."""
    parts = urlsplit(url)
    host = parts.hostname
    if parts.scheme not in ("http", "https") or not host:
        raise UnprocessableError("A webhook URL is an absolute http(s) URL", code="url_not_allowed")
    try:
        addresses = await resolve(host, parts.port or (443 if parts.scheme == "https" else 80))
    except (socket.gaierror, ValueError) as exc:
        raise UnprocessableError(f"Cannot resolve {host!r}", code="url_not_allowed") from exc
    allowed = allowed_private(settings)
    for address in addresses:
        if refused(address, allowed):
            raise UnprocessableError(
                f"Webhooks to {host} ({address}) are refused: not a public address",
                code="url_not_allowed",
                details={"host": host, "address": str(address)},
            )


class PublicOnlyResolver(AbstractResolver):
    """Resolves as usual, then refuses a name that leads to an address that is not public: checked again at each
    delivery, so a name that later points inside (DNS rebinding) is not followed there."""

    def __init__(self, allowed: frozenset[Any]) -> None:
        self._inner = aiohttp.ThreadedResolver()
        self._allowed = allowed

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        results = await self._inner.resolve(host, port, family)
        for result in results:
            if refused(ipaddress.ip_address(result["host"]), self._allowed):
                raise OSError(f"{host} resolves to {result['host']}, which is not public")
        return results

    async def close(self) -> None:
        await self._inner.close()


# --- subscriptions ----------------------------------------------------------------------------------------------


@dataclass
class WebhookService:
    session: AsyncSession
    settings: OrchestratorSettings

    async def create(self, identity: Identity, body: WebhookCreate) -> WebhookResponse:
        owner = uuid.UUID(identity.user_id)
        if await repository.count_webhooks(self.session, owner) >= self.settings.webhooks_per_user:
            raise TooManyRequestsError(
                f"At most {self.settings.webhooks_per_user} webhooks per user",
                code="too_many_webhooks",
                details={"limit": self.settings.webhooks_per_user},
            )
        await check_url(str(body.url), self.settings)
        secret = new_secret()
        webhook = Webhook(
            id=uuid.uuid4(),
            owner_id=owner,
            url=str(body.url),
            event_types=list(body.event_types),
            secret_encrypted=cipher_for(self.settings).encrypt(secret.encode()).decode(),
            description=body.description,
            enabled=body.enabled,
        )
        self.session.add(webhook)
        await self.session.flush()
        await self.session.refresh(webhook)
        details = body.model_dump(mode="json")
        await audit.record(
            self.session, identity, "webhook.created", target_type="webhook", target_id=webhook.id, details=details
        )
        await self.session.commit()
        return _shown(webhook).model_copy(update={"secret": secret})

    async def get(self, identity: Identity, webhook_id: uuid.UUID) -> Webhook:
        found = await repository.owned_webhook(self.session, uuid.UUID(identity.user_id), webhook_id)
        if found is None:
            raise NotFoundError("No such webhook", code="webhook_not_found")
        return found

    async def shown(self, identity: Identity, webhook_id: uuid.UUID) -> WebhookResponse:
        return _shown(await self.get(identity, webhook_id))

    async def page(self, identity: Identity, *, cursor: str | None, limit: int) -> Page[WebhookResponse]:
        rows = await repository.page_webhooks(
            self.session, uuid.UUID(identity.user_id), after=after_cursor(cursor), limit=limit + 1
        )
        return page_of(rows, limit=limit, item=_shown)

    async def update(self, identity: Identity, webhook_id: uuid.UUID, body: WebhookUpdate) -> WebhookResponse:
        webhook = await self.get(identity, webhook_id)
        before = {"url": webhook.url, "event_types": list(webhook.event_types), "enabled": webhook.enabled}
        if body.url is not None:
            await check_url(str(body.url), self.settings)
            webhook.url = str(body.url)
        if body.event_types is not None:
            webhook.event_types = list(dict.fromkeys(body.event_types))
        if body.description is not None:
            webhook.description = body.description
        if body.enabled is not None:
            webhook.enabled = body.enabled
        await self.session.flush()
        await self.session.refresh(webhook)
        details = {"before": before, "after": body.model_dump(mode="json", exclude_none=True)}
        await audit.record(
            self.session, identity, "webhook.updated", target_type="webhook", target_id=webhook.id, details=details
        )
        await self.session.commit()
        return _shown(webhook)

    async def delete(self, identity: Identity, webhook_id: uuid.UUID) -> None:
        webhook = await self.get(identity, webhook_id)
        await self.session.delete(webhook)
        details = {"url": webhook.url}
        await audit.record(
            self.session, identity, "webhook.deleted", target_type="webhook", target_id=webhook.id, details=details
        )
        await self.session.commit()

    async def deliveries(
        self, identity: Identity, webhook_id: uuid.UUID, *, cursor: str | None, limit: int
    ) -> Page[DeliveryResponse]:
        webhook = await self.get(identity, webhook_id)
        rows = await repository.page_deliveries(self.session, webhook.id, after=after_cursor(cursor), limit=limit + 1)
        return page_of(rows, limit=limit, item=DeliveryResponse.model_validate)

    async def redeliver(self, identity: Identity, webhook_id: uuid.UUID, delivery_id: uuid.UUID) -> DeliveryResponse:
        """The same message (same webhook-id) sent again, from a fresh count of attempts."""
        webhook = await self.get(identity, webhook_id)
        delivery = await repository.delivery_of(self.session, webhook.id, delivery_id)
        if delivery is None:
            raise NotFoundError("No such delivery", code="delivery_not_found")
        delivery.status, delivery.attempts, delivery.next_attempt_at = "pending", 0, datetime.now(UTC)
        delivery.last_error = None
        await self.session.flush()
        await self.session.refresh(delivery)
        details = {"webhook_id": str(webhook.id), "event_type": delivery.event_type}
        await audit.record(
            self.session,
            identity,
            "webhook.redelivered",
            target_type="webhook_delivery",
            target_id=delivery.id,
            details=details,
        )
        await self.session.commit()
        return DeliveryResponse.model_validate(delivery)

    async def ping(self, identity: Identity, webhook_id: uuid.UUID) -> DeliveryResponse:
        """A webhook.ping message to the receiver, delivered and logged like any other."""
        webhook = await self.get(identity, webhook_id)
        data = {"webhook_id": str(webhook.id), "message": "A test message from CognitionOS"}
        delivery = await repository.add_delivery(
            self.session, webhook_id=webhook.id, owner_id=webhook.owner_id, event_type="webhook.ping", data=data
        )
        await self.session.commit()
        return DeliveryResponse.model_validate(delivery)


def _shown(webhook: Webhook) -> WebhookResponse:
    return WebhookResponse(
        id=webhook.id,
        url=webhook.url,
        event_types=list(webhook.event_types),
        description=webhook.description,
        enabled=webhook.enabled,
        created_at=webhook.created_at,
    )


# --- the outbox -------------------------------------------------------------------------------------------------


async def enqueue_run_events(session: AsyncSession, events: Sequence[NewEvent]) -> None:
    """Deliveries for the run events that webhooks are told of, in the caller's transaction (the one that writes
    the events): to each enabled subscription of the run's owner that takes the type, and a run's end to its
    one-off webhook."""
    for event in events:
        for event_type in RUN_EVENT_TYPES.get(event.event_type, ()):
            data = {"run_id": str(event.run_id), **_event_data(event)}
            await repository.enqueue_for_run(
                session, run_id=event.run_id, event_type=event_type, data=data, one_off=event_type in ONE_OFF_TYPES
            )


def _event_data(event: NewEvent) -> dict[str, Any]:
    data = dict(event.data or {})
    if event.task_id is not None:
        data["task_id"] = str(event.task_id)
    data["message"] = event.message
    return data


# --- the dispatcher ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Attempt:
    delivery_id: uuid.UUID
    url: str
    secret: str
    body: str
    attempts: int


class Dispatcher(BackgroundComponent):
    """Claims due deliveries (SKIP LOCKED, each held for the attempt's time as its lease: a process that dies
    mid-send leaves it to be claimed again), sends them, and records each outcome."""

    def __init__(self, settings: OrchestratorSettings, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        self.settings = settings
        self.allowed = allowed_private(settings)
        self.sessionmaker = sessionmaker
        self._job: asyncio.Task[None] | None = None
        self._http: aiohttp.ClientSession | None = None

    def start(self) -> None:
        self._job = asyncio.create_task(self._loop(), name="webhook-dispatcher")

    async def stop(self) -> None:
        if self._job is not None:
            self._job.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._job
        if self._http is not None:
            await self._http.close()

    def _client(self) -> aiohttp.ClientSession:
        if self._http is None:
            connector = aiohttp.TCPConnector(resolver=PublicOnlyResolver(self.allowed))
            self._http = aiohttp.ClientSession(
                connector=connector, timeout=aiohttp.ClientTimeout(total=self.settings.webhook_timeout_seconds)
            )
        return self._http

    async def _loop(self) -> None:
        while True:
            try:
                sent = await self.dispatch_once()
            except Exception:
                logger.exception("webhook dispatch failed")
                sent = 0
            if not sent:
                await asyncio.sleep(self.settings.webhook_poll_seconds)

    async def dispatch_once(self) -> int:
        """Claims and sends one batch of due deliveries; how many were claimed."""
        lease = timedelta(seconds=self.settings.webhook_timeout_seconds * 2 + 5)
        async with self.sessionmaker() as session:
            claimed = await repository.claim_deliveries(session, limit=self.settings.webhook_concurrency, lease=lease)
            await session.commit()
        if not claimed:
            return 0
        cipher = cipher_for(self.settings)
        attempts = []
        async with self.sessionmaker() as session:
            for delivery, url, secret_encrypted in claimed:
                if url is None or secret_encrypted is None:  # its webhook or run is gone
                    await repository.finish_delivery(session, delivery.id, status="dead", error="no receiver left")
                    continue
                payload = {
                    "type": delivery.event_type,
                    "timestamp": delivery.created_at.isoformat(),
                    "data": delivery.payload,
                }
                secret = cipher.decrypt(secret_encrypted.encode()).decode()
                attempts.append(Attempt(delivery.id, url, secret, json.dumps(payload), delivery.attempts))
            await session.commit()
        outcomes = await asyncio.gather(*(self._send(a) for a in attempts))
        async with self.sessionmaker() as session:
            for attempt, (code, error) in zip(attempts, outcomes, strict=True):
                await self._record(session, attempt, code, error)
            await session.commit()
        return len(claimed)

    async def _send(self, attempt: Attempt) -> tuple[int | None, str | None]:
        now = datetime.now(UTC)
        message_id = f"msg_{attempt.delivery_id.hex}"
        headers = {
            "content-type": "application/json",
            "webhook-id": message_id,
            "webhook-timestamp": str(int(now.timestamp())),
            "webhook-signature": Signer(attempt.secret).sign(message_id, now, attempt.body),
            "user-agent": "CognitionOS-Webhooks/1",
        }
        if (blocked := _literal_refused(attempt.url, self.allowed)) is not None:
            return None, blocked
        try:
            async with self._client().post(attempt.url, data=attempt.body, headers=headers, allow_redirects=False) as r:
                await r.read()
                return r.status, None if 200 <= r.status < 300 else f"HTTP {r.status}"
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            return None, f"{type(exc).__name__}: {exc}"[:500]

    async def _record(self, session: AsyncSession, attempt: Attempt, code: int | None, error: str | None) -> None:
        if error is None:
            await repository.finish_delivery(session, attempt.delivery_id, status="delivered", code=code)
        elif attempt.attempts >= self.settings.webhook_max_attempts:
            await repository.finish_delivery(session, attempt.delivery_id, status="dead", code=code, error=error)
        else:
            wait = backoff_seconds(attempt.attempts, self.settings)
            await repository.retry_delivery(session, attempt.delivery_id, wait=wait, code=code, error=error)


def backoff_seconds(attempts: int, settings: OrchestratorSettings) -> float:
    """Before attempt n+1: base x 2^(n-1), capped, times a jitter in [0.5, 1.5) so receivers that failed together
    are not all retried at the same instant."""
    wait = min(settings.webhook_backoff_base_seconds * 2 ** max(attempts - 1, 0), settings.webhook_backoff_max_seconds)
    return wait * (0.5 + random.random())


def _literal_refused(url: str, allowed: frozenset[Any]) -> str | None:
    """aiohttp does not resolve an IP literal, so the resolver's check does not see it: checked here."""
    host = urlsplit(url).hostname or ""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return None
    return f"{address} is not a public address" if refused(address, allowed) else None
