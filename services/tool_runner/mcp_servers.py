"""The registry of the users' MCP servers: register (connect, list the tools), list, refresh, delete, and what a
call of mcp__<server>__<tool> needs (the server the caller may use, its endpoint with the decrypted headers)."""

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from cryptography.fernet import Fernet, InvalidToken
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from database.models import McpServer
from services.tool_runner import mcp, repository
from services.tool_runner.config import ToolRunnerSettings
from services.tool_runner.http_tool import HttpPolicy, resolve_public_address
from services.tool_runner.mcp import McpEndpoint, McpError
from services.tool_runner.schemas import McpServerCreate, McpServerResponse, McpTool, ToolDescription
from shared import audit, teams
from shared.errors import AppError, ConflictError, ForbiddenError, NotFoundError, UnprocessableError
from shared.identity import Identity


@dataclass
class McpRegistry:
    session: AsyncSession
    settings: ToolRunnerSettings
    cipher: Fernet
    policy: HttpPolicy

    async def register(self, identity: Identity, asked: McpServerCreate) -> McpServerResponse:
        owner = None if asked.shared else uuid.UUID(identity.user_id)
        if asked.shared and not identity.is_admin:
            raise ForbiddenError("Only an admin registers a shared MCP server", code="admin_only")
        if owner is not None and await repository.count_own_mcp_servers(self.session, owner) >= self._most:
            raise ConflictError(
                f"At most {self._most} MCP servers per user", code="too_many_mcp_servers", details={"limit": self._most}
            )
        team = None if asked.shared else await teams.team_for_new_row(self.session, identity, asked.team_id)
        server = McpServer(
            id=uuid.uuid4(),
            owner_id=owner,
            team_id=team,
            name=asked.name,
            url=str(asked.url),
            transport=asked.transport,
            headers_encrypted=self.cipher.encrypt(json.dumps(asked.headers).encode()).decode()
            if asked.headers
            else None,
        )
        await self._list_tools(server, raise_unreachable=True)
        try:
            await repository.add_mcp_server(self.session, server)
            details = {"name": server.name, "url": server.url, "transport": server.transport, "shared": asked.shared}
            await audit.record(
                self.session,
                identity,
                "mcp_server.created",
                target_type="mcp_server",
                target_id=server.id,
                details=details,
            )
            await self.session.commit()
        except IntegrityError as exc:
            await self.session.rollback()
            raise ConflictError(f"An MCP server named {asked.name!r} exists", code="already_exists") from exc
        return self.response(server)

    async def listed(self, identity: Identity) -> list[McpServerResponse]:
        return [self.response(s) for s in await repository.mcp_servers(self.session, identity)]

    async def get(self, identity: Identity, server_id: uuid.UUID, *, access: teams.Access = "read") -> McpServer:
        """The caller's own server, a team's or a shared one; anyone else's is not found."""
        server = await repository.mcp_server(self.session, server_id)
        if server is None:
            raise NotFoundError(f"No MCP server {server_id}")
        if server.owner_id is None and server.team_id is None:
            return server
        missing = f"No MCP server {server_id}"
        await teams.check_row(
            self.session, identity, owner_id=server.owner_id, team_id=server.team_id, access=access, missing=missing
        )
        return server

    async def delete(self, identity: Identity, server_id: uuid.UUID) -> None:
        server = self._changeable(identity, await self.get(identity, server_id, access="write"))
        await self.session.delete(server)
        details = {"name": server.name, "url": server.url}
        await audit.record(
            self.session, identity, "mcp_server.deleted", target_type="mcp_server", target_id=server.id, details=details
        )
        await self.session.commit()

    async def refresh(self, identity: Identity, server_id: uuid.UUID) -> McpServerResponse:
        server = self._changeable(identity, await self.get(identity, server_id, access="write"))
        await self._list_tools(server, raise_unreachable=False)
        await self.session.commit()
        if server.last_error:
            raise UnprocessableError(
                f"The MCP server did not answer: {server.last_error}",
                code="mcp_unreachable",
                details={"reason": server.last_error},
            )
        return self.response(server)

    async def tools_of(self, identity: Identity) -> list[ToolDescription]:
        """The caller's MCP tools (own servers first, then shared ones; a name is the first server's)."""
        described: dict[str, ToolDescription] = {}
        for server in await repository.mcp_servers(self.session, identity, enabled_only=True):
            for tool in self._tools(server):
                described.setdefault(
                    tool.name,
                    ToolDescription(name=tool.name, description=tool.description, parameters=tool.input_schema),
                )
        return list(described.values())

    async def endpoint_for(self, identity: Identity, server_name: str, tool: str) -> McpEndpoint:
        """Where to call the caller's `tool` of `server_name`: 404 for a server or tool they do not have."""
        server = await repository.mcp_server_named(self.session, identity, server_name)
        if server is None or not server.enabled:
            raise NotFoundError(f"No MCP server named {server_name!r}", code="unknown_tool")
        if not any(t["name"] == tool for t in server.tools):
            raise NotFoundError(f"MCP server {server_name!r} has no tool {tool!r}", code="unknown_tool")
        await self._check_address(server.url)
        return self._endpoint(server)

    def response(self, server: McpServer) -> McpServerResponse:
        return McpServerResponse(
            id=server.id,
            name=server.name,
            url=server.url,
            transport=server.transport,
            shared=server.owner_id is None,
            team_id=server.team_id,
            enabled=server.enabled,
            header_names=sorted(self._headers(server)),
            tools=self._tools(server),
            tools_refreshed_at=server.tools_refreshed_at,
            last_error=server.last_error,
            created_at=server.created_at if server.created_at else datetime.now(UTC),
        )

    @property
    def _most(self) -> int:
        return self.settings.mcp_servers_per_user

    def _changeable(self, identity: Identity, server: McpServer) -> McpServer:
        if server.owner_id is None and not identity.is_admin:
            raise ForbiddenError("Only an admin changes a shared MCP server", code="admin_only")
        return server

    async def _list_tools(self, server: McpServer, *, raise_unreachable: bool) -> None:
        """Connects and asks the server for its tools; a failure is kept in last_error (and raised when asked)."""
        try:
            await self._check_address(server.url)
            listed = await mcp.list_tools(self._endpoint(server))
        except AppError as exc:  # the SSRF policy refused the address: its own code says why
            server.last_error = exc.message
            if raise_unreachable:
                raise
            return
        except McpError as exc:
            server.last_error = str(exc)
            if raise_unreachable:
                raise UnprocessableError(
                    f"The MCP server did not answer: {exc}", code="mcp_unreachable", details={"reason": str(exc)}
                ) from exc
            return
        usable = [t for t in listed if mcp.USABLE_NAME.match(mcp.full_name(server.name, t["name"]))]
        server.tools, server.tools_refreshed_at = usable, datetime.now(UTC)
        skipped = len(listed) - len(usable)
        server.last_error = f"{skipped} tools left out: their names are not usable by an LLM" if skipped else None

    async def _check_address(self, url: str) -> None:
        """The same SSRF policy as http_request (HTTP_ALLOWED_PRIVATE_ADDRESSES admits self-hosted servers)."""
        parts = urlsplit(url)
        host = parts.hostname or ""
        try:
            await resolve_public_address(host, parts.port or (443 if parts.scheme == "https" else 80), self.policy)
        except AppError as exc:
            raise UnprocessableError(exc.message, code=exc.code, details=exc.details) from exc

    def _endpoint(self, server: McpServer) -> McpEndpoint:
        return McpEndpoint(
            url=server.url,
            transport="sse" if server.transport == "sse" else "streamable_http",
            headers=self._headers(server),
            timeout=self.settings.mcp_timeout_seconds,
        )

    def _headers(self, server: McpServer) -> dict[str, str]:
        if not server.headers_encrypted:
            return {}
        try:
            headers: dict[str, Any] = json.loads(self.cipher.decrypt(server.headers_encrypted.encode()))
        except InvalidToken:
            return {}  # encrypted with another ENCRYPTION_KEY: register the server again
        return {str(k): str(v) for k, v in headers.items()}

    @staticmethod
    def _tools(server: McpServer) -> list[McpTool]:
        return [
            McpTool(
                name=mcp.full_name(server.name, t["name"]),
                tool=t["name"],
                description=t.get("description") or "",
                input_schema=t.get("input_schema") or {"type": "object"},
            )
            for t in server.tools
        ]
