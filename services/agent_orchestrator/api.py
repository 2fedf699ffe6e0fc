"""agent-orchestrator routes. Through the gateway: /api/v1/agents/… (runs arrive with the orchestration issue)."""

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request, status

from services.agent_orchestrator.schemas import AgentCreate, AgentResponse
from services.agent_orchestrator.service import AgentService, seed_built_in_agents
from shared.db import DbSession
from shared.identity import CurrentIdentity

router = APIRouter(tags=["agents"])


async def get_service(request: Request, session: DbSession) -> AgentService:
    if not request.app.state.agents_seeded:
        await seed_built_in_agents(session)
        request.app.state.agents_seeded = True
    return AgentService(session=session)


Service = Annotated[AgentService, Depends(get_service)]


@router.get("/agents", response_model=list[AgentResponse], summary="Built-in agents and the ones you registered")
async def list_agents(identity: CurrentIdentity, service: Service) -> list[AgentResponse]:
    return [AgentResponse.model_validate(a) for a in await service.list(identity)]


@router.post("/agents", response_model=AgentResponse, status_code=status.HTTP_201_CREATED, summary="Register an agent (model settings are kept)")
async def register_agent(body: AgentCreate, identity: CurrentIdentity, service: Service) -> AgentResponse:
    return AgentResponse.model_validate(await service.register(identity, body))


@router.get("/agents/{name}", response_model=AgentResponse, summary="One agent definition")
async def get_agent(name: Annotated[str, Path(max_length=100)], identity: CurrentIdentity, service: Service) -> AgentResponse:
    return AgentResponse.model_validate(await service.get(identity, name))
