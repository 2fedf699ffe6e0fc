"""The orchestrator's running state and the dependencies its routes declare."""

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from services.agent_orchestrator.approvals import ApprovalService
from services.agent_orchestrator.automation.schedules import Firer, ScheduleService
from services.agent_orchestrator.automation.templates import TemplateService
from services.agent_orchestrator.automation.webhooks import WebhookService
from services.agent_orchestrator.config import OrchestratorSettings
from services.agent_orchestrator.conversations.memory import MemoryLearner
from services.agent_orchestrator.conversations.service import ConversationService
from services.agent_orchestrator.evals.driver import EvalDriver
from services.agent_orchestrator.evals.service import EvalService
from services.agent_orchestrator.events import Notifications
from services.agent_orchestrator.service import AgentService, RunLineageService, RunService, seed_built_in_agents
from services.agent_orchestrator.worker import Worker
from shared.app import DbSession, service_state
from shared.clients import ServiceClient


@dataclass(kw_only=True)
class OrchestratorState:
    settings: OrchestratorSettings
    ai: ServiceClient
    planner: ServiceClient
    tools: ServiceClient
    memory: ServiceClient
    worker: Worker
    notifications: Notifications
    learner: MemoryLearner
    evals: EvalDriver
    firer: Firer
    agents_seeded: bool = False


async def orchestrator_state(request: Request) -> OrchestratorState:
    return service_state(request.app, OrchestratorState)


State = Annotated[OrchestratorState, Depends(orchestrator_state)]


async def get_agent_service(state: State, session: DbSession) -> AgentService:
    if not state.agents_seeded:
        await seed_built_in_agents(session)
        state.agents_seeded = True
    return AgentService(session=session)


def run_service(state: OrchestratorState, session: AsyncSession) -> RunService:
    return RunService(session=session, settings=state.settings, planner=state.planner, ai=state.ai, tools=state.tools)


async def get_run_service(state: State, session: DbSession) -> RunService:
    return run_service(state, session)


async def get_lineage_service(state: State, session: DbSession) -> RunLineageService:
    return RunLineageService(runs=run_service(state, session))


async def get_approval_service(session: DbSession) -> ApprovalService:
    return ApprovalService(session=session)


async def get_eval_service(state: State, session: DbSession) -> EvalService:
    return EvalService(session=session, settings=state.settings, ai=state.ai, wake=state.evals.wake)


Agents = Annotated[AgentService, Depends(get_agent_service)]
Evals = Annotated[EvalService, Depends(get_eval_service)]
Runs = Annotated[RunService, Depends(get_run_service)]
Lineage = Annotated[RunLineageService, Depends(get_lineage_service)]
Approvals = Annotated[ApprovalService, Depends(get_approval_service)]


def conversation_service(state: OrchestratorState, session: AsyncSession) -> ConversationService:
    return ConversationService(
        session=session,
        settings=state.settings,
        ai=state.ai,
        tools=state.tools,
        memory=state.memory,
        runs=run_service(state, session),
        learn=state.learner.schedule,
    )


async def get_conversation_service(state: State, session: DbSession) -> ConversationService:
    return conversation_service(state, session)


Conversations = Annotated[ConversationService, Depends(get_conversation_service)]


async def get_template_service(state: State, session: DbSession) -> TemplateService:
    return TemplateService(session=session, runs=run_service(state, session))


async def get_schedule_service(state: State, session: DbSession) -> ScheduleService:
    return ScheduleService(session=session, settings=state.settings, firer=state.firer)


async def get_webhook_service(state: State, session: DbSession) -> WebhookService:
    return WebhookService(session=session, settings=state.settings)


Templates = Annotated[TemplateService, Depends(get_template_service)]
Schedules = Annotated[ScheduleService, Depends(get_schedule_service)]
Webhooks = Annotated[WebhookService, Depends(get_webhook_service)]
