"""Templates: a named run configuration with typed parameters. Every update is a new version; a run records the
version it was made from, so later versions never change runs already made."""

import re
import uuid
from dataclasses import dataclass
from typing import Any

from pydantic import HttpUrl
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from database.models import Run, Template, TemplateVersion
from services.agent_orchestrator.automation import repository
from services.agent_orchestrator.automation.schemas import (
    TemplateCreate,
    TemplateResponse,
    TemplateRunRequest,
    TemplateSpec,
)
from services.agent_orchestrator.schemas import RunCreate, RunResponse
from services.agent_orchestrator.service import RunService
from shared import audit, teams
from shared.dag import validate
from shared.errors import ConflictError, NotFoundError, UnprocessableError
from shared.identity import Identity
from shared.pagination import Page, after_cursor, page_of

PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
PYTHON_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
}


def placeholders(value: Any) -> set[str]:
    """Every {{name}} in the strings of a value (recursively through lists and dicts)."""
    if isinstance(value, str):
        return set(PLACEHOLDER.findall(value))
    if isinstance(value, dict):
        return set().union(*(placeholders(v) for v in value.values())) if value else set()
    if isinstance(value, list):
        return set().union(*(placeholders(v) for v in value)) if value else set()
    return set()


def render(value: Any, values: dict[str, Any]) -> Any:
    if isinstance(value, str):
        return PLACEHOLDER.sub(lambda m: _text(values[m.group(1)]), value)
    if isinstance(value, dict):
        return {k: render(v, values) for k, v in value.items()}
    if isinstance(value, list):
        return [render(v, values) for v in value]
    return value


def _text(value: Any) -> str:
    return ("true" if value else "false") if isinstance(value, bool) else str(value)


def _typed(value: Any, kind: str) -> bool:
    allowed = PYTHON_TYPES[kind]
    return isinstance(value, allowed) and (kind == "boolean" or not isinstance(value, bool))


def bind(declared: list[dict[str, Any]], given: dict[str, Any]) -> dict[str, Any]:
    """The parameters' values: given ones type-checked, defaults for the rest. 422 for an unknown, a missing or a
    mistyped parameter, naming it."""
    by_name = {p["name"]: p for p in declared}
    if unknown := sorted(set(given) - set(by_name)):
        raise UnprocessableError(
            f"Unknown parameter {unknown[0]!r}",
            code="unknown_parameter",
            details={"parameters": unknown, "declared": sorted(by_name)},
        )
    values: dict[str, Any] = {}
    for name, parameter in by_name.items():
        value = given.get(name, parameter.get("default"))
        if value is None:
            raise UnprocessableError(
                f"Parameter {name!r} is required", code="missing_parameter", details={"parameter": name}
            )
        if not _typed(value, parameter["type"]):
            raise UnprocessableError(
                f"Parameter {name!r} must be a {parameter['type']}",
                code="invalid_parameter",
                details={"parameter": name, "type": parameter["type"]},
            )
        values[name] = value
    return values


def checked_spec(spec: TemplateSpec) -> dict[str, Any]:
    """The spec as stored: every placeholder declared, defaults of their types, a plan that is a valid DAG."""
    stored = spec.model_dump(mode="json", exclude={"name"})
    declared = [p["name"] for p in stored["parameters"]]
    if repeated := sorted({n for n in declared if declared.count(n) > 1}):
        raise UnprocessableError(
            "A parameter is declared twice", code="duplicate_parameter", details={"parameters": repeated}
        )
    used = placeholders(stored["goal"]) | placeholders(stored["plan"] or [])
    if undeclared := sorted(used - set(declared)):
        raise UnprocessableError(
            f"{{{{{undeclared[0]}}}}} is used but not declared",
            code="undeclared_parameter",
            details={"parameters": undeclared, "declared": declared},
        )
    for parameter in stored["parameters"]:
        if parameter["default"] is not None and not _typed(parameter["default"], parameter["type"]):
            raise UnprocessableError(
                f"The default of {parameter['name']!r} is not a {parameter['type']}",
                code="invalid_parameter",
                details={"parameter": parameter["name"]},
            )
    if stored["plan"] is not None and (errors := validate(stored["plan"], max_tasks=50)):
        raise UnprocessableError("The plan is not a valid DAG", code="invalid_plan", details={"errors": errors})
    return stored


