"""The seven services, written once: everything else (settings, clients, the gateway's routes, the CLI) derives
its list from SERVICES."""

from dataclasses import dataclass
from typing import Literal, get_args

ServiceName = Literal[
    "api-gateway", "auth-service", "task-planner", "agent-orchestrator", "memory-service", "ai-runtime", "tool-runner"
]
DEFAULT_PORT_BASE = 8000


@dataclass(frozen=True, slots=True)
class ServiceSpec:
    name: ServiceName

    @property
    def package(self) -> str:
        return self.name.replace("-", "_")

    @property
    def url_field(self) -> str:
        """The settings field (and, upper-cased, the environment variable) holding the service's URL."""
        return f"{self.package}_url"

    @property
    def port(self) -> int:
        return self.port_from(DEFAULT_PORT_BASE)

    @property
    def app_factory(self) -> str:
        return f"services.{self.package}.main:create_app"

    def port_from(self, port_base: int) -> int:
        """Default ports are 8000-8006 in the order of ServiceName; a different base shifts them all together."""
        return port_base + SERVICE_NAMES.index(self.name)


SERVICE_NAMES: tuple[ServiceName, ...] = get_args(ServiceName)
SERVICES: tuple[ServiceSpec, ...] = tuple(ServiceSpec(name) for name in SERVICE_NAMES)
