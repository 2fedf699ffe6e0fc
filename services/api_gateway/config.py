from functools import lru_cache

from pydantic import Field

from shared.config import BaseServiceSettings


class GatewaySettings(BaseServiceSettings):
    service_name: str = "api-gateway"

    def upload_body_limits(self) -> dict[str, int]:
        return {"/api/v1/files": self.max_upload_bytes}

    rate_limit_enabled: bool = True
    rate_limit_user_per_minute: int = Field(default=600, ge=1, description="Sustained requests/minute per user")
    rate_limit_user_burst: int = Field(default=100, ge=1, description="Bucket size per user")
    rate_limit_ip_per_minute: int = Field(default=1200, ge=1, description="Sustained requests/minute per client IP")
    rate_limit_ip_burst: int = Field(default=200, ge=1)
    redis_fail_open: bool = Field(
        default=True,
        description=(
            "When Redis is down: let requests through without rate limits and revocation checks (true) or answer 503 "
            "(false)"
        ),
    )

    max_upload_bytes: int = Field(
        default=256 * 1024 * 1024 + 16 * 1024,
        ge=1024,
        description="Largest request body to /api/v1/files (an upload; the tool-runner's FILES_MAX_BYTES sets the "
        "largest file)",
    )
    upstream_timeout_seconds: float = Field(default=60.0, gt=0, description="Time to wait for upstream response bytes")
    upstream_connect_timeout_seconds: float = Field(default=2.0, gt=0)
    upstream_max_connections: int = 500
    upstream_keepalive_seconds: float = Field(
        default=4.0,
        gt=0,
        description="How long an idle connection to a service is kept for reuse: below the services' own keep-alive "
        "(uvicorn closes idle connections after 5 s), so that the gateway never sends on a connection the service is "
        "closing (a reset, answered as 502 upstream_unavailable)",
    )
    circuit_failure_threshold: int = Field(default=5, ge=1, description="Consecutive failures that open a circuit")
    circuit_reset_seconds: float = Field(
        default=15.0, gt=0, description="How long a circuit stays open before a trial request"
    )
    api_key_cache_seconds: int = Field(default=60, ge=0)
    verified_token_cache_size: int = Field(
        default=10_000, ge=0, description="Access tokens kept verified until they expire (0: verify every request)"
    )
    # Each write is a database transaction of its own, whatever the traffic: at 50 requests a second, one a second
    # cost the gateway about 0.04 ms of CPU per request (LiteLLM writes its spend logs every 10 s).
    api_usage_flush_seconds: float = Field(
        default=5.0,
        gt=0,
        description="How often proxied requests are written to api_usage (a clean stop writes the rest at once)",
    )
    # The gateway is the public door: behind a load balancer every client looks private, so only loopback reads
    # /metrics here without METRICS_TOKEN.
    metrics_allowed_networks: list[str] = Field(default_factory=lambda: ["127.0.0.0/8", "::1/128"])
    trust_forwarded_for: bool = Field(
        default=False, description="Take the client IP from X-Forwarded-For (behind a trusted proxy)"
    )


@lru_cache
def get_settings() -> GatewaySettings:
    return GatewaySettings()
