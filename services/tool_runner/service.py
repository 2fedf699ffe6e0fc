"""Running tools for a verified caller; each run is validated, bounded and recorded."""

import asyncio
import fnmatch
import ipaddress
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from typing import Any

from cryptography.fernet import Fernet
from pydantic import ValidationError
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession

from services.tool_runner import mcp, repository
from services.tool_runner.config import ToolRunnerSettings
from services.tool_runner.files import FileService
from services.tool_runner.http_tool import HttpPolicy, http_request
from services.tool_runner.mcp import McpError
from services.tool_runner.mcp_servers import McpRegistry
from services.tool_runner.pool import SandboxPool
from services.tool_runner.sandbox import ExecutionResult, OutputLimits, Workspace, bwrap_path, run_python
from services.tool_runner.schemas import TOOL_PARAMETERS, ExecuteRequest, ExecuteResponse
from services.tool_runner.storage import FileStorage
from shared import metrics
from shared.clients import ServiceClient
from shared.contracts import clients as contracts
from shared.contracts.ai import CompleteRequest
from shared.contracts.memory import MemoryCreate, RetrieveRequest
from shared.errors import (
    AppError,
    BadRequestError,
    ForbiddenError,
    NotFoundError,
    ServiceUnavailableError,
    TooManyRequestsError,
)
from shared.identity import Identity

MAX_RECORDED_PARAMETER_CHARS = 10_000
Outcome = tuple[str, dict[str, Any] | None, str | None]  # status, result, error


