"""The seven services: name, package and port."""

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
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
    ServiceSpec("api-gateway", "api_gateway", 8000, "API_GATEWAY_URL"),
    ServiceSpec("auth-service", "auth_service", 8001, "AUTH_SERVICE_URL"),
    ServiceSpec("task-planner", "task_planner", 8002, "TASK_PLANNER_URL"),
    ServiceSpec("agent-orchestrator", "agent_orchestrator", 8003, "AGENT_ORCHESTRATOR_URL"),
    ServiceSpec("memory-service", "memory_service", 8004, "MEMORY_SERVICE_URL"),
    ServiceSpec("ai-runtime", "ai_runtime", 8005, "AI_RUNTIME_URL"),
    ServiceSpec("tool-runner", "tool_runner", 8006, "TOOL_RUNNER_URL"),
)
