"""Each operation once: its method, path, query, body and what it answers. The sync and async clients only send them."""

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import httpx
from pydantic import TypeAdapter

from cognitionos_sdk.errors import raise_for_error
from cognitionos_sdk.types import (
    ApiKey,
    Approval,
    AuditEvent,
    AuditVerification,
    Conversation,
    Eval,
    EvalComparison,
    File,
    Memory,
    MemoryImport,
    Message,
    Organization,
    Page,
    Reply,
    Run,
    RunLineage,
    Schedule,
    ScheduleEvent,
    Team,
    TeamInvitation,
    TeamMember,
    Template,
    User,
    Webhook,
    WebhookDelivery,
)

T = TypeVar("T")


@dataclass(frozen=True, kw_only=True)
class Call(Generic[T]):
    method: str
    path: str
    answer: TypeAdapter[T] | None  # None: no body expected (204)
    params: dict[str, Any] = field(default_factory=dict)
    json: Any = None
    content: bytes | None = None  # a body that is not JSON (then `json` is None)
    files: dict[str, Any] | None = None  # a multipart upload (httpx streams an open file from disk)
    headers: dict[str, str] = field(default_factory=dict)

    def parse(self, body: Any) -> T:
        assert self.answer is not None
        return self.answer.validate_python(body)

    def request(self, http: httpx.Client | httpx.AsyncClient) -> httpx.Request:
        """The HTTP request, built by the client that sends it (its base URL, headers and timeout)."""
        for part in (self.files or {}).values():
            if hasattr(part[1], "seek"):
                part[1].seek(0)  # a retry sends the whole file again
        return http.build_request(
            self.method,
            self.path,
            params=self.params or None,
            json=self.json,
            content=self.content,
            files=self.files,
            headers=self.headers,
        )

    def result(self, response: httpx.Response) -> T:
        """The answer, or the error envelope raised as an exception."""
        raise_for_error(response)
        return self.parse(response.json()) if self.answer is not None else None  # type: ignore[return-value]


# Every public operation of the API that the SDK covers, as (method, path template): tests/cognitionos_sdk compares
# it with the gateway's OpenAPI and fails on an operation that has no SDK method.
OPERATIONS: set[tuple[str, str]] = set()
F = TypeVar("F", bound=Callable[..., Any])
JSON: TypeAdapter[dict[str, Any]] = TypeAdapter(dict[str, Any])
JSON_LIST: TypeAdapter[list[dict[str, Any]]] = TypeAdapter(list[dict[str, Any]])


def operation(method: str, path: str) -> Callable[[F], F]:
    """Marks a call factory as the SDK's way to one operation of the API."""

    def register(factory: F) -> F:
        OPERATIONS.add((method, path))
        return factory

    return register


def _page(item: type[T]) -> TypeAdapter[Page[T]]:
    return TypeAdapter(Page[item])  # type: ignore[valid-type]


def _query(**values: Any) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}


def _idempotency(key: str | None) -> dict[str, str]:
    return {"Idempotency-Key": key} if key else {}


@operation("POST", "/api/v1/auth/login")
def login(username: str, password: str) -> Call[dict[str, Any]]:
    body = {"username": username, "password": password}
    return Call(method="POST", path="/api/v1/auth/login", json=body, answer=TypeAdapter(dict[str, Any]))


@operation("POST", "/api/v1/auth/register")
def register(username: str, email: str, password: str) -> Call[User]:
    body = {"username": username, "email": email, "password": password}
    return Call(method="POST", path="/api/v1/auth/register", json=body, answer=TypeAdapter(User))


@operation("GET", "/api/v1/auth/me")
def me() -> Call[User]:
    return Call(method="GET", path="/api/v1/auth/me", answer=TypeAdapter(User))


@operation("POST", "/api/v1/runs")
def create_run(
    goal: str,
    *,
    budget_usd: float | None,
    max_tasks: int | None,
    idempotency_key: str | None,
    require_approval: list[str] | str | None = None,
    model: str | None = None,
    agent: str | None = None,
    files: list[str] | None = None,
    webhook: str | None = None,
) -> Call[Run]:
    body = _query(
        goal=goal,
        budget_usd=budget_usd,
        max_tasks=max_tasks,
        require_approval=require_approval,
        model=model,
        agent=agent,
        files=files or None,
        webhook=webhook,
    )
    return Call(
        method="POST", path="/api/v1/runs", json=body, headers=_idempotency(idempotency_key), answer=TypeAdapter(Run)
    )


@operation("GET", "/api/v1/runs/{run_id}")
def get_run(run_id: str) -> Call[Run]:
    return Call(method="GET", path=f"/api/v1/runs/{run_id}", answer=TypeAdapter(Run))


@operation("GET", "/api/v1/runs")
def list_runs(*, cursor: str | None, limit: int) -> Call[Page[Run]]:
    return Call(method="GET", path="/api/v1/runs", params=_query(cursor=cursor, limit=limit), answer=_page(Run))


