"""What the ai-runtime's route modules share: the runtime itself, as a dependency."""

from typing import Annotated

from fastapi import Depends, Request

from services.ai_runtime.service import AIRuntime
from shared.app import service_state

SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


async def get_runtime(request: Request) -> AIRuntime:
    return service_state(request.app, AIRuntime)


Runtime = Annotated[AIRuntime, Depends(get_runtime)]
