"""CognitionOS as an MCP server, for any MCP host (Claude Desktop or Code, Cursor, an IDE): memory, runs and
conversations as tools, runs and memories as resources. Served here at /mcp (stateless streamable HTTP, JSON
answers) and published by the gateway at /mcp, which authenticates the caller exactly as for the REST API (bearer
token or API key): every call acts as that verified caller, with their limits."""

import uuid
from typing import Any

from fastapi import FastAPI, Request
from mcp.server.mcpserver import Context, MCPServer
from starlette.routing import BaseRoute

from services.agent_orchestrator.conversations.schemas import ConversationCreate, MessageCreate
from services.agent_orchestrator.conversations.service import Turn
from services.agent_orchestrator.deps import OrchestratorState, conversation_service, run_service
from services.agent_orchestrator.schemas import RunCreate
from shared.app import core_state, service_state
from shared.contracts import clients as contracts
from shared.contracts.memory import MemoryCreate, MemoryType, RetrieveRequest
from shared.errors import UnauthorizedError
from shared.identity import Identity, identity_from_request

INSTRUCTIONS = (
    "CognitionOS runs goals with agents (plan, execute in a sandbox, check) and keeps a long-term memory of its user. "
    "Use memory_search before answering about the user, memory_store to remember a fact they tell you, start_run "
    "for work that needs planning and running code, get_run to see how it went."
)


def create_mcp_server() -> MCPServer:
    server = MCPServer("cognitionos", instructions=INSTRUCTIONS)

    @server.tool()
    async def memory_search(query: str, ctx: Context, k: int = 5) -> list[dict[str, Any]]:
        """Search the user's memories by meaning and words; the most relevant first."""
        app, identity = _caller(ctx)
        asked = RetrieveRequest(query=query[:4000], k=max(1, min(k, 50)), hybrid=True)
        found = await contracts.retrieve(_state(app).memory, asked, identity=identity)
        return [m.model_dump(mode="json", include={"id", "content", "memory_type", "relevance_score"}) for m in found]

    @server.tool()
    async def memory_store(content: str, ctx: Context, memory_type: MemoryType = "fact") -> dict[str, Any]:
        """Remember something about the user (a near-duplicate updates the memory it repeats)."""
        app, identity = _caller(ctx)
        stored = await contracts.remember(
            _state(app).memory,
            MemoryCreate(content=content[:20_000], memory_type=memory_type, metadata={"source": "mcp"}),
            identity=identity,
        )
        return {"id": str(stored.id), "deduplicated": stored.deduplicated}

    @server.tool()
    async def start_run(goal: str, ctx: Context, budget_usd: float | None = None) -> dict[str, Any]:
        """Hand a goal to CognitionOS's agents: it is planned into tasks and run in the background."""
        app, identity = _caller(ctx)
        async with core_state(app).sessionmaker() as session:
            asked = RunCreate(goal=goal[:4000], budget_usd=budget_usd)
            started = (await run_service(_state(app), session).start(identity, asked)).answer
        return {"run_id": str(started.id), "status": started.status, "goal": started.goal}

    @server.tool()
    async def get_run(run_id: str, ctx: Context) -> dict[str, Any]:
        """A run: its status, tasks, result and cost."""
        return await _run(ctx, run_id)

    @server.tool()
    async def list_runs(ctx: Context, limit: int = 10) -> list[dict[str, Any]]:
        """The user's latest runs, newest first."""
        app, identity = _caller(ctx)
        async with core_state(app).sessionmaker() as session:
            page = await run_service(_state(app), session).page(identity, cursor=None, limit=max(1, min(limit, 50)))
        return [
            r.model_dump(mode="json", include={"id", "goal", "status", "verification", "spent_usd"}) for r in page.items
        ]

    @server.tool()
    async def send_message(content: str, ctx: Context, conversation_id: str | None = None) -> dict[str, Any]:
        """Talk with CognitionOS's assistant (it remembers the user); a new conversation unless one is named."""
        app, identity = _caller(ctx)
        async with core_state(app).sessionmaker() as session:
            service = conversation_service(_state(app), session)
            if conversation_id is None:
                conversation_id = str((await service.create(identity, ConversationCreate(title=None))).id)
            conversation = await service.get(identity, uuid.UUID(conversation_id))
            turn = Turn()
            async for _ in service.turn(identity, conversation, MessageCreate(content=content), turn):
                pass
        reply = turn.reply.content if turn.reply is not None else ""
        held = [str(a.id) for a in turn.held]
        return {"conversation_id": conversation_id, "reply": reply, "approvals_waiting": held}

    @server.resource("run://{run_id}", mime_type="application/json")
    async def run_resource(run_id: str, ctx: Context) -> dict[str, Any]:
        """A run of the user's, as get_run shows it."""
        return await _run(ctx, run_id)

    @server.resource("memory://{memory_id}", mime_type="application/json")
    async def memory_resource(memory_id: str, ctx: Context) -> dict[str, Any]:
        """One of the user's memories."""
        app, identity = _caller(ctx)
        found: dict[str, Any] = await _state(app).memory.get_json(
            f"/memories/{uuid.UUID(memory_id)}", identity=identity
        )
        return {k: found.get(k) for k in ("id", "content", "memory_type", "scope", "created_at", "metadata")}

    @server.prompt()
    def recall(topic: str) -> str:
        """Recall what CognitionOS remembers about a topic before answering."""
        return (
            f"Before you answer, call memory_search with the query {topic!r} and use what it finds about the user; "
            "say which memories you relied on."
        )

    return server


def mcp_routes(server: MCPServer) -> list[BaseRoute]:
    """The /mcp route of the server's streamable HTTP app (stateless, JSON answers), to add to the service's app;
    its session manager runs in the service's lifespan."""
    return list(server.streamable_http_app(stateless_http=True, json_response=True).routes)


def _caller(ctx: Context) -> tuple[FastAPI, Identity]:
    request = ctx.request_context.request
    if not isinstance(request, Request):
        raise UnauthorizedError("CognitionOS's MCP server answers over HTTP, through the gateway")
    identity = identity_from_request(request)
    if identity is None:
        raise UnauthorizedError("Authentication required: connect through the API gateway's /mcp")
    app = request.app
    assert isinstance(app, FastAPI)
    return app, identity


def _state(app: FastAPI) -> OrchestratorState:
    return service_state(app, OrchestratorState)


async def _run(ctx: Context, run_id: str) -> dict[str, Any]:
    app, identity = _caller(ctx)
    async with core_state(app).sessionmaker() as session:
        run = await run_service(_state(app), session).describe(identity, uuid.UUID(run_id))
    return run.model_dump(mode="json", exclude={"tasks"}) | {
        "tasks": [t.model_dump(mode="json", include={"task_key", "name", "status", "output"}) for t in run.tasks]
    }
