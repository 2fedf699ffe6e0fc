"""The seven services: name, package and port."""

from dataclasses import dataclass


@dataclass(frozen=True, slots=True, kw_only=True)
class ServiceSpec:
    name: str
    package: str
    port: int
    url_setting: str

    @property
    def app_factory(self) -> str:
        return f"services.{self.package}.main:create_app"

    def port_from(self, port_base: int) -> int:
        """Default ports are 8000-8006; a different base shifts them all together."""
        return port_base + (self.port - 8000)


SERVICES: tuple[ServiceSpec, ...] = (
    ServiceSpec(name="api-gateway", package="api_gateway", port=8000, url_setting="API_GATEWAY_URL"),
    ServiceSpec(name="auth-service", package="auth_service", port=8001, url_setting="AUTH_SERVICE_URL"),
    ServiceSpec(name="task-planner", package="task_planner", port=8002, url_setting="TASK_PLANNER_URL"),
    ServiceSpec(
        name="agent-orchestrator", package="agent_orchestrator", port=8003, url_setting="AGENT_ORCHESTRATOR_URL"
    ),
    ServiceSpec(name="memory-service", package="memory_service", port=8004, url_setting="MEMORY_SERVICE_URL"),
    ServiceSpec(name="ai-runtime", package="ai_runtime", port=8005, url_setting="AI_RUNTIME_URL"),
    ServiceSpec(name="tool-runner", package="tool_runner", port=8006, url_setting="TOOL_RUNNER_URL"),
)
