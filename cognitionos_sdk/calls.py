"""Each operation once: its method, path, query, body and what it answers. The sync and async clients only send them."""

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import httpx
from pydantic import TypeAdapter

from cognitionos_sdk.errors import raise_for_error
from cognitionos_sdk.types import ApiKey, Conversation, Memory, MemoryImport, Message, Page, Reply, Run, User

T = TypeVar("T")


@dataclass(frozen=True, kw_only=True)
class Call(Generic[T]):
    method: str
    path: str
    answer: TypeAdapter[T] | None  # None: no body expected (204)
    params: dict[str, Any] = field(default_factory=dict)
    json: Any = None
    content: bytes | None = None  # a body that is not JSON (then `json` is None)
    headers: dict[str, str] = field(default_factory=dict)

    def parse(self, body: Any) -> T:
        assert self.answer is not None
        return self.answer.validate_python(body)

    def request(self, http: httpx.Client | httpx.AsyncClient) -> httpx.Request:
        """The HTTP request, built by the client that sends it (its base URL, headers and timeout)."""
        return http.build_request(
            self.method,
            self.path,
            params=self.params or None,
            json=self.json,
            content=self.content,
            headers=self.headers,
        )

    def result(self, response: httpx.Response) -> T:
        """The answer, or the error envelope raised as an exception."""
        raise_for_error(response)
        return self.parse(response.json()) if self.answer is not None else None  # type: ignore[return-value]


def _page(item: type[T]) -> TypeAdapter[Page[T]]:
    return TypeAdapter(Page[item])  # type: ignore[valid-type]


def _query(**values: Any) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}


def _idempotency(key: str | None) -> dict[str, str]:
    return {"Idempotency-Key": key} if key else {}


def login(username: str, password: str) -> Call[dict[str, Any]]:
    body = {"username": username, "password": password}
    return Call(method="POST", path="/api/v1/auth/login", json=body, answer=TypeAdapter(dict[str, Any]))


def register(username: str, email: str, password: str) -> Call[User]:
    body = {"username": username, "email": email, "password": password}
    return Call(method="POST", path="/api/v1/auth/register", json=body, answer=TypeAdapter(User))


def me() -> Call[User]:
    return Call(method="GET", path="/api/v1/auth/me", answer=TypeAdapter(User))


def create_run(goal: str, *, budget_usd: float | None, max_tasks: int | None, idempotency_key: str | None) -> Call[Run]:
    body = _query(goal=goal, budget_usd=budget_usd, max_tasks=max_tasks)
    return Call(
        method="POST", path="/api/v1/runs", json=body, headers=_idempotency(idempotency_key), answer=TypeAdapter(Run)
    )


def get_run(run_id: str) -> Call[Run]:
    return Call(method="GET", path=f"/api/v1/runs/{run_id}", answer=TypeAdapter(Run))


def list_runs(*, cursor: str | None, limit: int) -> Call[Page[Run]]:
    return Call(method="GET", path="/api/v1/runs", params=_query(cursor=cursor, limit=limit), answer=_page(Run))


def cancel_run(run_id: str) -> Call[Run]:
    return Call(method="POST", path=f"/api/v1/runs/{run_id}/cancel", answer=TypeAdapter(Run))


def run_events_path(run_id: str) -> str:
    return f"/api/v1/runs/{run_id}/events"


def create_memory(
    content: str, *, memory_type: str, metadata: dict[str, Any], idempotency_key: str | None
) -> Call[Memory]:
    body = {"content": content, "memory_type": memory_type, "metadata": metadata}
    return Call(
        method="POST",
        path="/api/v1/memories",
        json=body,
        headers=_idempotency(idempotency_key),
        answer=TypeAdapter(Memory),
    )


def search_memories(query: str, *, k: int, hybrid: bool) -> Call[list[Memory]]:
    body = {"query": query, "k": k, "hybrid": hybrid}
    return Call(method="POST", path="/api/v1/memories/retrieve", json=body, answer=TypeAdapter(list[Memory]))


def list_memories(*, cursor: str | None, limit: int) -> Call[Page[Memory]]:
    return Call(method="GET", path="/api/v1/memories", params=_query(cursor=cursor, limit=limit), answer=_page(Memory))


def get_memory(memory_id: str) -> Call[Memory]:
    return Call(method="GET", path=f"/api/v1/memories/{memory_id}", answer=TypeAdapter(Memory))


def delete_memory(memory_id: str) -> Call[None]:
    return Call(method="DELETE", path=f"/api/v1/memories/{memory_id}", answer=None)


def memory_history(memory_id: str) -> Call[list[dict[str, Any]]]:
    return Call(method="GET", path=f"/api/v1/memories/{memory_id}/history", answer=TypeAdapter(list[dict[str, Any]]))