@operation("POST", "/api/v1/runs/{run_id}/cancel")
def cancel_run(run_id: str) -> Call[Run]:
    return Call(method="POST", path=f"/api/v1/runs/{run_id}/cancel", answer=TypeAdapter(Run))


@operation("POST", "/api/v1/runs/{run_id}/retry")
def retry_run(
    run_id: str, *, from_task: str | None, inputs_patch: dict[str, dict[str, Any]] | None, budget_usd: float | None
) -> Call[Run]:
    body = _query(from_task=from_task, inputs_patch=inputs_patch, budget_usd=budget_usd)
    return Call(method="POST", path=f"/api/v1/runs/{run_id}/retry", json=body, answer=TypeAdapter(Run))


@operation("POST", "/api/v1/runs/{run_id}/fork")
def fork_run(
    run_id: str, *, from_task: str | None, inputs_patch: dict[str, dict[str, Any]] | None, budget_usd: float | None
) -> Call[Run]:
    body = _query(from_task=from_task, inputs_patch=inputs_patch, budget_usd=budget_usd)
    return Call(method="POST", path=f"/api/v1/runs/{run_id}/fork", json=body, answer=TypeAdapter(Run))


@operation("GET", "/api/v1/runs/{run_id}/lineage")
def run_lineage(run_id: str) -> Call[RunLineage]:
    return Call(method="GET", path=f"/api/v1/runs/{run_id}/lineage", answer=TypeAdapter(RunLineage))


def eval_body(suite: str, **fields: Any) -> dict[str, Any]:
    """The body of POST /evals: the fields given (None: the server's default)."""
    return {"suite": suite, **_query(**fields)}


@operation("POST", "/api/v1/evals")
def create_eval(body: dict[str, Any]) -> Call[Eval]:
    return Call(method="POST", path="/api/v1/evals", json=body, answer=TypeAdapter(Eval))


@operation("GET", "/api/v1/evals")
def list_evals(*, cursor: str | None, limit: int) -> Call[Page[Eval]]:
    return Call(method="GET", path="/api/v1/evals", params=_query(cursor=cursor, limit=limit), answer=_page(Eval))


@operation("GET", "/api/v1/evals/{eval_id}")
def get_eval(eval_id: str) -> Call[Eval]:
    return Call(method="GET", path=f"/api/v1/evals/{eval_id}", answer=TypeAdapter(Eval))


@operation("POST", "/api/v1/evals/{eval_id}/cancel")
def cancel_eval(eval_id: str) -> Call[Eval]:
    return Call(method="POST", path=f"/api/v1/evals/{eval_id}/cancel", answer=TypeAdapter(Eval))


@operation("GET", "/api/v1/evals/compare")
def compare_evals(a: str, b: str) -> Call[EvalComparison]:
    return Call(method="GET", path="/api/v1/evals/compare", params={"a": a, "b": b}, answer=TypeAdapter(EvalComparison))


@operation("GET", "/api/v1/runs/{run_id}/approvals")
def run_approvals(run_id: str, *, cursor: str | None, limit: int) -> Call[Page[Approval]]:
    params = _query(cursor=cursor, limit=limit)
    return Call(method="GET", path=f"/api/v1/runs/{run_id}/approvals", params=params, answer=_page(Approval))


@operation("POST", "/api/v1/runs/{run_id}/inputs")
def answer_run(run_id: str, *, answer: str, approval_id: str | None) -> Call[Approval]:
    body = _query(answer=answer, approval_id=approval_id)
    return Call(method="POST", path=f"/api/v1/runs/{run_id}/inputs", json=body, answer=TypeAdapter(Approval))


@operation("GET", "/api/v1/approvals")
def list_approvals(*, status: str | None, cursor: str | None, limit: int) -> Call[Page[Approval]]:
    params = _query(status=status, cursor=cursor, limit=limit)
    return Call(method="GET", path="/api/v1/approvals", params=params, answer=_page(Approval))


@operation("GET", "/api/v1/approvals/{approval_id}")
def get_approval(approval_id: str) -> Call[Approval]:
    return Call(method="GET", path=f"/api/v1/approvals/{approval_id}", answer=TypeAdapter(Approval))


@operation("POST", "/api/v1/approvals/{approval_id}/decision")
def decide_approval(
    approval_id: str, *, decision: str, parameters: dict[str, Any] | None, note: str | None
) -> Call[Approval]:
    body = _query(decision=decision, parameters=parameters, note=note)
    path = f"/api/v1/approvals/{approval_id}/decision"
    return Call(method="POST", path=path, json=body, answer=TypeAdapter(Approval))


@operation("GET", "/api/v1/runs/{run_id}/events")
def run_events_path(run_id: str) -> str:
    return f"/api/v1/runs/{run_id}/events"


@operation("POST", "/api/v1/memories")
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


