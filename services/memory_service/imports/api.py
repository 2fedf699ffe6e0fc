"""Bulk import routes. Through the gateway: /api/v1/memories/import and /api/v1/memories/imports/…"""

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response, status

from services.memory_service.deps import Imports
from services.memory_service.imports.schemas import ImportResponse
from shared.identity import CurrentIdentity

router = APIRouter(tags=["memory imports"])
JSON_LINES = {
    "requestBody": {
        "required": True,
        "description": "One memory per line (the body of POST /memories), embedding optional",
        "content": {"application/x-ndjson": {"schema": {"type": "string"}}},
    }
}


@router.post(
    "/memories/imports",
    response_model=ImportResponse,
    status_code=status.HTTP_201_CREATED,
    summary="Start a bulk import: upload rows to it in chunks, then commit",
)
async def open_import(identity: CurrentIdentity, imports: Imports) -> ImportResponse:
    return ImportResponse.model_validate(await imports.open(identity))


@router.post(
    "/memories/imports/{import_id}/rows",
    response_model=ImportResponse,
    summary="Stage a chunk of rows (JSON lines): all of them, or none when one is not valid",
    openapi_extra=JSON_LINES,
)
async def stage_rows(
    import_id: uuid.UUID,
    request: Request,
    identity: CurrentIdentity,
    imports: Imports,
    first_line: Annotated[int, Query(ge=1, description="The number of this upload's first line in your file")] = 1,
) -> ImportResponse:
    body = await request.body()
    return ImportResponse.model_validate(await imports.stage(identity, import_id, body, first_line=first_line))


@router.post(
    "/memories/imports/{import_id}/commit",
    response_model=ImportResponse,
    status_code=status.HTTP_202_ACCEPTED,
    summary="Load the staged rows in one transaction, deduplicated; poll the import until done or failed",
)
async def commit_import(import_id: uuid.UUID, identity: CurrentIdentity, imports: Imports) -> ImportResponse:
    return ImportResponse.model_validate(await imports.commit(identity, import_id))


@router.get("/memories/imports/{import_id}", response_model=ImportResponse, summary="An import and how far it got")
async def get_import(import_id: uuid.UUID, identity: CurrentIdentity, imports: Imports) -> ImportResponse:
    return ImportResponse.model_validate(await imports.get(identity, import_id))


@router.delete(
    "/memories/imports/{import_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Discard an open import and the rows staged in it",
)
async def discard_import(import_id: uuid.UUID, identity: CurrentIdentity, imports: Imports) -> Response:
    await imports.discard(identity, import_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/memories/import",
    response_model=ImportResponse,
    status_code=status.HTTP_202_ACCEPTED,
    summary="Import one body of JSON lines (open, stage and commit in one call); poll the import until done",
    openapi_extra=JSON_LINES,
)
async def import_memories(request: Request, identity: CurrentIdentity, imports: Imports) -> ImportResponse:
    return ImportResponse.model_validate(await imports.import_body(identity, await request.body()))
