import uuid
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Literal, Self

from pydantic import BaseModel, ConfigDict, EmailStr, Field, model_validator

from shared.contracts.tools import AllowedTool
from shared.identity import Role

USERNAME_PATTERN = r"^[A-Za-z0-9_.-]{3,64}$"


class RegisterRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: str = Field(pattern=USERNAME_PATTERN, examples=["ada_lovelace"])
    email: EmailStr
    password: str = Field(min_length=8, max_length=128)
    full_name: str | None = Field(default=None, max_length=255)


class UserResponse(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    username: str
    email: str
    full_name: str | None
    role: Role
    is_active: bool
    created_at: datetime
    last_login_at: datetime | None


class LoginRequest(BaseModel):
    """Log in with `username` or `email` (one of them) and the password."""

    model_config = ConfigDict(extra="forbid")

    username: str | None = Field(default=None, min_length=1, max_length=320)
    email: str | None = Field(default=None, min_length=1, max_length=320)
    password: str = Field(min_length=1, max_length=1024)

    @model_validator(mode="after")
    def one_identifier(self) -> Self:
        if not self.username and not self.email:
            raise ValueError("give a username or an email")
        return self

    @property
    def identifier(self) -> str:
        return (self.username or self.email or "").strip()


class TokenResponse(BaseModel):
    access_token: str
    refresh_token: str | None = Field(
        description="null when it was set as an HttpOnly cookie instead (the request said X-Refresh-Cookie: true)"
    )
    token_type: Literal["bearer"] = "bearer"
    expires_in: int = Field(description="Access token lifetime in seconds")
    refresh_expires_in: int


class RefreshRequest(BaseModel):
    refresh_token: str | None = Field(
        default=None, min_length=1, max_length=4096, description="Or the refresh cookie, with X-Refresh-Cookie: true"
    )


class LogoutRequest(BaseModel):
    refresh_token: str | None = Field(default=None, max_length=4096)


class RoleUpdateRequest(BaseModel):
    role: Role


class ActiveUpdateRequest(BaseModel):
    is_active: bool


class PasswordChangeRequest(BaseModel):
    current_password: str = Field(min_length=1, max_length=128)
    new_password: str = Field(min_length=8, max_length=128)


class ApiKeyCreateRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100)
    expires_in_days: int | None = Field(default=None, ge=1, le=3650)
    # LiteLLM-style virtual key limits, enforced by the gateway (rpm) and the ai-runtime (the rest).
    max_budget_usd: Decimal | None = Field(default=None, ge=0, le=1_000_000, description="LLM spend cap, whole life")
    rpm_limit: int | None = Field(default=None, ge=1, le=1_000_000, description="Requests per minute")
    tpm_limit: int | None = Field(default=None, ge=1, le=100_000_000, description="LLM tokens per minute")
    allowed_models: list[Annotated[str, Field(min_length=1, max_length=128)]] | None = Field(
        default=None, max_length=50, description="Models (names or aliases) it may use; null: any"
    )
    allowed_tools: list[AllowedTool] | None = Field(
        default=None,
        max_length=100,
        description="Tools it may use, directly and in the runs it starts: built-in names, MCP tools by name or "
        "pattern (mcp__github__*); null: any",
    )
    scopes: list[Annotated[str, Field(min_length=1, max_length=32)]] | None = Field(
        default=None,
        max_length=40,
        description="What it may do: runs:read, memories:write, files:* ... (resource:read|write|*), admin, or *; "
        "none: everything you may (a request outside them is 403 insufficient_scope)",
    )
    team_id: uuid.UUID | None = Field(
        default=None, description="Bind it to a team you belong to: it reaches that team's resources only"
    )


class ApiKeyResponse(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
    prefix: str
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None
    max_budget_usd: Decimal | None = None
    rpm_limit: int | None = None
    tpm_limit: int | None = None
    allowed_models: list[str] | None = None
    allowed_tools: list[str] | None = None
    scopes: list[str] = Field(default_factory=list, description="Empty: everything its user may")
    team_id: uuid.UUID | None = None


class ApiKeyCreatedResponse(ApiKeyResponse):
    key: str = Field(description="The full key. Shown once; only its hash is stored.")


# --- organisations and teams -------------------------------------------------------------------

TeamRole = Literal["owner", "member", "viewer"]
Name = Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[^\x00-\x1f]+$")]


class OrganizationCreateRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name


class OrganizationResponse(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
    owner_id: uuid.UUID
    personal: bool
    created_at: datetime


class TeamCreateRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name
    organization_id: uuid.UUID | None = Field(default=None, description="One you own; none: your personal one")


class TeamResponse(BaseModel):
    id: uuid.UUID
    organization_id: uuid.UUID
    name: str
    role: TeamRole = Field(description="Your role in it")
    created_at: datetime


class MemberResponse(BaseModel):
    user_id: uuid.UUID
    username: str
    role: TeamRole
    created_at: datetime


class MemberUpdateRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: TeamRole


class InvitationCreateRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: str = Field(pattern=USERNAME_PATTERN)
    role: TeamRole = "member"


class InvitationResponse(BaseModel):
    id: uuid.UUID
    team_id: uuid.UUID
    team_name: str
    username: str
    role: TeamRole
    status: Literal["pending", "accepted", "declined", "revoked"]
    created_at: datetime
    expires_at: datetime