async def open_from_template(
    runs: RunService,
    identity: Identity,
    template: Template,
    version: TemplateVersion,
    values: dict[str, Any],
    *,
    schedule_id: uuid.UUID | None = None,
    webhook: HttpUrl | None = None,
) -> Run:
    """The run the template's version makes with these values, made ready in the session's transaction."""
    spec = version.spec
    request = RunCreate(
        goal=render(spec["goal"], values),
        context={"template": template.name, "parameters": values},
        max_tasks=spec.get("max_tasks"),
        budget_usd=spec.get("budget_usd"),
        max_parallel=spec.get("max_parallel", 4),
        summarize=spec.get("summarize", True),
        require_approval=spec.get("require_approval") or [],
        model=spec.get("model"),
        agent=spec.get("agent"),
        files=spec.get("files") or [],
        webhook=webhook,
        team_id=template.team_id,
    )
    planned = render(spec["plan"], values) if spec.get("plan") else None
    return await runs.open_templated(
        identity,
        request,
        planned=planned,
        template_id=template.id,
        template_version=version.version,
        schedule_id=schedule_id,
    )


@dataclass
class TemplateService:
    session: AsyncSession
    runs: RunService

    async def create(self, identity: Identity, body: TemplateCreate) -> TemplateResponse:
        spec = checked_spec(body)
        team_id = await teams.team_for_new_row(self.session, identity, body.team_id)
        template = Template(
            id=uuid.uuid4(), owner_id=uuid.UUID(identity.user_id), team_id=team_id, name=body.name, version=1
        )
        self.session.add(template)
        try:
            await self.session.flush()
        except IntegrityError as exc:
            raise ConflictError(f"You have a template named {body.name!r}", code="template_exists") from exc
        self.session.add(TemplateVersion(id=uuid.uuid4(), template_id=template.id, version=1, spec=spec))
        await self.session.flush()
        await self.session.refresh(template)
        await audit.record(
            self.session, identity, "template.created", target_type="template", target_id=template.id,
            details={"name": body.name, "version": 1},
        )  # fmt: skip
        await self.session.commit()
        return _shown(template, 1, spec)

    async def get(self, identity: Identity, template_id: uuid.UUID, *, access: teams.Access = "read") -> Template:
        """One the caller may read (or change, or run: a team's owners and members)."""
        found = await repository.reachable_template(self.session, identity, template_id)
        return await teams.check_reached(
            self.session, identity, found, access=access, missing="No such template", code="template_not_found"
        )

    async def version(self, template: Template, number: int | None) -> TemplateVersion:
        found = await repository.template_version(self.session, template.id, number or template.version)
        if found is None:
            raise NotFoundError(
                f"The template has no version {number}", code="version_not_found", details={"latest": template.version}
            )
        return found

    async def shown(self, identity: Identity, template_id: uuid.UUID, *, version: int | None) -> TemplateResponse:
        template = await self.get(identity, template_id)
        chosen = await self.version(template, version)
        return _shown(template, chosen.version, dict(chosen.spec))

    async def page(self, identity: Identity, *, cursor: str | None, limit: int) -> Page[TemplateResponse]:
        rows = await repository.page_templates(self.session, identity, after=after_cursor(cursor), limit=limit + 1)
        specs = await repository.latest_specs(self.session, rows[:limit])
        return page_of(rows, limit=limit, item=lambda t: _shown(t, t.version, specs.get(t.id, {})))

    async def update(self, identity: Identity, template_id: uuid.UUID, body: TemplateSpec) -> TemplateResponse:
        """A new version; runs made from earlier ones keep theirs."""
        spec = checked_spec(body)
        template = await self.get(identity, template_id, access="write")
        template.version += 1
        self.session.add(TemplateVersion(id=uuid.uuid4(), template_id=template.id, version=template.version, spec=spec))
        await self.session.flush()
        await self.session.refresh(template)
        await audit.record(
            self.session, identity, "template.updated", target_type="template", target_id=template.id,
            details={"name": template.name, "version": template.version},
        )  # fmt: skip
        await self.session.commit()
        return _shown(template, template.version, spec)

    async def delete(self, identity: Identity, template_id: uuid.UUID) -> None:
        """The template, its versions and its schedules; its runs stay (without a template)."""
        template = await self.get(identity, template_id, access="write")
        await self.session.delete(template)
        details = {"name": template.name}
        await audit.record(
            self.session, identity, "template.deleted", target_type="template", target_id=template.id, details=details
        )
        await self.session.commit()

    async def start_run(self, identity: Identity, template_id: uuid.UUID, body: TemplateRunRequest) -> RunResponse:
        template = await self.get(identity, template_id, access="write")
        version = await self.version(template, body.version)
        values = bind(version.spec.get("parameters", []), body.parameters)
        run = await open_from_template(self.runs, identity, template, version, values, webhook=body.webhook)
        shown = await self.runs.respond(run)
        await self.session.commit()
        return shown


def _shown(template: Template, version: int, spec: dict[str, Any]) -> TemplateResponse:
    return TemplateResponse(
        id=template.id,
        name=template.name,
        version=version,
        latest_version=template.version,
        spec=spec,
        team_id=template.team_id,
        created_at=template.created_at,
        updated_at=template.updated_at,
    )