# Below the gateway's 16 MB body limit, and small enough that embedding the rows of one upload stays well under
# the gateway's upstream timeout.
IMPORT_CHUNK_ROWS = 2_000
IMPORT_CHUNK_BYTES = 8 * 1024 * 1024
IMPORT_FINISHED = ("done", "failed")


def open_import() -> Call[MemoryImport]:
    return Call(method="POST", path="/api/v1/memories/imports", answer=TypeAdapter(MemoryImport))


def stage_import_rows(import_id: str, lines: bytes, *, first_line: int = 1) -> Call[MemoryImport]:
    return Call(
        method="POST",
        path=f"/api/v1/memories/imports/{import_id}/rows",
        params={"first_line": first_line},
        content=lines,
        headers={"Content-Type": "application/x-ndjson"},
        answer=TypeAdapter(MemoryImport),
    )


def commit_import(import_id: str) -> Call[MemoryImport]:
    return Call(method="POST", path=f"/api/v1/memories/imports/{import_id}/commit", answer=TypeAdapter(MemoryImport))


def get_import(import_id: str) -> Call[MemoryImport]:
    return Call(method="GET", path=f"/api/v1/memories/imports/{import_id}", answer=TypeAdapter(MemoryImport))


def import_chunks(lines: Iterable[str | bytes]) -> Iterator[tuple[int, bytes]]:
    """JSON lines (a file's, or your own) grouped into uploads of at most IMPORT_CHUNK_ROWS rows and
    IMPORT_CHUNK_BYTES bytes, each with the number of its first line (blank lines are kept, so the server's line
    numbers are the file's)."""
    chunk: list[bytes] = []
    rows = size = 0
    first = 1
    for number, line in enumerate(lines, start=1):
        row = (line.encode() if isinstance(line, str) else line).rstrip(b"\r\n")
        if rows and row.strip() and (rows == IMPORT_CHUNK_ROWS or size + len(row) + 1 > IMPORT_CHUNK_BYTES):
            yield first, b"\n".join(chunk)
            chunk, rows, size, first = [], 0, 0, number
        chunk.append(row)
        size += len(row) + 1
        rows += bool(row.strip())
    if rows:
        yield first, b"\n".join(chunk)


def create_conversation(*, title: str | None, system_prompt: str | None, model: str | None) -> Call[Conversation]:
    body = _query(title=title, system_prompt=system_prompt, model=model)
    return Call(method="POST", path="/api/v1/conversations", json=body, answer=TypeAdapter(Conversation))


def list_conversations(*, cursor: str | None, limit: int) -> Call[Page[Conversation]]:
    params = _query(cursor=cursor, limit=limit)
    return Call(method="GET", path="/api/v1/conversations", params=params, answer=_page(Conversation))


def get_conversation(conversation_id: str) -> Call[Conversation]:
    return Call(method="GET", path=f"/api/v1/conversations/{conversation_id}", answer=TypeAdapter(Conversation))


def delete_conversation(conversation_id: str) -> Call[None]:
    return Call(method="DELETE", path=f"/api/v1/conversations/{conversation_id}", answer=None)


def send_message(conversation_id: str, content: str, *, tools: list[str] | None) -> Call[Reply]:
    body = _query(content=content, tools=tools)
    return Call(
        method="POST", path=f"/api/v1/conversations/{conversation_id}/messages", json=body, answer=TypeAdapter(Reply)
    )


def list_messages(conversation_id: str, *, cursor: str | None, limit: int) -> Call[Page[Message]]:
    return Call(
        method="GET",
        path=f"/api/v1/conversations/{conversation_id}/messages",
        params=_query(cursor=cursor, limit=limit),
        answer=_page(Message),
    )


def create_api_key(name: str, *, expires_in_days: int | None) -> Call[ApiKey]:
    body = _query(name=name, expires_in_days=expires_in_days)
    return Call(method="POST", path="/api/v1/auth/api-keys", json=body, answer=TypeAdapter(ApiKey))


def list_api_keys(*, cursor: str | None, limit: int) -> Call[Page[ApiKey]]:
    params = _query(cursor=cursor, limit=limit)
    return Call(method="GET", path="/api/v1/auth/api-keys", params=params, answer=_page(ApiKey))


def revoke_api_key(key_id: str) -> Call[ApiKey]:
    return Call(method="DELETE", path=f"/api/v1/auth/api-keys/{key_id}", answer=TypeAdapter(ApiKey))


def health() -> Call[dict[str, Any]]:
    return Call(method="GET", path="/health", answer=TypeAdapter(dict[str, Any]))
