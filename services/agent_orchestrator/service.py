"""Agent definitions: the four built-in roles are seeded; users and admins register more."""

import uuid
from dataclasses import dataclass

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from database.models import Agent
from services.agent_orchestrator import repository
from services.agent_orchestrator.schemas import AgentCreate
from shared.errors import ConflictError, NotFoundError
from shared.identity import Identity

BUILT_IN_AGENTS = (
    AgentCreate(name="planner", role="planner", description="Breaks a goal into a DAG of tasks", capabilities=["planning"],
                allowed_tools=[], temperature=0.0),
    AgentCreate(name="executor", role="executor", description="Does a task, writing and running code when needed",
                capabilities=["coding", "research", "writing"], allowed_tools=["execute_python", "http_request", "memory_search", "memory_store", "llm_complete"]),
    AgentCreate(name="critic", role="critic", description="Reviews a result, scores it and approves or asks for changes",
                capabilities=["review"], allowed_tools=["execute_python"], temperature=0.0),
    AgentCreate(name="summarizer", role="summarizer", description="Writes the final result and stores it in memory",
                capabilities=["summarising"], allowed_tools=["memory_store"]),
)  # fmt: skip


@dataclass
class AgentService:
    session: AsyncSession

    async def list(self, identity: Identity) -> list[Agent]:
        return await repository.list_visible(self.session, uuid.UUID(identity.user_id))

    async def get(self, identity: Identity, name: str) -> Agent:
        agent = await repository.get_by_name(self.session, name)
        if agent is None or (agent.owner_id is not None and str(agent.owner_id) != identity.user_id and not identity.is_admin):
            raise NotFoundError(f"No agent named {name!r}")
        return agent

    async def register(self, identity: Identity, definition: AgentCreate) -> Agent:
        if await repository.get_by_name(self.session, definition.name):
            raise ConflictError(f"An agent named {definition.name!r} exists", code="already_exists")
        agent = Agent(**definition.model_dump(), owner_id=uuid.UUID(identity.user_id))
        try:
            return await repository.add(self.session, agent)
        except IntegrityError as exc:
            await self.session.rollback()
            raise ConflictError(f"An agent named {definition.name!r} exists", code="already_exists") from exc


async def seed_built_in_agents(session: AsyncSession) -> None:
    for definition in BUILT_IN_AGENTS:
        if await repository.get_by_name(session, definition.name) is None:
            session.add(Agent(**definition.model_dump(), owner_id=None))
    try:
        await session.commit()
    except IntegrityError:  # another orchestrator process seeded them at the same moment
        await session.rollback()
