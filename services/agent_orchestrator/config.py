from functools import lru_cache

from pydantic import Field

from shared.config import EncryptingServiceSettings


class OrchestratorSettings(EncryptingServiceSettings):
    service_name: str = "agent-orchestrator"

    worker_enabled: bool = Field(
        default=True, description="Run the task worker in this process (API-only replicas set false)"
    )
    worker_concurrency: int = Field(default=16, ge=1, le=512, description="Tasks this process runs at once")
    worker_poll_seconds: float = Field(
        default=0.5, gt=0, description="Longest wait between claims when nothing wakes the worker"
    )
    lease_seconds: float = Field(
        default=30.0, gt=0, description="A claimed task is another worker's to take once its lease lapses"
    )
    retry_base_seconds: float = Field(default=1.0, ge=0)
    retry_max_seconds: float = Field(default=60.0, ge=0)
    default_max_attempts: int = Field(default=3, ge=1, le=20)
    max_critic_rounds: int = Field(
        default=2, ge=0, le=10, description="Revisions a critic may ask for before its verdict stands"
    )
    max_replans: int = Field(default=2, ge=0, le=10)
    default_max_tasks: int = Field(default=6, ge=1, le=50)
    tool_timeout_seconds: float = Field(default=30.0, gt=0)
    model_busy_wait_seconds: float = Field(
        default=900.0,
        ge=0,
        description="How long a task waits out a busy model (429 model_busy) before its attempt fails",
    )
    store_llm_text: bool = Field(
        default=True,
        description=(
            "Keep each LLM call's prompt and answer in its llm_call event (seen by the run's owner only), so a step "
            "that went wrong can be read; false where they must not be stored"
        ),
    )
    llm_text_max_chars: int = Field(default=8000, ge=100, le=200_000, description="Most characters kept of each")
    run_events_keepalive_seconds: float = Field(
        default=15.0,
        gt=0,
        le=300,
        description="Silence after which a run's event stream sends a keepalive comment (proxies drop idle streams)",
    )
    recall_memories: int = Field(
        default=3, ge=0, le=20, description="Memories of the user an executor sees with its task (0: none)"
    )
    recall_min_relevance: float = Field(
        default=0.35, ge=0, le=1, description="Least cosine similarity for a memory to be shown"
    )
    conversation_max_tool_rounds: int = Field(
        default=4, ge=0, le=20, description="Rounds of tool calls one conversation reply may take before it answers"
    )
    conversation_max_tokens: int = Field(default=512, ge=16, le=32_000, description="Longest reply, in tokens")
    conversation_context_tokens: int = Field(
        default=1500,
        ge=200,
        description="Prompt budget for memories and recent history (older history is summarised); small local models "
        "have 2k-token contexts",
    )
    conversation_recall: int = Field(default=5, ge=0, le=20, description="Memories recalled for each message")
    conversation_learn: bool = Field(
        default=True, description="Extract facts and preferences after each exchange and update memories (Mem0-style)"
    )
    conversation_follow_run_seconds: float = Field(
        default=600, ge=0, description="How long a streamed reply follows a run it started before it ends"
    )
    approval_default_tools: list[str] = Field(
        default_factory=lambda: ["mcp__*"],
        description=(
            'Tools (names or patterns; "*" for all) whose calls in every run and conversation wait for the owner\'s '
            "approval, beside each run's require_approval and each agent's approval_tools. The users' own MCP "
            "tools by default; [] for none"
        ),
    )
    approval_expiry_seconds: float = Field(
        default=86_400, gt=0, description="An undecided approval expires after this long, which counts as a rejection"
    )
    approval_sweep_seconds: float = Field(default=5.0, gt=0, description="How often expired approvals are settled")
    dependency_chars_in_prompt: int = Field(
        default=3000,
        ge=200,
        description=(
            "How much of its dependencies' outputs an agent sees, shared among them (small local models have 2k-token "
            "contexts)"
        ),
    )

    evals_enabled: bool = Field(default=True, description="Work on evals' cases in this process")
    eval_max_in_process: int = Field(default=8, ge=1, le=256, description="Eval cases this process works at once")
    eval_poll_seconds: float = Field(default=1.0, gt=0, description="How often evals' pending cases are looked for")
    eval_lease_seconds: float = Field(
        default=120.0, gt=0, description="A claimed case is taken over by another process after this long unrenewed"
    )
    eval_case_timeout_seconds: float = Field(
        default=1800.0, gt=0, description="An agent run of an eval still going after this long is cancelled (failed)"
    )
    eval_max_cases: int = Field(default=1000, ge=1, le=10_000, description="Most cases one eval may hold")

    schedules_enabled: bool = Field(default=True, description="Fire due schedules from this process")
    schedule_poll_seconds: float = Field(default=1.0, gt=0, description="How often due schedules are looked for")
    schedule_min_interval_seconds: int = Field(
        default=60, ge=1, description="The shortest interval a schedule may have (a cron fires at most each minute)"
    )
    schedule_failures_to_pause: int = Field(
        default=3, ge=1, le=100, description="A schedule pauses itself after this many failed runs in a row"
    )
    schedule_batch: int = Field(default=100, ge=1, le=10_000, description="Due schedules fired per transaction")

    webhooks_enabled: bool = Field(default=True, description="Send webhook deliveries from this process")
    webhook_poll_seconds: float = Field(default=0.5, gt=0, description="How often due deliveries are looked for")
    webhook_max_attempts: int = Field(
        default=8, ge=1, le=50, description="Attempts before a delivery is dead (redeliver sends it again)"
    )
    webhook_backoff_base_seconds: float = Field(
        default=2.0, ge=0, description="Wait before the second attempt; it doubles with each one, with jitter"
    )
    webhook_backoff_max_seconds: float = Field(default=3600.0, ge=0, description="Longest wait between attempts")
    webhook_timeout_seconds: float = Field(default=10.0, gt=0, le=60, description="A receiver's time to answer")
    webhook_concurrency: int = Field(default=16, ge=1, le=512, description="Deliveries this process sends at once")
    webhook_allowed_private_addresses: list[str] = Field(
        default_factory=list,
        description="Private or loopback addresses webhooks may still be sent to (receivers on a trusted network)",
    )
    webhooks_per_user: int = Field(default=20, ge=1, le=1000, description="Webhook subscriptions one user may have")


@lru_cache
def get_settings() -> OrchestratorSettings:
    return OrchestratorSettings()