@dataclass
class ToolService:
    session: AsyncSession
    settings: ToolRunnerSettings
    memory: ServiceClient
    ai: ServiceClient
    redis: Redis
    cipher: Fernet  # MCP servers' headers at rest
    storage: FileStorage
    pool: SandboxPool | None = None  # warm sandboxes, where the host affords them

    @property
    def files(self) -> FileService:
        return FileService(session=self.session, settings=self.settings, storage=self.storage)

    def _policy(self) -> HttpPolicy:
        s = self.settings
        private = frozenset(ipaddress.ip_address(a) for a in s.http_allowed_private_addresses)
        return HttpPolicy(
            allowed_hosts=tuple(h.lower() for h in s.http_allowed_hosts),
            allowed_private=private,
            max_response_bytes=s.http_max_response_bytes,
            max_redirects=s.http_max_redirects,
        )

    async def ensure_permitted(self, identity: Identity, tool: str) -> uuid.UUID | None:
        """An API key may use only the tools it allows, in its own calls and in its runs'; an agent acting for a
        user only those its definition allows. Key and agent come from the signed identity, never from the body."""
        key_id = _uuid_or_none(identity.api_key_id)
        key_allows = await repository.api_key_allowed_tools(self.session, key_id) if key_id else None
        if key_allows is not None and not tool_allowed(tool, key_allows):
            raise ForbiddenError(
                f"This API key may not use {tool}",
                code="tool_not_permitted",
                details={"tool": tool, "allowed_tools": key_allows},
            )
        if identity.role != "agent":
            return None
        agent_id = _uuid_or_none(identity.agent_id)
        allowed = await repository.agent_allowed_tools(self.session, agent_id) if agent_id else None
        if allowed is None:
            raise ForbiddenError("This agent identity names no active agent definition", code="unknown_agent")
        if not tool_allowed(tool, allowed):
            raise ForbiddenError(
                f"Agent may not use {tool}", code="tool_not_permitted", details={"tool": tool, "allowed_tools": allowed}
            )
        return agent_id

    async def execute(self, identity: Identity, request: ExecuteRequest) -> ExecuteResponse:
        agent_id = await self.ensure_permitted(identity, request.tool_name)
        timeout = min(
            request.timeout_seconds or self.settings.default_timeout_seconds, self.settings.max_timeout_seconds
        )
        started = time.perf_counter()
        if (named := mcp.split_name(request.tool_name)) is not None:
            status, result, error = await self._run_mcp(identity, named, request.parameters, timeout=timeout)
        else:
            status, result, error = await self._run_built_in(identity, request, timeout=timeout)
        duration = round((time.perf_counter() - started) * 1000, 2)
        metrics.TOOL_RUNS.labels("mcp" if named else request.tool_name, status).inc()
        execution_id = await repository.record_execution(
            self.session,
            tool_name=request.tool_name,
            user_id=uuid.UUID(identity.user_id),
            agent_id=agent_id,
            task_id=request.task_id,
            parameters=_recordable(request.parameters),
            status=status,
            result=result,
            error=error,
            duration_ms=duration,
        )
        await self.session.commit()
        return ExecuteResponse(
            execution_id=execution_id,
            tool_name=request.tool_name,
            status=status,
            result=result,
            error=error,
            duration_ms=duration,
        )

    async def _run_built_in(self, identity: Identity, request: ExecuteRequest, *, timeout: float) -> Outcome:
        try:
            parameters = TOOL_PARAMETERS[request.tool_name].model_validate(request.parameters)
        except ValidationError as exc:
            raise BadRequestError(
                f"Invalid parameters for {request.tool_name}",
                code="invalid_parameters",
                details={"errors": [{"loc": list(e["loc"]), "msg": e["msg"]} for e in exc.errors()]},
            ) from exc
        try:
            if request.tool_name == "execute_python":
                result = await self._execute_python(
                    identity, request, code=parameters.model_dump()["code"], timeout=timeout
                )
            else:
                result = await self._run(
                    identity, tool=request.tool_name, parameters=parameters.model_dump(mode="json"), timeout=timeout
                )
        except AppError as exc:
            # What the outside world did to an http_request (blocked, unreachable, refused) is the tool's result.
            if request.tool_name != "http_request" or exc.status_code not in (400, 403, 502):
                raise
            return "failed", {"blocked": exc.code, "details": exc.details}, exc.message
        except TimeoutError:
            return "timeout", None, f"{request.tool_name} did not finish within {timeout} s"
        if request.tool_name != "execute_python":
            return "succeeded", result, None
        status = "timeout" if result["timed_out"] else ("succeeded" if result["exit_code"] == 0 else "failed")
        error = None if status == "succeeded" else (result["stderr"][-2000:] or f"exit code {result['exit_code']}")
        return status, result, error

    async def _run_mcp(
        self, identity: Identity, named: tuple[str, str], arguments: dict[str, Any], *, timeout: float
    ) -> Outcome:
        """A tool of the caller's MCP server: its text and structured content; the server's isError fails it."""
        server, tool = named
        endpoint = replace(await self.mcp_servers.endpoint_for(identity, server, tool), timeout=timeout)
        try:
            async with asyncio.timeout(timeout + 1):
                result = await mcp.call_tool(endpoint, tool, arguments)
        except TimeoutError:
            return "timeout", None, f"mcp__{server}__{tool} did not finish within {timeout} s"
        except McpError as exc:
            timed_out = "timed out" in str(exc) or "Timeout" in str(exc)
            return ("timeout" if timed_out else "failed"), None, str(exc)[:2000]
        if result["is_error"]:
            return "failed", result, (result["text"] or "the MCP server reported an error")[:2000]
        return "succeeded", result, None

    @property
    def mcp_servers(self) -> McpRegistry:
        return McpRegistry(session=self.session, settings=self.settings, cipher=self.cipher, policy=self._policy())

    @asynccontextmanager
    async def _sandbox_slot(self, identity: Identity, *, timeout: float) -> AsyncIterator[None]:
        """One of the user's `sandbox_runs_per_user` concurrent runs, shared by every tool-runner process."""
        slot = uuid.uuid4().hex
        key = sandbox_slots_key(identity.user_id)
        if not await take_sandbox_slot(
            self.redis, key, slot=slot, limit=self.settings.sandbox_runs_per_user, hold_seconds=timeout + SLOT_GRACE
        ):
            raise TooManyRequestsError(
                f"At most {self.settings.sandbox_runs_per_user} code runs at once per user",
                code="too_many_sandbox_runs",
                details={"limit": self.settings.sandbox_runs_per_user},
                headers={"Retry-After": "1"},
            )
        try:
            yield
        finally:
            await self.redis.zrem(key, slot)

    async def _execute_python(
        self, identity: Identity, request: ExecuteRequest, *, code: str, timeout: float
    ) -> dict[str, Any]:
        sandboxed = bwrap_path() is not None
        if not sandboxed and not self.settings.sandbox_allow_unsandboxed:
            raise ServiceUnavailableError(
                "Code execution needs bubblewrap: install it (apt-get install bubblewrap) or set "
                "SANDBOX_ALLOW_UNSANDBOXED=true for a weaker mode",
                code="sandbox_unavailable",
            )
        workspace = await self._workspace(identity, request)
        async with self._sandbox_slot(identity, timeout=timeout):
            if self.pool is not None and sandboxed:
                outcome = await self.pool.run(code, timeout_seconds=timeout, workspace=workspace)
            else:
                outcome = await run_python(
                    code,
                    timeout_seconds=timeout,
                    limits=self.settings.sandbox_limits(),
                    sandboxed=sandboxed,
                    workspace=workspace,
                )
        metrics.SANDBOX_SECONDS.observe(outcome.duration_ms / 1000)
        if outcome.memory_exceeded:
            metrics.SANDBOX_MEMORY_KILLS.inc()
        result: dict[str, Any] = {
            "stdout": outcome.stdout,
            "stderr": outcome.stderr,
            "exit_code": outcome.exit_code,
            "timed_out": outcome.timed_out,
            "signal": outcome.signal,
            "truncated": outcome.truncated,
            "sandbox": "bwrap" if sandboxed else "none",
            "memory_exceeded": outcome.memory_exceeded,
            "run_limits": outcome.run_limits,
        }
        if workspace.collect is not None:
            result |= await self._artifacts(identity, request, outcome, workspace.collect)
        return result

    async def _workspace(self, identity: Identity, request: ExecuteRequest) -> Workspace:
        """The caller's input files (404 for any that is not theirs) and, for a run of theirs or when asked,
        collection of what the code leaves in /work/outputs."""
        if len(request.files) > self.settings.run_input_files:
            raise BadRequestError(
                f"At most {self.settings.run_input_files} input files per code run",
                code="too_many_files",
                details={"limit": self.settings.run_input_files},
            )
        owner = uuid.UUID(identity.user_id)
        if request.run_id is not None and not await repository.run_owned(
            self.session, owner, request.run_id, request.task_id
        ):
            raise NotFoundError("No such run", code="run_not_found")
        inputs = await self.files.owned(identity, request.files) if request.files else []
        collect = request.collect_outputs or request.run_id is not None
        s = self.settings
        return Workspace(
            fill=self.files.filler(inputs) if inputs else None,
            collect=OutputLimits(max_files=s.outputs_max_files, max_bytes=s.outputs_max_bytes) if collect else None,
        )

    async def _artifacts(
        self, identity: Identity, request: ExecuteRequest, outcome: ExecutionResult, limits: OutputLimits
    ) -> dict[str, Any]:
        if outcome.outputs is None:
            return {"artifacts": [], "artifacts_truncated": outcome.outputs_cut}
        with outcome.outputs:
            collected = await self.files.collect(
                outcome.outputs,
                owner=uuid.UUID(identity.user_id),
                team=uuid.UUID(identity.team_id) if identity.team_id else None,
                run_id=request.run_id,
                task_id=request.task_id,
                limits=limits,
            )
        shown = {"id", "name", "media_type", "size", "sha256"}
        return {
            "artifacts": [a.model_dump(mode="json", include=shown) for a in collected.artifacts],
            "artifacts_truncated": collected.truncated or outcome.outputs_cut,
            **({"artifacts_skipped": collected.skipped} if collected.skipped else {}),
        }

    async def _run(
        self, identity: Identity, *, tool: str, parameters: dict[str, Any], timeout: float
    ) -> dict[str, Any]:
        if tool == "http_request":
            return await http_request(
                method=parameters["method"],
                url=parameters["url"],
                headers=parameters["headers"],
                body=parameters["body"],
                timeout=timeout,
                policy=self._policy(),
            )
        if tool == "memory_search":
            asked = RetrieveRequest(
                query=parameters["query"],
                k=parameters["k"],
                scopes=parameters.get("scopes"),
                session_id=parameters.get("session_id"),
                metadata=parameters.get("metadata"),
            )
            found = await contracts.retrieve(self.memory, asked, identity=identity)
            return {
                "memories": [m.model_dump(mode="json", include={"id", "content", "relevance_score"}) for m in found]
            }
        if tool == "memory_store":
            stored = await contracts.remember(self.memory, MemoryCreate.model_validate(parameters), identity=identity)
            return {"id": str(stored.id), "deduplicated": stored.deduplicated}
        completion = await contracts.complete(self.ai, CompleteRequest.model_validate(parameters), identity=identity)
        return completion.model_dump(include={"content", "model_used", "cost_usd", "tokens_used"})


