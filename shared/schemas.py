"""Wire types every service shares."""

from collections.abc import Awaitable, Callable
from typing import Any, Literal, TypeVar

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field, ValidationError

BodyModel = TypeVar("BodyModel", bound=BaseModel)


class ErrorDetail(BaseModel):
    code: str = Field(examples=["validation_error"])
    message: str
    details: dict[str, Any] = Field(default_factory=dict)


class ErrorResponse(BaseModel):
    error: ErrorDetail


class HealthResponse(BaseModel):
    status: Literal["ok"] = "ok"
    service: str
    version: str
    details: dict[str, Any] | None = Field(
        default=None, description="Service-specific facts, e.g. which providers are live"
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
