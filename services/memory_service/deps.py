"""The memory-service's running state and the dependencies its routes declare."""

from dataclasses import dataclass
from typing import Annotated

from cryptography.fernet import Fernet
from fastapi import Depends, Request

from services.memory_service.background import AccessRecorder
from services.memory_service.config import MemorySettings
from services.memory_service.imports.runner import ImportLoader
from services.memory_service.imports.service import ImportService
from services.memory_service.service import MemoryService
from shared.app import DbSession, service_state
from shared.clients import ServiceClient


@dataclass(kw_only=True)
class MemoryState:
    settings: MemorySettings
    ai: ServiceClient
    cipher: Fernet
    access: AccessRecorder
    imports: ImportLoader


async def get_memory_service(request: Request, session: DbSession) -> MemoryService:
    state = service_state(request.app, MemoryState)
    return MemoryService(
        session=session, settings=state.settings, ai=state.ai, cipher=state.cipher, access=state.access
    )


Memories = Annotated[MemoryService, Depends(get_memory_service)]


async def get_import_service(request: Request, memories: Memories) -> ImportService:
    return ImportService(memories=memories, loader=service_state(request.app, MemoryState).imports)


Imports = Annotated[ImportService, Depends(get_import_service)]