@operation("POST", "/api/v1/memories/retrieve")
def search_memories(query: str, *, k: int, hybrid: bool) -> Call[list[Memory]]:
    body = {"query": query, "k": k, "hybrid": hybrid}
    return Call(method="POST", path="/api/v1/memories/retrieve", json=body, answer=TypeAdapter(list[Memory]))


@operation("GET", "/api/v1/memories")
def list_memories(*, cursor: str | None, limit: int) -> Call[Page[Memory]]:
    return Call(method="GET", path="/api/v1/memories", params=_query(cursor=cursor, limit=limit), answer=_page(Memory))


@operation("GET", "/api/v1/memories/{memory_id}")
def get_memory(memory_id: str) -> Call[Memory]:
    return Call(method="GET", path=f"/api/v1/memories/{memory_id}", answer=TypeAdapter(Memory))


@operation("DELETE", "/api/v1/memories/{memory_id}")
def delete_memory(memory_id: str) -> Call[None]:
    return Call(method="DELETE", path=f"/api/v1/memories/{memory_id}", answer=None)


@operation("GET", "/api/v1/memories/{memory_id}/history")
def memory_history(memory_id: str) -> Call[list[dict[str, Any]]]:
    return Call(method="GET", path=f"/api/v1/memories/{memory_id}/history", answer=TypeAdapter(list[dict[str, Any]]))


# Below the gateway's 16 MB body limit, and small enough that embedding the rows of one upload stays well under
# the gateway's upstream timeout.
IMPORT_CHUNK_ROWS = 2_000
IMPORT_CHUNK_BYTES = 8 * 1024 * 1024
IMPORT_FINISHED = ("done", "failed")


@operation("POST", "/api/v1/memories/imports")
def open_import() -> Call[MemoryImport]:
    return Call(method="POST", path="/api/v1/memories/imports", answer=TypeAdapter(MemoryImport))


@operation("POST", "/api/v1/memories/imports/{import_id}/rows")
def stage_import_rows(import_id: str, lines: bytes, *, first_line: int = 1) -> Call[MemoryImport]:
    return Call(
        method="POST",
        path=f"/api/v1/memories/imports/{import_id}/rows",
        params={"first_line": first_line},
        content=lines,
        headers={"Content-Type": "application/x-ndjson"},
        answer=TypeAdapter(MemoryImport),
    )


@operation("POST", "/api/v1/memories/imports/{import_id}/commit")
def commit_import(import_id: str) -> Call[MemoryImport]:
    return Call(method="POST", path=f"/api/v1/memories/imports/{import_id}/commit", answer=TypeAdapter(MemoryImport))


@operation("GET", "/api/v1/memories/imports/{import_id}")
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


@operation("POST", "/api/v1/conversations")
def create_conversation(*, title: str | None, system_prompt: str | None, model: str | None) -> Call[Conversation]:
    body = _query(title=title, system_prompt=system_prompt, model=model)
    return Call(method="POST", path="/api/v1/conversations", json=body, answer=TypeAdapter(Conversation))


@operation("GET", "/api/v1/conversations")
def list_conversations(*, cursor: str | None, limit: int) -> Call[Page[Conversation]]:
    params = _query(cursor=cursor, limit=limit)
    return Call(method="GET", path="/api/v1/conversations", params=params, answer=_page(Conversation))


@operation("GET", "/api/v1/conversations/{conversation_id}")
def get_conversation(conversation_id: str) -> Call[Conversation]:
    return Call(method="GET", path=f"/api/v1/conversations/{conversation_id}", answer=TypeAdapter(Conversation))


@operation("DELETE", "/api/v1/conversations/{conversation_id}")
def delete_conversation(conversation_id: str) -> Call[None]:
    return Call(method="DELETE", path=f"/api/v1/conversations/{conversation_id}", answer=None)


@operation("POST", "/api/v1/conversations/{conversation_id}/messages")
def send_message(
    conversation_id: str, content: str, *, tools: list[str] | None, require_approval: list[str] | str | None = None
) -> Call[Reply]:
    body = _query(content=content, tools=tools, require_approval=require_approval)
    return Call(
        method="POST", path=f"/api/v1/conversations/{conversation_id}/messages", json=body, answer=TypeAdapter(Reply)
    )


@operation("POST", "/api/v1/conversations/{conversation_id}/resume")
def resume_conversation(conversation_id: str) -> Call[Reply]:
    path = f"/api/v1/conversations/{conversation_id}/resume"
    return Call(method="POST", path=path, json={}, answer=TypeAdapter(Reply))


@operation("GET", "/api/v1/conversations/{conversation_id}/messages")
def list_messages(conversation_id: str, *, cursor: str | None, limit: int) -> Call[Page[Message]]:
    return Call(
        method="GET",
        path=f"/api/v1/conversations/{conversation_id}/messages",
        params=_query(cursor=cursor, limit=limit),
        answer=_page(Message),
    )


