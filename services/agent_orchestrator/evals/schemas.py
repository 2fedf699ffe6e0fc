import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from shared.contracts.evals import ARMS, Arm, EvalCase, Evaluator

EvalStatus = Literal["running", "succeeded", "failed", "cancelled"]
ResultStatus = Literal["pending", "running", "passed", "failed", "cancelled"]


class EvalCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    suite: str = Field(
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$",
        description="A shipped suite (smoke, humaneval), or the name of the cases you give",
    )
    cases: list[EvalCase] | None = Field(
        default=None, min_length=1, description="Your own cases (the suite file's lines); none: the shipped suite"
    )
    model: str | None = Field(default=None, max_length=128, description="Both arms use this model or alias")
    agent: str | None = Field(default=None, max_length=100, description="The agent arm's executor agent")
    prompt_version: str | None = Field(
        default=None, pattern=r"^v\d+$", description="The agent arm's executor prompt version"
    )
    arms: list[Arm] = Field(default_factory=lambda: list(ARMS), min_length=1, max_length=2)
    limit: int | None = Field(default=None, ge=1, description="Only the suite's first N cases")
    concurrency: int = Field(default=2, ge=1, le=64, description="Cases (of either arm) worked on at once")
    budget_usd: Decimal | None = Field(default=None, gt=0, le=100_000, description="Spend cap of each agent run")

    @field_validator("arms")
    @classmethod
    def distinct(cls, arms: list[Arm]) -> list[Arm]:
        if len(set(arms)) != len(arms):
            raise ValueError("each arm at most once")
        return arms


class ArmSummary(BaseModel):
    arm: Arm
    total: int
    finished: int
    passed: int
    failed: int
    cancelled: int
    rate: float | None = Field(description="Passed over finished cases")
    low: float = Field(description="95% interval (Wilson), lower end")
    high: float = Field(description="95% interval (Wilson), upper end")
    cost_usd: float
    tokens: int
    wall_ms_p50: float | None
    wall_ms_p95: float | None
    wall_ms_total: int
    models: list[str] = Field(description="The models that answered")
    prompt_versions: dict[str, str] = Field(description="Role: prompt version, as the ai-runtime reported them")


class ArmResult(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    status: ResultStatus
    run_id: uuid.UUID | None
    cost_usd: float
    tokens: int
    wall_ms: int | None
    detail: dict[str, Any]


class CaseRow(BaseModel):
    case_id: str
    evaluator: Evaluator
    agent: ArmResult | None = None
    baseline: ArmResult | None = None
    disagree: bool = Field(description="One arm passed and the other failed")


class EvalSummary(BaseModel):
    id: uuid.UUID
    suite: str
    status: EvalStatus
    config: dict[str, Any] = Field(description="What the result depends on: model, agent, prompt version, commit")
    case_count: int
    concurrency: int
    error: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    arms: dict[str, ArmSummary]


class EvalReport(EvalSummary):
    cases: list[CaseRow]
    disagreements: list[str] = Field(description="Cases where one arm passed and the other failed")


class CaseChange(BaseModel):
    case_id: str
    arm: Arm
    a: ResultStatus
    b: ResultStatus


class ArmChange(BaseModel):
    arm: Arm
    a: ArmSummary
    b: ArmSummary
    change: float | None = Field(description="b's rate minus a's")
    low: float | None = Field(description="95% interval of the change (Newcombe), lower end")
    high: float | None


class EvalComparison(BaseModel):
    a: EvalSummary
    b: EvalSummary
    same_cases: bool = Field(description="Both ran the same cases (the suite's digest and limit agree)")
    arms: list[ArmChange]
    changed: list[CaseChange] = Field(description="Cases whose result differs between a and b, per arm")
