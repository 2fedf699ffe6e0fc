"""The task-planner's bodies that other services send and read: create a plan (POST /plans) and replan
(POST /plans/replan). Its routes take and return exactly these models."""

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class PlanTask(BaseModel):
    id: str
    name: str
    description: str = ""
    agent_role: str
    tool: str | None = None
    inputs: dict[str, Any] = Field(default_factory=dict)
    depends_on: list[str] = Field(default_factory=list)
    estimated_duration_seconds: int = 60
    complexity: Literal["low", "medium", "high"] = "medium"
    fallback_strategy: Literal["retry", "skip", "replan", "fail"] = "retry"
    status: Literal["pending", "succeeded"] = "pending"


class PlanRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    goal: str = Field(min_length=3, max_length=4000)
    context: dict[str, Any] = Field(default_factory=dict)
    max_tasks: int = Field(default=8, ge=1, le=50)
    run_id: uuid.UUID | None = Field(default=None, description="The run this plan is for: planning spends its budget")
    model: str | None = Field(default=None, max_length=128, description="Plan with this model or alias")


class ReplanRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    plan_id: uuid.UUID
    failed_task_id: str = Field(min_length=1, max_length=64)
    error: str = Field(min_length=1, max_length=10_000)
    succeeded_task_ids: list[str] = Field(default_factory=list)
    max_tasks: int = Field(default=8, ge=1, le=50)
    run_id: uuid.UUID | None = Field(default=None, description="The run this plan is for: planning spends its budget")
    model: str | None = Field(default=None, max_length=128, description="Plan with this model or alias")


class PlanResponse(BaseModel):
    id: uuid.UUID
    goal: str
    tasks: list[PlanTask]
    execution_order: list[list[str]]
    risks: list[str]
    model_used: str | None
    prompt_version: str | None
    cost_usd: float
    tokens_used: int = Field(default=0, description="Tokens of every draft the planner asked for")
    attempts: int
    fallback_reasons: list[str] | None = Field(
        default=None,
        description="Set when the model's drafts were refused twice and a minimal plan built in code replaced them",
    )
    parent_plan_id: uuid.UUID | None
    created_at: datetime