@operation("POST", "/api/v1/auth/api-keys")
def create_api_key(
    name: str,
    *,
    expires_in_days: int | None,
    allowed_tools: list[str] | None = None,
    scopes: list[str] | None = None,
    team_id: str | None = None,
) -> Call[ApiKey]:
    body = _query(
        name=name, expires_in_days=expires_in_days, allowed_tools=allowed_tools, scopes=scopes, team_id=team_id
    )
    return Call(method="POST", path="/api/v1/auth/api-keys", json=body, answer=TypeAdapter(ApiKey))


@operation("GET", "/api/v1/auth/api-keys")
def list_api_keys(*, cursor: str | None, limit: int) -> Call[Page[ApiKey]]:
    params = _query(cursor=cursor, limit=limit)
    return Call(method="GET", path="/api/v1/auth/api-keys", params=params, answer=_page(ApiKey))


@operation("DELETE", "/api/v1/auth/api-keys/{key_id}")
def revoke_api_key(key_id: str) -> Call[ApiKey]:
    return Call(method="DELETE", path=f"/api/v1/auth/api-keys/{key_id}", answer=TypeAdapter(ApiKey))


@operation("GET", "/health")
def health() -> Call[dict[str, Any]]:
    return Call(method="GET", path="/health", answer=TypeAdapter(dict[str, Any]))


# --- agents, plans, tools ------------------------------------------------------------------------------


@operation("GET", "/api/v1/agents")
def list_agents(*, cursor: str | None, limit: int) -> Call[Page[dict[str, Any]]]:
    params = _query(cursor=cursor, limit=limit)
    return Call(method="GET", path="/api/v1/agents", params=params, answer=TypeAdapter(Page[dict[str, Any]]))


@operation("GET", "/api/v1/agents/{name}")
def get_agent(name: str) -> Call[dict[str, Any]]:
    return Call(method="GET", path=f"/api/v1/agents/{name}", answer=JSON)


@operation("POST", "/api/v1/agents")
def create_agent(definition: dict[str, Any]) -> Call[dict[str, Any]]:
    return Call(method="POST", path="/api/v1/agents", json=definition, answer=JSON)


@operation("POST", "/api/v1/plans")
def create_plan(goal: str, *, max_tasks: int | None, context: dict[str, Any] | None) -> Call[dict[str, Any]]:
    body = _query(goal=goal, max_tasks=max_tasks, context=context)
    return Call(method="POST", path="/api/v1/plans", json=body, answer=JSON)


@operation("GET", "/api/v1/plans/{plan_id}")
def get_plan(plan_id: str) -> Call[dict[str, Any]]:
    return Call(method="GET", path=f"/api/v1/plans/{plan_id}", answer=JSON)


@operation("POST", "/api/v1/plans/replan")
def replan(plan_id: str, *, failed_task_id: str, error: str, succeeded_task_ids: list[str]) -> Call[dict[str, Any]]:
    body = {
        "plan_id": plan_id,
        "failed_task_id": failed_task_id,
        "error": error,
        "succeeded_task_ids": succeeded_task_ids,
    }
    return Call(method="POST", path="/api/v1/plans/replan", json=body, answer=JSON)


@operation("GET", "/api/v1/tools")
def list_tools() -> Call[list[dict[str, Any]]]:
    return Call(method="GET", path="/api/v1/tools", answer=JSON_LIST)


@operation("POST", "/api/v1/tools/mcp-servers")
def register_mcp_server(
    name: str, url: str, *, transport: str, headers: dict[str, str] | None, shared: bool
) -> Call[dict[str, Any]]:
    body = _query(name=name, url=url, transport=transport, headers=headers, shared=shared)
    return Call(method="POST", path="/api/v1/tools/mcp-servers", json=body, answer=JSON)


@operation("GET", "/api/v1/tools/mcp-servers")
def list_mcp_servers() -> Call[list[dict[str, Any]]]:
    return Call(method="GET", path="/api/v1/tools/mcp-servers", answer=JSON_LIST)


@operation("GET", "/api/v1/tools/mcp-servers/{server_id}")
def get_mcp_server(server_id: str) -> Call[dict[str, Any]]:
    return Call(method="GET", path=f"/api/v1/tools/mcp-servers/{server_id}", answer=JSON)


@operation("POST", "/api/v1/tools/mcp-servers/{server_id}/refresh")
def refresh_mcp_server(server_id: str) -> Call[dict[str, Any]]:
    return Call(method="POST", path=f"/api/v1/tools/mcp-servers/{server_id}/refresh", answer=JSON)


@operation("DELETE", "/api/v1/tools/mcp-servers/{server_id}")
def delete_mcp_server(server_id: str) -> Call[None]:
    return Call(method="DELETE", path=f"/api/v1/tools/mcp-servers/{server_id}", answer=None)


