"""Bulk import: rows are validated, embedded and staged in chunks; a commit loads them all in one transaction
(the loader, runner.py), deduplicated the same way as single stores."""

import json
import uuid
from dataclasses import dataclass
from typing import Any

import numpy as np
from pydantic import ValidationError

from database.models import MemoryImport
from services.memory_service.imports import repository
from services.memory_service.imports.runner import ImportLoader
from services.memory_service.schemas import MemoryCreate
from services.memory_service.service import MemoryService, acting_user
from shared.errors import BadRequestError, ConflictError, NotFoundError
from shared.identity import Identity

MAX_REPORTED_ERRORS = 10


@dataclass(kw_only=True)
class ImportService:
    memories: MemoryService
    loader: ImportLoader

    async def open(self, identity: Identity) -> MemoryImport:
        user_id = uuid.UUID(identity.user_id)
        limit = self.memories.settings.import_unfinished_per_user
        if await repository.unfinished_count(self.memories.session, user_id) >= limit:
            raise ConflictError(
                f"At most {limit} imports may be open or loading at once: commit or wait for one first",
                code="too_many_imports",
            )
        job = await repository.create(self.memories.session, user_id)
        await self.memories.session.commit()
        return job

    async def get(self, identity: Identity, import_id: uuid.UUID, *, for_update: bool = False) -> MemoryImport:
        job = await repository.get(self.memories.session, import_id, for_update=for_update)
        if job is None or (job.user_id != uuid.UUID(identity.user_id) and not identity.is_admin):
            raise NotFoundError("Import not found")
        return job

    async def stage(
        self, identity: Identity, import_id: uuid.UUID, body: bytes, *, first_line: int = 1
    ) -> MemoryImport:
        """One chunk of JSON lines (MemoryCreate each): all of it is staged, or none of it."""
        return await self._stage(identity, import_id, self._parse(body, first_line=first_line))

    async def import_body(self, identity: Identity, body: bytes) -> MemoryImport:
        """Open, stage and commit in one call (a body within the request size limit)."""
        items = self._parse(body)
        import_id = (await self.open(identity)).id
        try:
            await self._stage(identity, import_id, items)
        except Exception:
            # Not left open (it would count against the caller's unfinished imports for a day).
            await self.memories.session.rollback()
            await repository.delete(self.memories.session, import_id)
            await self.memories.session.commit()
            raise
        return await self.commit(identity, import_id)

    async def discard(self, identity: Identity, import_id: uuid.UUID) -> None:
        """An open import and its staged rows, dropped (a committed one is the memories' now)."""
        job = await self.get(identity, import_id, for_update=True)
        if job.status != "open":
            raise ConflictError(
                f"The import is {job.status}: only an open import can be discarded", code="import_closed"
            )
        await repository.delete(self.memories.session, job.id)
        await self.memories.session.commit()

    async def _stage(self, identity: Identity, import_id: uuid.UUID, items: list[MemoryCreate]) -> MemoryImport:
        await self.get(identity, import_id)  # someone else's import is a 404 before any embedding is paid for
        vectors = await self.memories.vectors_for(identity, items)  # before the row lock: embedding may take seconds
        job = await self.get(identity, import_id, for_update=True)
        if job.status != "open":
            raise ConflictError(
                f"The import is {job.status}: rows can only be added while it is open", code="import_closed"
            )
        settings = self.memories.settings
        if job.rows_staged + len(items) > settings.import_max_rows:
            raise BadRequestError(
                f"An import takes at most {settings.import_max_rows} rows",
                code="import_too_large",
                details={"staged": job.rows_staged, "adding": len(items)},
            )
        await repository.stage(
            self.memories.session,
            [
                self._record(identity, import_id=job.id, ordinal=job.rows_staged + n, item=item, vector=vector)
                for n, (item, vector) in enumerate(zip(items, vectors, strict=True))
            ],
        )
        job.rows_staged += len(items)
        await self.memories.session.commit()
        return job

    async def commit(self, identity: Identity, import_id: uuid.UUID) -> MemoryImport:
        """Queues the load and answers at once: the caller polls the import until it is done or failed."""
        job = await self.get(identity, import_id, for_update=True)
        if job.status != "open":
            raise ConflictError(f"The import is already {job.status}", code="import_closed")
        if job.rows_staged == 0:
            raise BadRequestError("Nothing was staged: upload rows before committing", code="import_empty")
        job.status = "committing"
        await self.memories.session.commit()
        self.loader.submit(job.id)
        return job

    def _parse(self, body: bytes, *, first_line: int = 1) -> list[MemoryCreate]:
        lines = [(n, line) for n, line in enumerate(body.splitlines(), start=first_line) if line.strip()]
        if not lines:
            raise BadRequestError("The body has no rows: send one JSON object per line", code="import_empty")
        if len(lines) > self.memories.settings.import_chunk_rows:
            raise BadRequestError(
                f"At most {self.memories.settings.import_chunk_rows} rows per upload: send the rest in more uploads",
                code="batch_too_large",
            )
        items: list[MemoryCreate] = []
        errors: list[dict[str, Any]] = []
        for number, line in lines:
            try:
                items.append(MemoryCreate.model_validate_json(line))
            except ValidationError as exc:
                errors.append(
                    {
                        "line": number,
                        "errors": exc.errors(include_url=False, include_context=False, include_input=False),
                    }
                )
                if len(errors) == MAX_REPORTED_ERRORS:
                    break
        if errors:
            first = errors[0]["errors"][0]
            where = ".".join(str(part) for part in first["loc"]) or "the row"
            raise BadRequestError(
                f"Line {errors[0]['line']} is not a valid memory ({where}: {first['msg']}); nothing of this upload "
                "was staged",
                code="invalid_import_rows",
                details={"errors": errors},
            )
        return items

    def _record(
        self, identity: Identity, *, import_id: uuid.UUID, ordinal: int, item: MemoryCreate, vector: list[float]
    ) -> tuple[Any, ...]:
        values = {
            "import_id": import_id,
            "ordinal": ordinal,
            "memory_id": uuid.uuid4(),
            "user_id": acting_user(identity, item.user_id),
            "agent_id": item.agent_id,
            "session_id": item.session_id,
            "run_id": item.run_id,
            "source_message_id": item.source_message_id,
            "content": self.memories.stored_content(item.content, sensitive=item.is_sensitive),
            "memory_type": item.memory_type,
            "scope": item.scope,
            "embedding": np.asarray(vector, dtype=np.float32),
            "metadata": json.dumps(item.metadata),
            "source": item.source,
            "confidence": item.confidence,
            "is_sensitive": item.is_sensitive,
            "expires_at": item.expires_at,
        }
        return tuple(values[column] for column in repository.STAGED_COLUMNS)
