"""The sync and async clients. Operations are built once (calls.py); these classes send them and read event streams."""

import asyncio
import time
from collections.abc import AsyncIterator, Iterable, Iterator
from typing import Any, Self, TypeVar

import httpx
from httpx_sse import aconnect_sse, connect_sse

from cognitionos_sdk import calls
from cognitionos_sdk.calls import Call
from cognitionos_sdk.errors import raise_for_error
from cognitionos_sdk.types import (
    ApiKey,
    Conversation,
    Memory,
    MemoryImport,
    Message,
    Page,
    Reply,
    Run,
    RunEvent,
    User,
)

T = TypeVar("T")
# Aliases: inside the resource classes `list` is their own method's name.
Names = list[str]
Found = list[Memory]
Records = list[dict[str, Any]]
DEFAULT_URL = "http://127.0.0.1:8000"


def _auth_headers(api_key: str | None, token: str | None) -> dict[str, str]:
    if api_key:
        return {"X-API-Key": api_key}
    return {"Authorization": f"Bearer {token}"} if token else {}


def _timeout(seconds: float) -> httpx.Timeout:
    return httpx.Timeout(seconds, connect=5.0)


# --- sync ---------------------------------------------------------------------------------------------


class CognitionOS:
    """`CognitionOS(url, api_key=...)` or `CognitionOS(url).sign_in(username, password)`."""

    def __init__(
        self,
        base_url: str = DEFAULT_URL,
        *,
        api_key: str | None = None,
        token: str | None = None,
        timeout: float = 60.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._http = httpx.Client(
            base_url=base_url.rstrip("/"),
            headers=_auth_headers(api_key, token),
            timeout=_timeout(timeout),
            transport=transport,
        )
        self.runs = Runs(self)
        self.memories = Memories(self)
        self.conversations = Conversations(self)
        self.api_keys = ApiKeys(self)

    def send(self, call: Call[T]) -> T:
        return call.result(self._http.send(call.request(self._http)))

    def stream(self, method: str, path: str, *, json: Any = None, last_event_id: str | None = None) -> Iterator[Any]:
        """Server-sent events as httpx-sse's ServerSentEvent (event, data, id)."""
        headers = {"Accept": "text/event-stream", **({"Last-Event-ID": last_event_id} if last_event_id else {})}
        with connect_sse(self._http, method, path, json=json, headers=headers, timeout=_timeout(3600)) as source:
            if not source.response.is_success:
                source.response.read()
                raise_for_error(source.response)
            yield from source.iter_sse()

    def sign_in(self, username: str, password: str) -> User:
        tokens = self.send(calls.login(username, password))
        self._http.headers["Authorization"] = f"Bearer {tokens['access_token']}"
        return self.me()

    def register(self, username: str, email: str, password: str) -> User:
        return self.send(calls.register(username, email, password))

    def me(self) -> User:
        return self.send(calls.me())

    def health(self) -> dict[str, Any]:
        return self.send(calls.health())

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


class Runs:
    def __init__(self, client: CognitionOS) -> None:
        self._client = client

    def create(
        self,
        goal: str,
        *,
        budget_usd: float | None = None,
        max_tasks: int | None = None,
        idempotency_key: str | None = None,
    ) -> Run:
        return self._client.send(
            calls.create_run(goal, budget_usd=budget_usd, max_tasks=max_tasks, idempotency_key=idempotency_key)
        )

    def get(self, run_id: str) -> Run:
        return self._client.send(calls.get_run(run_id))

    def list(self, *, cursor: str | None = None, limit: int = 50) -> Page[Run]:
        return self._client.send(calls.list_runs(cursor=cursor, limit=limit))

    def cancel(self, run_id: str) -> Run:
        return self._client.send(calls.cancel_run(run_id))

    def events(self, run_id: str) -> Iterator[RunEvent]:
        """The run's events, live, until it ends; a dropped stream resumes after the last event seen."""
        last: str | None = None
        while True:
            try:
                for sse in self._client.stream("GET", calls.run_events_path(run_id), last_event_id=last):
                    if sse.event == "end":
                        return
                    last = sse.id or last
                    yield RunEvent.model_validate_json(sse.data)
                return
            except httpx.TransportError:
                time.sleep(1)

    def wait(self, run_id: str) -> Run:
        for _ in self.events(run_id):
            pass
        return self.get(run_id)


class Memories:
    def __init__(self, client: CognitionOS) -> None:
        self._client = client

    def create(
        self,
        content: str,
        *,
        memory_type: str = "fact",
        metadata: dict[str, Any] | None = None,
        idempotency_key: str | None = None,
    ) -> Memory:
        call = calls.create_memory(
            content, memory_type=memory_type, metadata=metadata or {}, idempotency_key=idempotency_key
        )
        return self._client.send(call)

    def search(self, query: str, *, k: int = 10, hybrid: bool = False) -> Found:
        return self._client.send(calls.search_memories(query, k=k, hybrid=hybrid))

    def list(self, *, cursor: str | None = None, limit: int = 50) -> Page[Memory]:
        return self._client.send(calls.list_memories(cursor=cursor, limit=limit))

    def get(self, memory_id: str) -> Memory:
        return self._client.send(calls.get_memory(memory_id))

    def delete(self, memory_id: str) -> None:
        self._client.send(calls.delete_memory(memory_id))

    def history(self, memory_id: str) -> Records:
        return self._client.send(calls.memory_history(memory_id))

    def import_lines(self, lines: Iterable[str | bytes], *, poll_seconds: float = 0.5) -> MemoryImport:
        """Bulk import of JSON lines (each the body of `create`, `embedding` optional), uploaded in chunks and
        committed in one transaction; returns once the import is done or failed."""
        job = self._client.send(calls.open_import())
        for first_line, chunk in calls.import_chunks(lines):
            self._client.send(calls.stage_import_rows(job.id, chunk, first_line=first_line))
        job = self._client.send(calls.commit_import(job.id))
        while job.status not in calls.IMPORT_FINISHED:
            time.sleep(poll_seconds)
            job = self._client.send(calls.get_import(job.id))
        return job


class Conversations:
    def __init__(self, client: CognitionOS) -> None:
        self._client = client

    def create(
        self, *, title: str | None = None, system_prompt: str | None = None, model: str | None = None
    ) -> Conversation:
        return self._client.send(calls.create_conversation(title=title, system_prompt=system_prompt, model=model))

    def list(self, *, cursor: str | None = None, limit: int = 50) -> Page[Conversation]:
        return self._client.send(calls.list_conversations(cursor=cursor, limit=limit))

    def get(self, conversation_id: str) -> Conversation:
        return self._client.send(calls.get_conversation(conversation_id))

    def delete(self, conversation_id: str) -> None:
        self._client.send(calls.delete_conversation(conversation_id))

    def send(self, conversation_id: str, content: str, *, tools: Names | None = None) -> Reply:
        return self._client.send(calls.send_message(conversation_id, content, tools=tools))

    def stream(
        self, conversation_id: str, content: str, *, tools: Names | None = None
    ) -> Iterator[tuple[str, dict[str, Any]]]:
        """The reply as it is written: (event, data) for message, delta, tool_call, tool_result, ..., done."""
        body = calls.send_message(conversation_id, content, tools=tools)
        for sse in self._client.stream("POST", body.path, json={**body.json, "stream": True}):
            yield sse.event, sse.json()

    def messages(self, conversation_id: str, *, cursor: str | None = None, limit: int = 100) -> Page[Message]:
        return self._client.send(calls.list_messages(conversation_id, cursor=cursor, limit=limit))


class ApiKeys:
    def __init__(self, client: CognitionOS) -> None:
        self._client = client

    def create(self, name: str, *, expires_in_days: int | None = None) -> ApiKey:
        return self._client.send(calls.create_api_key(name, expires_in_days=expires_in_days))

    def list(self, *, cursor: str | None = None, limit: int = 50) -> Page[ApiKey]:
        return self._client.send(calls.list_api_keys(cursor=cursor, limit=limit))

    def revoke(self, key_id: str) -> ApiKey:
        return self._client.send(calls.revoke_api_key(key_id))


# --- async ---------------------------------------------------------------------------------------------


class AsyncCognitionOS:
    """The same client for asyncio: every method awaits; streams are async iterators."""

    def __init__(
        self,
        base_url: str = DEFAULT_URL,
        *,
        api_key: str | None = None,
        token: str | None = None,
        timeout: float = 60.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._http = httpx.AsyncClient(
            base_url=base_url.rstrip("/"),
            headers=_auth_headers(api_key, token),
            timeout=_timeout(timeout),
            transport=transport,
        )
        self.runs = AsyncRuns(self)
        self.memories = AsyncMemories(self)
        self.conversations = AsyncConversations(self)
        self.api_keys = AsyncApiKeys(self)

    async def send(self, call: Call[T]) -> T:
        return call.result(await self._http.send(call.request(self._http)))

    async def stream(
        self, method: str, path: str, *, json: Any = None, last_event_id: str | None = None
    ) -> AsyncIterator[Any]:
        headers = {"Accept": "text/event-stream", **({"Last-Event-ID": last_event_id} if last_event_id else {})}
        async with aconnect_sse(self._http, method, path, json=json, headers=headers, timeout=_timeout(3600)) as source:
            if not source.response.is_success:
                await source.response.aread()
                raise_for_error(source.response)
            async for sse in source.aiter_sse():
                yield sse

    async def sign_in(self, username: str, password: str) -> User:
        tokens = await self.send(calls.login(username, password))
        self._http.headers["Authorization"] = f"Bearer {tokens['access_token']}"
        return await self.send(calls.me())

    async def register(self, username: str, email: str, password: str) -> User:
        return await self.send(calls.register(username, email, password))

    async def me(self) -> User:
        return await self.send(calls.me())

    async def health(self) -> dict[str, Any]:
        return await self.send(calls.health())

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.aclose()


class AsyncRuns:
    def __init__(self, client: AsyncCognitionOS) -> None:
        self._client = client

    async def create(
        self,
        goal: str,
        *,
        budget_usd: float | None = None,
        max_tasks: int | None = None,
        idempotency_key: str | None = None,
    ) -> Run:
        call = calls.create_run(goal, budget_usd=budget_usd, max_tasks=max_tasks, idempotency_key=idempotency_key)
        return await self._client.send(call)

    async def get(self, run_id: str) -> Run:
        return await self._client.send(calls.get_run(run_id))

    async def list(self, *, cursor: str | None = None, limit: int = 50) -> Page[Run]:
        return await self._client.send(calls.list_runs(cursor=cursor, limit=limit))

    async def cancel(self, run_id: str) -> Run:
        return await self._client.send(calls.cancel_run(run_id))

    async def events(self, run_id: str) -> AsyncIterator[RunEvent]:
        """The run's events, live, until it ends; a dropped stream resumes after the last event seen."""
        last: str | None = None
        while True:
            try:
                async for sse in self._client.stream("GET", calls.run_events_path(run_id), last_event_id=last):
                    if sse.event == "end":
                        return
                    last = sse.id or last
                    yield RunEvent.model_validate_json(sse.data)
                return
            except httpx.TransportError:
                await asyncio.sleep(1)

    async def wait(self, run_id: str) -> Run:
        async for _ in self.events(run_id):
            pass
        return await self.get(run_id)


class AsyncMemories:
    def __init__(self, client: AsyncCognitionOS) -> None:
        self._client = client

    async def create(
        self,
        content: str,
        *,
        memory_type: str = "fact",
        metadata: dict[str, Any] | None = None,
        idempotency_key: str | None = None,
    ) -> Memory:
        call = calls.create_memory(
            content, memory_type=memory_type, metadata=metadata or {}, idempotency_key=idempotency_key
        )
        return await self._client.send(call)

    async def search(self, query: str, *, k: int = 10, hybrid: bool = False) -> Found:
        return await self._client.send(calls.search_memories(query, k=k, hybrid=hybrid))

    async def list(self, *, cursor: str | None = None, limit: int = 50) -> Page[Memory]:
        return await self._client.send(calls.list_memories(cursor=cursor, limit=limit))

    async def get(self, memory_id: str) -> Memory:
        return await self._client.send(calls.get_memory(memory_id))

    async def delete(self, memory_id: str) -> None:
        await self._client.send(calls.delete_memory(memory_id))

    async def history(self, memory_id: str) -> Records:
        return await self._client.send(calls.memory_history(memory_id))

    async def import_lines(self, lines: Iterable[str | bytes], *, poll_seconds: float = 0.5) -> MemoryImport:
        """Bulk import of JSON lines; see Memories.import_lines."""
        job = await self._client.send(calls.open_import())
        for first_line, chunk in calls.import_chunks(lines):
            await self._client.send(calls.stage_import_rows(job.id, chunk, first_line=first_line))
        job = await self._client.send(calls.commit_import(job.id))
        while job.status not in calls.IMPORT_FINISHED:
            await asyncio.sleep(poll_seconds)
            job = await self._client.send(calls.get_import(job.id))
        return job


class AsyncConversations:
    def __init__(self, client: AsyncCognitionOS) -> None:
        self._client = client

    async def create(
        self, *, title: str | None = None, system_prompt: str | None = None, model: str | None = None
    ) -> Conversation:
        call = calls.create_conversation(title=title, system_prompt=system_prompt, model=model)
        return await self._client.send(call)

    async def list(self, *, cursor: str | None = None, limit: int = 50) -> Page[Conversation]:
        return await self._client.send(calls.list_conversations(cursor=cursor, limit=limit))

    async def get(self, conversation_id: str) -> Conversation:
        return await self._client.send(calls.get_conversation(conversation_id))

    async def delete(self, conversation_id: str) -> None:
        await self._client.send(calls.delete_conversation(conversation_id))

    async def send(self, conversation_id: str, content: str, *, tools: Names | None = None) -> Reply:
        return await self._client.send(calls.send_message(conversation_id, content, tools=tools))

    async def stream(
        self, conversation_id: str, content: str, *, tools: Names | None = None
    ) -> AsyncIterator[tuple[str, dict[str, Any]]]:
        body = calls.send_message(conversation_id, content, tools=tools)
        async for sse in self._client.stream("POST", body.path, json={**body.json, "stream": True}):
            yield sse.event, sse.json()

    async def messages(self, conversation_id: str, *, cursor: str | None = None, limit: int = 100) -> Page[Message]:
        return await self._client.send(calls.list_messages(conversation_id, cursor=cursor, limit=limit))


class AsyncApiKeys:
    def __init__(self, client: AsyncCognitionOS) -> None:
        self._client = client

    async def create(self, name: str, *, expires_in_days: int | None = None) -> ApiKey:
        return await self._client.send(calls.create_api_key(name, expires_in_days=expires_in_days))

    async def list(self, *, cursor: str | None = None, limit: int = 50) -> Page[ApiKey]:
        return await self._client.send(calls.list_api_keys(cursor=cursor, limit=limit))

    async def revoke(self, key_id: str) -> ApiKey:
        return await self._client.send(calls.revoke_api_key(key_id))
