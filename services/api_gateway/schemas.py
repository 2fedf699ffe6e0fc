from typing import Literal

from pydantic import BaseModel


class UpstreamHealth(BaseModel):
    status: Literal["ok", "down"]
    latency_ms: float | None = None
    error: str | None = None
    circuit: Literal["closed", "open", "half_open"]


class AggregatedHealthResponse(BaseModel):
    status: Literal["ok", "degraded"]
    service: str
    version: str
    services: dict[str, UpstreamHealth]
