"""One typed function per cross-service hop, on the one client (shared/clients.py ServiceClient): the body and the
answer are the producing service's own models (shared/contracts), so mypy follows a call from the caller to the
route and back."""

import uuid
from collections.abc import AsyncIterator
from typing import Any

from pydantic import TypeAdapter

from shared.clients import ServiceClient
from shared.contracts.ai import (
    BudgetRequest,
    BudgetResponse,
    CompleteRequest,
    CompleteResponse,
    EmbedRequest,
    EmbedResponse,
    ModelsResponse,
)
from shared.contracts.files import FileKind, FileResponse, FilesDescribeRequest, FilesDescribeResponse
from shared.contracts.memory import MemoryCreate, MemoryResponse, MemoryUpdate, RetrievedMemory, RetrieveRequest
from shared.contracts.plans import PlanRequest, PlanResponse, ReplanRequest
from shared.contracts.tools import ExecuteRequest, ExecuteResponse, ToolDescription
from shared.identity import Identity
from shared.pagination import Page

_RETRIEVED = TypeAdapter(list[RetrievedMemory])
_FILES_PAGE = TypeAdapter(Page[FileResponse])
_TOOLS = TypeAdapter(list[ToolDescription])


async def complete(ai: ServiceClient, body: CompleteRequest, *, identity: Identity) -> CompleteResponse:
    """ai-runtime POST /complete."""
    return await ai.call("/complete", body, CompleteResponse, identity=identity)


def complete_streamed(
    ai: ServiceClient, body: CompleteRequest, *, identity: Identity
) -> AsyncIterator[tuple[str, Any]]:
    """ai-runtime POST /complete with stream: the answer's events, `chunk`s then `done` (a CompleteResponse)."""
    sent = body.model_copy(update={"stream": True}).model_dump(mode="json", exclude_none=True)
    return ai.stream_events("/complete", identity=identity, json=sent)


async def list_models(ai: ServiceClient, *, identity: Identity) -> ModelsResponse:
    """ai-runtime GET /models: the catalog with availability, the aliases and the role chains."""
    return ModelsResponse.model_validate(await ai.get_json("/models", identity=identity))


async def embed(ai: ServiceClient, body: EmbedRequest, *, identity: Identity) -> EmbedResponse:
    """ai-runtime POST /embed."""
    return await ai.call("/embed", body, EmbedResponse, identity=identity)


async def remember(memory: ServiceClient, body: MemoryCreate, *, identity: Identity) -> MemoryResponse:
    """memory-service POST /memories (a near-duplicate strengthens the memory it matches: `deduplicated`)."""
    return await memory.call("/memories", body, MemoryResponse, identity=identity)


async def retrieve(memory: ServiceClient, body: RetrieveRequest, *, identity: Identity) -> list[RetrievedMemory]:
    """memory-service POST /memories/retrieve, best first."""
    sent = body.model_dump(mode="json", exclude_none=True)
    return _RETRIEVED.validate_python(await memory.post_json("/memories/retrieve", identity=identity, json=sent))


async def execute(tools: ServiceClient, body: ExecuteRequest, *, identity: Identity) -> ExecuteResponse:
    """tool-runner POST /tools/execute: every run is recorded; a tool that fails answers 200 with its status."""
    return await tools.call("/tools/execute", body, ExecuteResponse, identity=identity)


async def plan(planner: ServiceClient, body: PlanRequest, *, identity: Identity) -> PlanResponse:
    """task-planner POST /plans: a validated plan for a goal."""
    return await planner.call("/plans", body, PlanResponse, identity=identity)


async def replan(planner: ServiceClient, body: ReplanRequest, *, identity: Identity) -> PlanResponse:
    """task-planner POST /plans/replan: the remaining work after a task failed, finished tasks kept."""
    return await planner.call("/plans/replan", body, PlanResponse, identity=identity)


async def get_plan(planner: ServiceClient, plan_id: uuid.UUID, *, identity: Identity) -> PlanResponse:
    """task-planner GET /plans/{id}."""
    return PlanResponse.model_validate(await planner.get_json(f"/plans/{plan_id}", identity=identity))


async def set_budget(
    ai: ServiceClient, scope: str, scope_id: uuid.UUID, body: BudgetRequest, *, identity: Identity
) -> BudgetResponse:
    """ai-runtime PUT /admin/budgets/{scope}/{id} (an admin's or the system's)."""
    sent = body.model_dump(mode="json", exclude_none=True)
    answer = await ai.put_json(f"/admin/budgets/{scope}/{scope_id}", identity=identity, json=sent)
    return BudgetResponse.model_validate(answer)


async def change_memory(
    memory: ServiceClient, memory_id: uuid.UUID, body: MemoryUpdate, *, identity: Identity
) -> MemoryResponse:
    """memory-service PUT /memories/{id} (the change is kept in the memory's history)."""
    sent = body.model_dump(mode="json", exclude_none=True)
    return MemoryResponse.model_validate(await memory.put_json(f"/memories/{memory_id}", identity=identity, json=sent))


async def list_tools(tools: ServiceClient, *, identity: Identity) -> list[ToolDescription]:
    """tool-runner GET /tools: the tools and their parameter schemas."""
    return _TOOLS.validate_python(await tools.get_json("/tools", identity=identity))


async def describe_files(
    tools: ServiceClient, body: FilesDescribeRequest, *, identity: Identity
) -> FilesDescribeResponse:
    """tool-runner POST /files/describe: the caller's files with the first lines of text ones (404 file_not_found
    naming the ids that are not theirs)."""
    return await tools.call("/files/describe", body, FilesDescribeResponse, identity=identity)


async def list_files(
    tools: ServiceClient,
    *,
    identity: Identity,
    run_id: uuid.UUID | None = None,
    kind: FileKind | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> Page[FileResponse]:
    """tool-runner GET /files: the caller's files, newest first, a page at a time."""
    query = {"run_id": run_id and str(run_id), "kind": kind, "cursor": cursor, "limit": str(limit)}
    params = {k: v for k, v in query.items() if v is not None}
    return _FILES_PAGE.validate_python(await tools.get_json("/files", identity=identity, params=params))