@operation("POST", "/api/v1/tools/execute")
def execute_tool(tool_name: str, parameters: dict[str, Any], *, timeout_seconds: float | None) -> Call[dict[str, Any]]:
    body = _query(tool_name=tool_name, parameters=parameters, timeout_seconds=timeout_seconds)
    return Call(method="POST", path="/api/v1/tools/execute", json=body, answer=JSON)


# --- the LLM gateway's own API: models, completions, embeddings, spend and budgets ---------------------


@operation("GET", "/api/v1/ai/models")
def list_models() -> Call[dict[str, Any]]:
    return Call(method="GET", path="/api/v1/ai/models", answer=JSON)


@operation("POST", "/api/v1/ai/complete")
def complete(prompt: str, *, role: str | None, model: str | None, max_tokens: int | None) -> Call[dict[str, Any]]:
    body = _query(prompt=prompt, role=role, model=model, max_tokens=max_tokens)
    return Call(method="POST", path="/api/v1/ai/complete", json=body, answer=JSON)


@operation("POST", "/api/v1/ai/embed")
def embed(texts: list[str], *, model: str | None) -> Call[dict[str, Any]]:
    return Call(method="POST", path="/api/v1/ai/embed", json=_query(texts=texts, model=model), answer=JSON)


@operation("GET", "/api/v1/ai/spend")
def spend(*, group_by: str, since: str | None, team_id: str | None = None) -> Call[dict[str, Any]]:
    query = _query(group_by=group_by, since=since, team_id=team_id)
    return Call(method="GET", path="/api/v1/ai/spend", params=query, answer=JSON)


@operation("GET", "/api/v1/ai/budget")
def budget(*, team_id: str | None = None) -> Call[dict[str, Any] | None]:
    query = _query(team_id=team_id)
    return Call(method="GET", path="/api/v1/ai/budget", params=query, answer=TypeAdapter(dict[str, Any] | None))


@operation("PUT", "/api/v1/ai/admin/budgets/{scope}/{scope_id}")
def set_budget(scope: str, scope_id: str, limits: dict[str, Any]) -> Call[dict[str, Any]]:
    return Call(method="PUT", path=f"/api/v1/ai/admin/budgets/{scope}/{scope_id}", json=limits, answer=JSON)


@operation("GET", "/api/v1/ai/admin/budgets/{scope}/{scope_id}")
def get_budget(scope: str, scope_id: str) -> Call[dict[str, Any]]:
    return Call(method="GET", path=f"/api/v1/ai/admin/budgets/{scope}/{scope_id}", answer=JSON)


@operation("GET", "/api/v1/ai/admin/spend")
def admin_spend(*, group_by: str, since: str | None) -> Call[dict[str, Any]]:
    params = _query(group_by=group_by, since=since)
    return Call(method="GET", path="/api/v1/ai/admin/spend", params=params, answer=JSON)


# --- your account and, for admins, the users ----------------------------------------------------------


@operation("POST", "/api/v1/auth/refresh")
def refresh(refresh_token: str) -> Call[dict[str, Any]]:
    return Call(method="POST", path="/api/v1/auth/refresh", json={"refresh_token": refresh_token}, answer=JSON)


@operation("POST", "/api/v1/auth/logout")
def logout(refresh_token: str | None) -> Call[None]:
    return Call(method="POST", path="/api/v1/auth/logout", json=_query(refresh_token=refresh_token), answer=None)


@operation("POST", "/api/v1/auth/me/password")
def change_password(current: str, new: str) -> Call[None]:
    body = {"current_password": current, "new_password": new}
    return Call(method="POST", path="/api/v1/auth/me/password", json=body, answer=None)


@operation("GET", "/api/v1/auth/users")
def list_users(*, cursor: str | None, limit: int) -> Call[Page[User]]:
    return Call(method="GET", path="/api/v1/auth/users", params=_query(cursor=cursor, limit=limit), answer=_page(User))


@operation("PATCH", "/api/v1/auth/users/{user_id}/role")
def set_role(user_id: str, role: str) -> Call[User]:
    return Call(
        method="PATCH", path=f"/api/v1/auth/users/{user_id}/role", json={"role": role}, answer=TypeAdapter(User)
    )


@operation("PATCH", "/api/v1/auth/users/{user_id}/active")
def set_active(user_id: str, *, active: bool) -> Call[User]:
    body = {"is_active": active}
    return Call(method="PATCH", path=f"/api/v1/auth/users/{user_id}/active", json=body, answer=TypeAdapter(User))


# --- the rest of conversations and memories -----------------------------------------------------------


@operation("PATCH", "/api/v1/conversations/{conversation_id}")
def update_conversation(conversation_id: str, changes: dict[str, Any]) -> Call[Conversation]:
    path = f"/api/v1/conversations/{conversation_id}"
    return Call(method="PATCH", path=path, json=changes, answer=TypeAdapter(Conversation))


