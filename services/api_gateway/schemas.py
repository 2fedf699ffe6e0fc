from typing import Literal

from pydantic import BaseModel, Field


class UpstreamHealth(BaseModel):
    status: Literal["ok", "degraded", "down"] = Field(
        description="degraded: the service answers but a dependency it needs (named in `unavailable`) is down"
    )
    latency_ms: float | None = None
    error: str | None = None
    circuit: Literal["closed", "open", "half_open"]
    unavailable: list[str] = Field(default_factory=list, description="Dependencies the service reports as down")


class AggregatedHealthResponse(BaseModel):
    status: Literal["healthy", "degraded", "unhealthy"] = Field(
        description="unhealthy: the gateway cannot reach its database or Redis, or no service answers"
    )
    service: str
    version: str
    services: dict[str, UpstreamHealth]
    unavailable: list[str] = Field(
        default_factory=list, description="Shared dependencies (database, redis) the gateway or a service cannot reach"
    )
