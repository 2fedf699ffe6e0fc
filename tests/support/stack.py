"""The gateway's test stack: a real auth-service, an echoing upstream and gateways, each a uvicorn server."""

from dataclasses import dataclass

from services.api_gateway.config import GatewaySettings
from services.auth_service.config import AuthSettings
from tests.support import ThreadedServer
from tests.support.settings import common_settings


@dataclass
class Stack:
    auth: ThreadedServer
    echo: ThreadedServer
    gateway: ThreadedServer
    auth_settings: AuthSettings
    dead_url: str

    def gateway_settings(self, **overrides: object) -> GatewaySettings:
        base = dict(
            **common_settings(self.auth_settings.database_url, self.auth_settings.redis_url),
            auth_service_url=self.auth.url,
            memory_service_url=self.echo.url,
            ai_runtime_url=self.echo.url,
            task_planner_url=self.echo.url,
            agent_orchestrator_url=self.echo.url,
            tool_runner_url=self.dead_url,
            upstream_timeout_seconds=1.0,
            rate_limit_user_burst=10_000,
            rate_limit_ip_burst=10_000,
        )
        base.update(overrides)
        return GatewaySettings(**base)  # type: ignore[arg-type]
