"""The routing table: public prefix -> upstream service, and who may call what (RBAC)."""

import re
from dataclasses import dataclass, field

from shared.identity import ROLES, Role
from shared.services import ServiceName

ALL_ROLES: frozenset[Role] = frozenset(ROLES)
ADMIN: frozenset[Role] = frozenset({"admin"})


@dataclass(frozen=True, slots=True)
class AccessRule:
    pattern: re.Pattern[str]
    roles: frozenset[Role]
    methods: frozenset[str] | None = None

    def matches(self, method: str, subpath: str) -> bool:
        return (self.methods is None or method in self.methods) and bool(self.pattern.match(subpath))


@dataclass(frozen=True, slots=True, kw_only=True)
class UpstreamRoute:
    prefix: str
    service: ServiceName
    upstream_prefix: str
    public: frozenset[tuple[str, str]] = frozenset()
    rules: tuple[AccessRule, ...] = field(default_factory=tuple)
    idempotent: frozenset[str] = frozenset()  # subpaths whose POST honours an Idempotency-Key header
    # Upstream path prefixes also served at the gateway's root as they are: the compatible APIs' /v1, where the
    # OpenAI and Anthropic SDKs expect it (base_url http://host:8000/v1, as with OpenAI or LiteLLM).
    root_paths: tuple[str, ...] = ()
    # Upstream paths another route publishes (under its own prefix and scope): neither proxied nor published here.
    elsewhere: tuple[str, ...] = ()

    def is_elsewhere(self, upstream_path: str) -> bool:
        return any(upstream_path == p or upstream_path.startswith(f"{p}/") for p in self.elsewhere)

    def upstream_path(self, subpath: str) -> str:
        return f"{self.upstream_prefix.rstrip('/')}/{subpath}" if subpath else self.upstream_prefix or "/"

    def takes_idempotency_key(self, method: str, subpath: str) -> bool:
        return method == "POST" and subpath in self.idempotent

    def is_public(self, method: str, subpath: str) -> bool:
        return (method, subpath.rstrip("/")) in self.public

    def allowed_roles(self, method: str, subpath: str) -> frozenset[Role]:
        for rule in self.rules:
            if rule.matches(method, subpath):
                return rule.roles
        return ALL_ROLES


def _rule(pattern: str, roles: frozenset[Role], methods: set[str] | None = None) -> AccessRule:
    return AccessRule(re.compile(pattern), roles, frozenset(methods) if methods else None)


ROUTES: dict[str, UpstreamRoute] = {
    route.prefix: route
    for route in (
        UpstreamRoute(
            prefix="auth",
            service="auth-service",
            upstream_prefix="",
            public=frozenset({("POST", "register"), ("POST", "login"), ("POST", "refresh")}),
            rules=(_rule(r"^users(/|$)", ADMIN), _rule(r"^audit(/|$)", ADMIN)),
            elsewhere=("/teams", "/organizations"),
        ),
        UpstreamRoute(prefix="teams", service="auth-service", upstream_prefix="/teams"),
        UpstreamRoute(prefix="organizations", service="auth-service", upstream_prefix="/organizations"),
        UpstreamRoute(prefix="plans", service="task-planner", upstream_prefix="/plans", idempotent=frozenset({""})),
        UpstreamRoute(prefix="runs", service="agent-orchestrator", upstream_prefix="/runs", idempotent=frozenset({""})),
        UpstreamRoute(prefix="conversations", service="agent-orchestrator", upstream_prefix="/conversations"),
        UpstreamRoute(prefix="templates", service="agent-orchestrator", upstream_prefix="/templates"),
        UpstreamRoute(prefix="schedules", service="agent-orchestrator", upstream_prefix="/schedules"),
        UpstreamRoute(prefix="webhooks", service="agent-orchestrator", upstream_prefix="/webhooks"),
        # CognitionOS as an MCP server (streamable HTTP), also at the gateway's root: /mcp (api.py).
        UpstreamRoute(prefix="mcp", service="agent-orchestrator", upstream_prefix="/mcp"),
        UpstreamRoute(
            prefix="approvals",
            service="agent-orchestrator",
            upstream_prefix="/approvals",
            rules=(_rule(r".*", frozenset({"admin", "user"}), {"POST"}),),  # a person decides, never an agent
        ),
        UpstreamRoute(
            prefix="evals",
            service="agent-orchestrator",
            upstream_prefix="/evals",
            rules=(_rule(r".*", frozenset({"admin", "user"}), {"POST"}),),  # a person starts and stops evals
        ),
        UpstreamRoute(
            prefix="agents",
            service="agent-orchestrator",
            upstream_prefix="/agents",
            rules=(_rule(r".*", frozenset({"admin", "user"}), {"POST", "PUT", "PATCH", "DELETE"}),),
        ),
        UpstreamRoute(
            prefix="memories",
            service="memory-service",
            upstream_prefix="/memories",
            idempotent=frozenset({"", "batch", "import"}),
        ),
        UpstreamRoute(
            prefix="ai",
            service="ai-runtime",
            upstream_prefix="",
            rules=(_rule(r"^admin(/|$)", ADMIN),),
            root_paths=("/v1/",),
        ),
        UpstreamRoute(prefix="tools", service="tool-runner", upstream_prefix="/tools"),
        UpstreamRoute(prefix="files", service="tool-runner", upstream_prefix="/files"),
    )
}