@operation("PUT", "/api/v1/memories/{memory_id}")
def update_memory(memory_id: str, changes: dict[str, Any]) -> Call[Memory]:
    return Call(method="PUT", path=f"/api/v1/memories/{memory_id}", json=changes, answer=TypeAdapter(Memory))


@operation("DELETE", "/api/v1/memories")
def delete_memories(filters: dict[str, Any]) -> Call[dict[str, Any]]:
    return Call(method="DELETE", path="/api/v1/memories", params=_query(**filters), answer=JSON)


@operation("POST", "/api/v1/memories/batch")
def create_memories(memories: list[dict[str, Any]]) -> Call[list[Memory]]:
    body = {"memories": memories}
    return Call(method="POST", path="/api/v1/memories/batch", json=body, answer=TypeAdapter(list[Memory]))


@operation("POST", "/api/v1/memories/import")
def import_memories_at_once(lines: bytes) -> Call[MemoryImport]:
    headers = {"Content-Type": "application/x-ndjson"}
    return Call(
        method="POST", path="/api/v1/memories/import", content=lines, headers=headers, answer=TypeAdapter(MemoryImport)
    )


@operation("DELETE", "/api/v1/memories/imports/{import_id}")
def cancel_import(import_id: str) -> Call[None]:
    return Call(method="DELETE", path=f"/api/v1/memories/imports/{import_id}", answer=None)


@operation("POST", "/api/v1/memories/admin/reembed")
def reembed_memories() -> Call[dict[str, Any]]:
    return Call(method="POST", path="/api/v1/memories/admin/reembed", answer=JSON)


# --- files ------------------------------------------------------------------------------------------------------


@operation("POST", "/api/v1/files")
def upload_file(content: Any, *, name: str, media_type: str | None) -> Call[File]:
    """`content`: bytes, or a file opened in binary mode (streamed, never read whole)."""
    part = (name, content, media_type) if media_type else (name, content)
    return Call(method="POST", path="/api/v1/files", files={"file": part}, answer=TypeAdapter(File))


@operation("GET", "/api/v1/files")
def list_files(*, run_id: str | None, kind: str | None, cursor: str | None, limit: int) -> Call[Page[File]]:
    query = _query(run_id=run_id, kind=kind, cursor=cursor, limit=limit)
    return Call(method="GET", path="/api/v1/files", params=query, answer=_page(File))


@operation("GET", "/api/v1/files/{file_id}")
def get_file(file_id: str) -> Call[File]:
    return Call(method="GET", path=f"/api/v1/files/{file_id}", answer=TypeAdapter(File))


@operation("POST", "/api/v1/files/describe")
def describe_files(ids: list[str]) -> Call[dict[str, Any]]:
    return Call(method="POST", path="/api/v1/files/describe", json={"ids": ids}, answer=JSON)


@operation("DELETE", "/api/v1/files/{file_id}")
def delete_file(file_id: str) -> Call[None]:
    return Call(method="DELETE", path=f"/api/v1/files/{file_id}", answer=None)


@operation("GET", "/api/v1/files/{file_id}/content")
def file_content_path(file_id: str) -> str:
    return f"/api/v1/files/{file_id}/content"


@operation("GET", "/api/v1/runs/{run_id}/artifacts")
def run_artifacts(run_id: str, *, cursor: str | None, limit: int) -> Call[Page[File]]:
    query = _query(cursor=cursor, limit=limit)
    return Call(method="GET", path=f"/api/v1/runs/{run_id}/artifacts", params=query, answer=_page(File))


# --- templates, schedules, webhooks -----------------------------------------------------------------------------


@operation("POST", "/api/v1/templates")
def create_template(body: dict[str, Any]) -> Call[Template]:
    return Call(method="POST", path="/api/v1/templates", json=body, answer=TypeAdapter(Template))


@operation("GET", "/api/v1/templates")
def list_templates(*, cursor: str | None, limit: int) -> Call[Page[Template]]:
    return Call(
        method="GET", path="/api/v1/templates", params=_query(cursor=cursor, limit=limit), answer=_page(Template)
    )


@operation("GET", "/api/v1/templates/{template_id}")
def get_template(template_id: str, *, version: int | None) -> Call[Template]:
    path = f"/api/v1/templates/{template_id}"
    return Call(method="GET", path=path, params=_query(version=version), answer=TypeAdapter(Template))


@operation("PUT", "/api/v1/templates/{template_id}")
def update_template(template_id: str, body: dict[str, Any]) -> Call[Template]:
    return Call(method="PUT", path=f"/api/v1/templates/{template_id}", json=body, answer=TypeAdapter(Template))


@operation("DELETE", "/api/v1/templates/{template_id}")
def delete_template(template_id: str) -> Call[None]:
    return Call(method="DELETE", path=f"/api/v1/templates/{template_id}", answer=None)


