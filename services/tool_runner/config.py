from functools import lru_cache

from pydantic import Field

from services.tool_runner.sandbox import Limits
from shared.config import EncryptingServiceSettings


class ToolRunnerSettings(EncryptingServiceSettings):
    service_name: str = "tool-runner"

    sandbox_allow_unsandboxed: bool = Field(
        default=False,
        description="Run code without bubblewrap when it is missing (weaker: rlimits only). Never in production.",
    )
    sandbox_cpu_seconds: int = Field(default=10, ge=1)
    sandbox_cpu_percent: int = Field(
        default=100,
        ge=10,
        le=6400,
        description="CPU a run may use at once, in percent of one CPU (where cgroups allow)",
    )
    sandbox_memory_mb: int = Field(default=256, ge=32)
    sandbox_file_size_mb: int = Field(default=16, ge=1)
    sandbox_max_processes: int = Field(default=32, ge=1)
    sandbox_output_bytes: int = Field(default=64 * 1024, ge=1024)
    sandbox_runs_per_user: int = Field(
        default=4, ge=1, description="Sandbox runs one user may have at once, across tool-runner processes (429 beyond)"
    )
    sandbox_tmp_mb: int = Field(default=64, ge=1, description="Size of a run's own /tmp (memory-backed)")
    sandbox_work_mb: int = Field(default=64, ge=1, description="Size of a run's own /work (memory-backed)")
    sandbox_pool_size: int = Field(
        default=2,
        ge=0,
        le=64,
        description="Warm sandboxes kept started (about 10 MB of memory each while idle); 0: every run starts cold",
    )
    sandbox_uid: int = Field(
        default=65534, description="Unprivileged uid the sandbox runs as when the service runs as root"
    )
    default_timeout_seconds: float = Field(default=10.0, gt=0)
    max_timeout_seconds: float = Field(default=60.0, gt=0)

    http_allowed_hosts: list[str] = Field(
        default_factory=list, description="If set, only these hosts (or *.suffix) may be called"
    )
    http_allowed_private_addresses: list[str] = Field(
        default_factory=list, description="Private/loopback addresses that may still be called (trusted internal APIs)"
    )
    http_max_response_bytes: int = Field(default=1024 * 1024, ge=1024)
    http_max_redirects: int = Field(default=5, ge=0)

    mcp_timeout_seconds: float = Field(
        default=30.0, gt=0, le=600, description="Longest an MCP server may take to connect, list or run a tool"
    )
    mcp_servers_per_user: int = Field(default=20, ge=1, le=1000, description="MCP servers one user may register")

    def sandbox_limits(self) -> Limits:
        return Limits(
            cpu_seconds=self.sandbox_cpu_seconds,
            memory_mb=self.sandbox_memory_mb,
            file_size_mb=self.sandbox_file_size_mb,
            max_processes=self.sandbox_max_processes,
            output_bytes=self.sandbox_output_bytes,
            sandbox_uid=self.sandbox_uid,
            tmp_mb=self.sandbox_tmp_mb,
            work_mb=self.sandbox_work_mb,
            cpu_percent=self.sandbox_cpu_percent,
        )


@lru_cache
def get_settings() -> ToolRunnerSettings:
    return ToolRunnerSettings()
