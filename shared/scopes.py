"""What an API key may do: its scopes, checked by the gateway on every request made with it.

A scope is `<resource>:read`, `<resource>:write` or `<resource>:*` (both), `admin` (the admin routes, for a key of an
admin), or `*` (everything its user may do). A key made without scopes keeps its user's full power, as every key
made before scopes existed does, until it is rotated."""

from typing import Literal

RESOURCES = (
    "runs",
    "agents",
    "automation",
    "memories",
    "files",
    "tools",
    "ai",
    "conversations",
    "evals",
    "keys",
    "teams",
)
KNOWN_SCOPES = frozenset(
    {"*", "admin"} | {f"{resource}:{access}" for resource in RESOURCES for access in ("read", "write", "*")}
)
Access = Literal["read", "write"]

# The gateway's route prefixes, by the resource whose scope they need.
RESOURCE_OF_PREFIX = {
    "runs": "runs",
    "plans": "runs",
    "approvals": "runs",
    "agents": "agents",
    "templates": "automation",
    "schedules": "automation",
    "webhooks": "automation",
    "memories": "memories",
    "files": "files",
    "tools": "tools",
    "mcp": "tools",
    "ai": "ai",
    "conversations": "conversations",
    "evals": "evals",
    "auth": "keys",
    "teams": "teams",
    "organizations": "teams",
}
# POSTs that only read (a search, a description): they need the read scope.
READING_POSTS = frozenset({("memories", "retrieve"), ("files", "describe")})
# What any key may call whatever its scopes: who it acts as.
ALWAYS_ALLOWED = frozenset({("auth", "GET", "me")})


def unknown_scopes(scopes: list[str]) -> list[str]:
    return [s for s in scopes if s not in KNOWN_SCOPES]


def required_scope(prefix: str, method: str, subpath: str, *, admin_route: bool) -> str | None:
    """The scope a request needs (None: any key may make it)."""
    if (prefix, method, subpath.strip("/")) in ALWAYS_ALLOWED:
        return None
    if admin_route or subpath.strip("/").split("/")[0] == "admin":  # the gateway's admin rules, or a service's own
        return "admin"
    resource = RESOURCE_OF_PREFIX.get(prefix, prefix)
    reading = method in ("GET", "HEAD", "OPTIONS") or (prefix, subpath.strip("/").split("/")[-1]) in READING_POSTS
    access: Access = "read" if reading else "write"
    return f"{resource}:{access}"


def grants(scopes: tuple[str, ...], required: str) -> bool:
    if "*" in scopes or required in scopes:
        return True
    resource, _, _ = required.partition(":")
    return required != "admin" and f"{resource}:*" in scopes