@operation("POST", "/api/v1/templates/{template_id}/runs")
def run_template(
    template_id: str, *, parameters: dict[str, Any], version: int | None, webhook: str | None
) -> Call[Run]:
    body = {"parameters": parameters, **_query(version=version, webhook=webhook)}
    return Call(method="POST", path=f"/api/v1/templates/{template_id}/runs", json=body, answer=TypeAdapter(Run))


@operation("POST", "/api/v1/schedules")
def create_schedule(body: dict[str, Any]) -> Call[Schedule]:
    return Call(method="POST", path="/api/v1/schedules", json=body, answer=TypeAdapter(Schedule))


@operation("GET", "/api/v1/schedules")
def list_schedules(*, cursor: str | None, limit: int) -> Call[Page[Schedule]]:
    return Call(
        method="GET", path="/api/v1/schedules", params=_query(cursor=cursor, limit=limit), answer=_page(Schedule)
    )


@operation("GET", "/api/v1/schedules/{schedule_id}")
def get_schedule(schedule_id: str) -> Call[Schedule]:
    return Call(method="GET", path=f"/api/v1/schedules/{schedule_id}", answer=TypeAdapter(Schedule))


@operation("PATCH", "/api/v1/schedules/{schedule_id}")
def update_schedule(schedule_id: str, changes: dict[str, Any]) -> Call[Schedule]:
    return Call(method="PATCH", path=f"/api/v1/schedules/{schedule_id}", json=changes, answer=TypeAdapter(Schedule))


@operation("DELETE", "/api/v1/schedules/{schedule_id}")
def delete_schedule(schedule_id: str) -> Call[None]:
    return Call(method="DELETE", path=f"/api/v1/schedules/{schedule_id}", answer=None)


@operation("POST", "/api/v1/schedules/{schedule_id}/trigger")
def trigger_schedule(schedule_id: str) -> Call[Run]:
    return Call(method="POST", path=f"/api/v1/schedules/{schedule_id}/trigger", answer=TypeAdapter(Run))


@operation("GET", "/api/v1/schedules/{schedule_id}/next")
def next_fire_times(schedule_id: str, *, count: int) -> Call[dict[str, Any]]:
    return Call(method="GET", path=f"/api/v1/schedules/{schedule_id}/next", params={"count": count}, answer=JSON)


@operation("GET", "/api/v1/schedules/{schedule_id}/runs")
def schedule_events(schedule_id: str, *, cursor: str | None, limit: int) -> Call[Page[ScheduleEvent]]:
    query = _query(cursor=cursor, limit=limit)
    return Call(method="GET", path=f"/api/v1/schedules/{schedule_id}/runs", params=query, answer=_page(ScheduleEvent))


@operation("POST", "/api/v1/webhooks")
def create_webhook(body: dict[str, Any]) -> Call[Webhook]:
    return Call(method="POST", path="/api/v1/webhooks", json=body, answer=TypeAdapter(Webhook))


@operation("GET", "/api/v1/webhooks")
def list_webhooks(*, cursor: str | None, limit: int) -> Call[Page[Webhook]]:
    return Call(method="GET", path="/api/v1/webhooks", params=_query(cursor=cursor, limit=limit), answer=_page(Webhook))


@operation("GET", "/api/v1/webhooks/{webhook_id}")
def get_webhook(webhook_id: str) -> Call[Webhook]:
    return Call(method="GET", path=f"/api/v1/webhooks/{webhook_id}", answer=TypeAdapter(Webhook))


@operation("PATCH", "/api/v1/webhooks/{webhook_id}")
def update_webhook(webhook_id: str, changes: dict[str, Any]) -> Call[Webhook]:
    return Call(method="PATCH", path=f"/api/v1/webhooks/{webhook_id}", json=changes, answer=TypeAdapter(Webhook))


@operation("DELETE", "/api/v1/webhooks/{webhook_id}")
def delete_webhook(webhook_id: str) -> Call[None]:
    return Call(method="DELETE", path=f"/api/v1/webhooks/{webhook_id}", answer=None)


@operation("GET", "/api/v1/webhooks/{webhook_id}/deliveries")
def webhook_deliveries(webhook_id: str, *, cursor: str | None, limit: int) -> Call[Page[WebhookDelivery]]:
    path, query = f"/api/v1/webhooks/{webhook_id}/deliveries", _query(cursor=cursor, limit=limit)
    return Call(method="GET", path=path, params=query, answer=_page(WebhookDelivery))


@operation("POST", "/api/v1/webhooks/{webhook_id}/deliveries/{delivery_id}/redeliver")
def redeliver(webhook_id: str, delivery_id: str) -> Call[WebhookDelivery]:
    path = f"/api/v1/webhooks/{webhook_id}/deliveries/{delivery_id}/redeliver"
    return Call(method="POST", path=path, answer=TypeAdapter(WebhookDelivery))


@operation("POST", "/api/v1/webhooks/{webhook_id}/ping")
def ping_webhook(webhook_id: str) -> Call[WebhookDelivery]:
    return Call(method="POST", path=f"/api/v1/webhooks/{webhook_id}/ping", answer=TypeAdapter(WebhookDelivery))


