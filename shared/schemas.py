"""Wire types every service shares."""

import math
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, Literal, TypeVar

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from pydantic import AfterValidator, BaseModel, Field, ValidationError

BodyModel = TypeVar("BodyModel", bound=BaseModel)
MAX_JSON_DEPTH = 16


def check_json_value(value: Any, *, depth: int = 0) -> None:
    """What PostgreSQL can store and a later reader can walk: no NUL in any string or key (text and jsonb refuse
    it), finite numbers only, and at most MAX_JSON_DEPTH levels (a 5,000-deep object costs a recursion error)."""
    if depth > MAX_JSON_DEPTH:
        raise ValueError(f"must not be nested more than {MAX_JSON_DEPTH} levels deep")
    if isinstance(value, str):
        refuse_nul(value)
    elif isinstance(value, float) and not math.isfinite(value):
        raise ValueError("numbers must be finite (no NaN or Infinity)")
    elif isinstance(value, dict):
        for key, item in value.items():
            refuse_nul(str(key))
            check_json_value(item, depth=depth + 1)
    elif isinstance(value, list):
        for item in value:
            check_json_value(item, depth=depth + 1)


def refuse_nul(value: str) -> str:
    if "\x00" in value:
        raise ValueError("must not contain NUL (\\u0000) characters")
    return value


def _json_object(value: dict[str, Any]) -> dict[str, Any]:
    check_json_value(value)
    return value


Text = Annotated[str, AfterValidator(refuse_nul)]
JsonObject = Annotated[dict[str, Any], AfterValidator(_json_object)]
FiniteFloat = Annotated[float, Field(allow_inf_nan=False)]


class ErrorDetail(BaseModel):
    code: str = Field(examples=["validation_error"])
    message: str
    details: dict[str, Any] = Field(default_factory=dict)


class ErrorResponse(BaseModel):
    error: ErrorDetail


class HealthResponse(BaseModel):
    status: Literal["healthy", "degraded", "unhealthy"] = Field(
        default="healthy", description="degraded: alive, but a capability is off (details say which)"
    )
    service: str
    version: str
    details: dict[str, Any] | None = Field(
        default=None, description="Service-specific facts, e.g. which providers are live"
    )
    providers: dict[str, str] | None = Field(
        default=None, description="ai-runtime: each provider and whether it is live (the original API's place)"
    )


class ReadinessResponse(BaseModel):
    status: Literal["ready", "not_ready"]
    service: str
    checks: dict[str, bool]


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorResponse, "description": description}
    for status, description in {
        400: "Bad request",
        401: "Not authenticated",
        403: "Not allowed",
        404: "Not found",
        409: "Conflict",
        422: "Validation error",
        429: "Rate limited",
    }.items()
}


def json_body(model: type[BodyModel]) -> Callable[[Request], Awaitable[BodyModel]]:
    """A dependency that parses and validates a JSON body in one pass inside pydantic-core, for large bodies
    (thousands of floats) where json.loads into Python objects first costs more than the work itself. Errors
    are the usual 422. Declare the body for OpenAPI with `body_openapi(model)`."""

    async def parse(request: Request) -> BodyModel:
        try:
            return model.model_validate_json(await request.body())
        except ValidationError as exc:
            raise RequestValidationError(
                [{**error, "loc": ("body", *error["loc"])} for error in exc.errors()]
            ) from None

    return parse


def body_openapi(model: type[BaseModel]) -> dict[str, Any]:
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    schema.pop("$defs", None)
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}
