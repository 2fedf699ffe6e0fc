from functools import lru_cache
from pathlib import Path
from typing import Literal

import platformdirs
from pydantic import Field, SecretStr

from services.tool_runner.sandbox import Limits
from shared.config import EncryptingServiceSettings

# A multipart body carries the file plus its boundaries and part headers: at most this much more than the file.
MULTIPART_OVERHEAD_BYTES = 16 * 1024


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

    files_storage: Literal["local", "s3"] = Field(
        default="local", description="Where file bytes live: the local filesystem, or an S3-compatible object store"
    )
    files_dir: str = Field(
        default_factory=lambda: str(Path(platformdirs.user_state_dir("cognitionos")) / "files"),
        description="The local storage's folder (FILES_STORAGE=local)",
    )
    files_s3_bucket: str | None = Field(default=None, description="The bucket (FILES_STORAGE=s3)")
    files_s3_prefix: str = Field(default="", description="Keys start with this inside the bucket")
    files_s3_endpoint: str | None = Field(
        default=None, description="The store's URL for MinIO, Ceph, R2 and the like; unset for AWS S3"
    )
    files_s3_region: str = "us-east-1"
    files_s3_access_key_id: str | None = Field(default=None, description="Unset: the AWS environment's credentials")
    files_s3_secret_access_key: SecretStr | None = None
    files_s3_allow_http: bool = Field(default=False, description="Allow an http:// endpoint (a store on loopback)")
    files_max_bytes: int = Field(default=256 * 1024 * 1024, ge=1, description="Largest file, uploaded or collected")
    files_quota_bytes: int = Field(
        default=2 * 1024 * 1024 * 1024, ge=1, description="All of one user's files together (413 quota_exceeded)"
    )
    files_ttl_hours: float = Field(
        default=24 * 30, ge=0, description="Files are deleted this long after they were made; 0: kept until deleted"
    )
    files_purge_interval_seconds: float = Field(default=300, gt=0, description="How often expired files are purged")
    run_input_files: int = Field(default=20, ge=1, le=100, description="Most input files one code run may mount")
    outputs_max_files: int = Field(
        default=20, ge=0, le=1000, description="Most files collected from one run's /work/outputs (beyond: truncated)"
    )
    outputs_max_bytes: int = Field(
        default=32 * 1024 * 1024, ge=0, description="Most bytes collected from one run's /work/outputs together"
    )

    def upload_body_limits(self) -> dict[str, int]:
        return {"/files": self.files_max_bytes + MULTIPART_OVERHEAD_BYTES}

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