# --- the audit log (admin) --------------------------------------------------------------------------------------


@operation("GET", "/api/v1/auth/audit/events")
def audit_events(*, filters: dict[str, Any], cursor: str | None, limit: int) -> Call[Page[AuditEvent]]:
    query = _query(**filters, cursor=cursor, limit=limit)
    return Call(method="GET", path="/api/v1/auth/audit/events", params=query, answer=_page(AuditEvent))


@operation("GET", "/api/v1/auth/audit/events/export")
def audit_export_path() -> str:
    return "/api/v1/auth/audit/events/export"


@operation("POST", "/api/v1/auth/audit/verify")
def verify_audit() -> Call[AuditVerification]:
    return Call(method="POST", path="/api/v1/auth/audit/verify", answer=TypeAdapter(AuditVerification))


# --- organisations and teams ------------------------------------------------------------------------------------


@operation("GET", "/api/v1/organizations")
def list_organizations() -> Call[list[Organization]]:
    return Call(method="GET", path="/api/v1/organizations", answer=TypeAdapter(list[Organization]))


@operation("POST", "/api/v1/organizations")
def create_organization(name: str) -> Call[Organization]:
    return Call(method="POST", path="/api/v1/organizations", json={"name": name}, answer=TypeAdapter(Organization))


@operation("GET", "/api/v1/teams")
def list_teams() -> Call[list[Team]]:
    return Call(method="GET", path="/api/v1/teams", answer=TypeAdapter(list[Team]))


@operation("POST", "/api/v1/teams")
def create_team(name: str, *, organization_id: str | None) -> Call[Team]:
    body = _query(name=name, organization_id=organization_id)
    return Call(method="POST", path="/api/v1/teams", json=body, answer=TypeAdapter(Team))


@operation("GET", "/api/v1/teams/{team_id}")
def get_team(team_id: str) -> Call[Team]:
    return Call(method="GET", path=f"/api/v1/teams/{team_id}", answer=TypeAdapter(Team))


@operation("DELETE", "/api/v1/teams/{team_id}")
def delete_team(team_id: str) -> Call[None]:
    return Call(method="DELETE", path=f"/api/v1/teams/{team_id}", answer=None)


@operation("GET", "/api/v1/teams/{team_id}/members")
def team_members(team_id: str) -> Call[list[TeamMember]]:
    return Call(method="GET", path=f"/api/v1/teams/{team_id}/members", answer=TypeAdapter(list[TeamMember]))


@operation("PATCH", "/api/v1/teams/{team_id}/members/{user_id}")
def change_member_role(team_id: str, user_id: str, role: str) -> Call[TeamMember]:
    path = f"/api/v1/teams/{team_id}/members/{user_id}"
    return Call(method="PATCH", path=path, json={"role": role}, answer=TypeAdapter(TeamMember))


@operation("DELETE", "/api/v1/teams/{team_id}/members/{user_id}")
def remove_member(team_id: str, user_id: str) -> Call[None]:
    return Call(method="DELETE", path=f"/api/v1/teams/{team_id}/members/{user_id}", answer=None)


@operation("POST", "/api/v1/teams/{team_id}/invitations")
def invite(team_id: str, username: str, role: str) -> Call[TeamInvitation]:
    body = {"username": username, "role": role}
    return Call(
        method="POST", path=f"/api/v1/teams/{team_id}/invitations", json=body, answer=TypeAdapter(TeamInvitation)
    )


@operation("GET", "/api/v1/teams/{team_id}/invitations")
def team_invitations(team_id: str) -> Call[list[TeamInvitation]]:
    path = f"/api/v1/teams/{team_id}/invitations"
    return Call(method="GET", path=path, answer=TypeAdapter(list[TeamInvitation]))


@operation("DELETE", "/api/v1/teams/{team_id}/invitations/{invitation_id}")
def withdraw_invitation(team_id: str, invitation_id: str) -> Call[None]:
    return Call(method="DELETE", path=f"/api/v1/teams/{team_id}/invitations/{invitation_id}", answer=None)


@operation("GET", "/api/v1/teams/invitations")
def my_invitations() -> Call[list[TeamInvitation]]:
    return Call(method="GET", path="/api/v1/teams/invitations", answer=TypeAdapter(list[TeamInvitation]))


@operation("POST", "/api/v1/teams/invitations/{invitation_id}/accept")
def accept_invitation(invitation_id: str) -> Call[None]:
    return Call(method="POST", path=f"/api/v1/teams/invitations/{invitation_id}/accept", answer=None)


@operation("POST", "/api/v1/teams/invitations/{invitation_id}/decline")
def decline_invitation(invitation_id: str) -> Call[None]:
    return Call(method="POST", path=f"/api/v1/teams/invitations/{invitation_id}/decline", answer=None)