# Each run holds one member of the user's sorted set, scored with its own deadline (the run's timeout and a grace
# period, on Redis's clock). Members past their deadline are dropped before counting, so slots held by a process that
# died lapse on time; a refused call changes nothing, so retries cannot keep dead slots alive.
TAKE_SLOT = """
local now = redis.call('TIME')
local now_ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now_ms)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then
  return 0
end
local hold_ms = tonumber(ARGV[3])
redis.call('ZADD', KEYS[1], now_ms + hold_ms, ARGV[1])
if redis.call('PTTL', KEYS[1]) < hold_ms then
  redis.call('PEXPIRE', KEYS[1], hold_ms)
end
return 1
"""
SLOT_GRACE = 5.0


def tool_allowed(tool: str, allowed: list[str]) -> bool:
    """A built-in tool by its name; an MCP tool by its name or a pattern (mcp__server__*)."""
    if tool in allowed:
        return True
    return mcp.split_name(tool) is not None and any(
        rule.startswith(mcp.PREFIX) and fnmatch.fnmatchcase(tool, rule) for rule in allowed
    )


def sandbox_slots_key(user_id: str) -> str:
    return f"sandbox:slots:{user_id}"


async def take_sandbox_slot(redis: Redis, key: str, *, slot: str, limit: int, hold_seconds: float) -> bool:
    """Take a slot until `hold_seconds` from now unless `limit` live ones are held; False when they are."""
    taken = await redis.eval(TAKE_SLOT, 1, key, slot, limit, int(hold_seconds * 1000))
    return bool(taken)


def _uuid_or_none(value: str | None) -> uuid.UUID | None:
    try:
        return uuid.UUID(value) if value else None
    except ValueError:
        return None


def _recordable(parameters: dict[str, Any]) -> dict[str, Any]:
    return {k: (v[:MAX_RECORDED_PARAMETER_CHARS] if isinstance(v, str) else v) for k, v in parameters.items()}
