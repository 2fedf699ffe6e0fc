"""Conversation routes (through the gateway: /api/v1/conversations). Thin: the service does the turn."""

import asyncio
import functools
import json
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response, status
from fastapi.responses import StreamingResponse

from services.agent_orchestrator.conversations import repository
from services.agent_orchestrator.conversations.schemas import (
    ConversationCreate,
    ConversationResponse,
    ConversationUpdate,
    MessageCreate,
    MessageResponse,
    ReplyResponse,
    ResumeRequest,
)
from services.agent_orchestrator.conversations.service import ConversationService, Turn, TurnEvent, message_response
from services.agent_orchestrator.deps import Conversations, OrchestratorState, State, conversation_service
from services.agent_orchestrator.events import sse, stream_run_events
from services.agent_orchestrator.schemas import ApprovalResponse
from shared.app import core_state
from shared.errors import AppError, error_body
from shared.identity import CurrentIdentity, Identity
from shared.pagination import Page

router = APIRouter(prefix="/conversations", tags=["conversations"])

SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
Limit = Annotated[int, Query(ge=1, le=200)]


@router.post("", response_model=ConversationResponse, status_code=status.HTTP_201_CREATED, summary="Start one")
async def create_conversation(
    body: ConversationCreate, identity: CurrentIdentity, conversations: Conversations
) -> ConversationResponse:
    return await conversations.create(identity, body)


@router.get("", response_model=Page[ConversationResponse], summary="Your conversations, newest first, with a cursor")
async def list_conversations(
    identity: CurrentIdentity, conversations: Conversations, cursor: str | None = None, limit: Limit = 50
) -> Page[ConversationResponse]:
    return await conversations.page(identity, cursor=cursor, limit=limit)


@router.get("/{conversation_id}", response_model=ConversationResponse, summary="One of your conversations")
async def get_conversation(
    conversation_id: uuid.UUID, identity: CurrentIdentity, conversations: Conversations
) -> ConversationResponse:
    return ConversationResponse.model_validate(await conversations.get(identity, conversation_id))


@router.patch("/{conversation_id}", response_model=ConversationResponse, summary="Rename it or change its prompt")
async def update_conversation(
    conversation_id: uuid.UUID, body: ConversationUpdate, identity: CurrentIdentity, conversations: Conversations
) -> ConversationResponse:
    return await conversations.update(identity, conversation_id, body)


@router.delete("/{conversation_id}", status_code=status.HTTP_204_NO_CONTENT, summary="Delete it and its messages")
async def delete_conversation(
    conversation_id: uuid.UUID, identity: CurrentIdentity, conversations: Conversations
) -> Response:
    await conversations.delete(identity, conversation_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/{conversation_id}/messages", response_model=Page[MessageResponse], summary="Its messages, oldest first")
async def list_messages(
    conversation_id: uuid.UUID,
    identity: CurrentIdentity,
    conversations: Conversations,
    cursor: str | None = None,
    limit: Limit = 100,
) -> Page[MessageResponse]:
    return await conversations.messages(identity, conversation_id, cursor=cursor, limit=limit)


@router.post(
    "/{conversation_id}/messages",
    response_model=ReplyResponse,
    summary="Say something; the assistant answers (with stream: true, as server-sent events)",
    responses={
        200: {
            "content": {"text/event-stream": {}},
            "description": "With stream: true: `message` (each stored message), `delta` (reply text), `tool_call`, "
            "`tool_result`, `approval_requested` (a call held for you: the turn ends), `run_started` and the run's own "
            "events, `run_result`, then `done` with usage and cost",
        },
        409: {"description": "A tool call of the last turn still waits for your decision (approval_pending)"},
    },
)
async def post_message(
    request: Request,
    conversation_id: uuid.UUID,
    body: MessageCreate,
    identity: CurrentIdentity,
    conversations: Conversations,
    state: State,
) -> Any:
    conversation = await conversations.get(identity, conversation_id)  # 404 before any stream starts
    turn = Turn(stream=body.stream)
    if not body.stream:
        return await _reply(conversations.turn(identity, conversation, body, turn), turn)
    await conversations.ready_for_a_turn(conversation)  # 409 while a held call waits, before the stream starts
    events = functools.partial(ConversationService.turn, identity=identity, body=body, turn=turn)
    return StreamingResponse(
        _streamed_turn(request, state, identity=identity, conversation_id=conversation_id, events=events, turn=turn),
        media_type="text/event-stream",
        headers=SSE_HEADERS,
    )


@router.post(
    "/{conversation_id}/resume",
    response_model=ReplyResponse,
    summary="Go on with a turn that ended at tool calls held for approval, once you decided them",
    responses={
        200: {"content": {"text/event-stream": {}}, "description": "With stream: true: the events of a message"},
        409: {"description": "A held call is still undecided (approval_pending), or nothing waits (nothing_to_resume)"},
    },
)
async def resume_turn(
    request: Request,
    conversation_id: uuid.UUID,
    body: ResumeRequest,
    identity: CurrentIdentity,
    conversations: Conversations,
    state: State,
) -> Any:
    conversation = await conversations.get(identity, conversation_id)
    turn = Turn(stream=body.stream)
    if not body.stream:
        return await _reply(conversations.resume(identity, conversation, turn), turn)
    await conversations.ready_for_a_turn(conversation)
    events = functools.partial(ConversationService.resume, identity=identity, turn=turn)
    return StreamingResponse(
        _streamed_turn(request, state, identity=identity, conversation_id=conversation_id, events=events, turn=turn),
        media_type="text/event-stream",
        headers=SSE_HEADERS,
    )


async def _reply(events: AsyncIterator[TurnEvent], turn: Turn) -> ReplyResponse:
    messages = [event.message async for event in events]
    unique = list({m.id: m for m in messages if m is not None}.values())
    return ReplyResponse(
        messages=[message_response(m) for m in unique],
        usage=turn.usage,
        run_id=turn.run_id,
        approvals=[ApprovalResponse.model_validate(a) for a in turn.held],
    )


TurnEvents = Callable[..., AsyncIterator[TurnEvent]]  # a ConversationService method, given all but self and the chat


async def _streamed_turn(
    request: Request,
    state: OrchestratorState,
    *,
    identity: Identity,
    conversation_id: uuid.UUID,
    events: TurnEvents,
    turn: Turn,
) -> AsyncIterator[str]:
    """The turn on a session of its own (the request's is gone once streaming starts); a run it starts is followed
    to its end, then its result message."""
    sessionmaker = core_state(request.app).sessionmaker
    async with sessionmaker() as session:
        service = conversation_service(state, session)
        try:
            conversation = await service.get(identity, conversation_id)
            async for event in events(service, conversation=conversation):
                yield _event(event)
        except AppError as exc:
            yield sse(None, "error", json.dumps(error_body(exc.code, exc.message, exc.details)))
            return
    if turn.run_id is not None:
        async with asyncio.timeout(state.settings.conversation_follow_run_seconds):
            async for chunk in stream_run_events(
                sessionmaker,
                notifications=state.notifications,
                run_id=turn.run_id,
                after_id=0,
                keepalive_seconds=state.settings.run_events_keepalive_seconds,
            ):
                if not chunk.startswith("event: end"):
                    yield chunk
        async with sessionmaker() as session:
            posted = await repository.run_result_message(session, turn.run_id)
            if posted is not None:
                yield sse(None, "run_result", message_response(posted).model_dump_json())
    done: dict[str, Any] = {
        "usage": turn.usage.model_dump(),
        "run_id": str(turn.run_id) if turn.run_id else None,
        "approvals": [str(a.id) for a in turn.held],
    }
    if turn.reply is not None:
        done["message"] = message_response(turn.reply).model_dump(mode="json")
    yield sse(None, "done", json.dumps(done))


def _event(event: TurnEvent) -> str:
    if event.kind in ("message", "done", "tool_result") and event.message is not None:
        payload: dict[str, Any] = message_response(event.message).model_dump(mode="json")
        return sse(None, "message" if event.kind == "done" else event.kind, json.dumps({**event.data, **payload}))
    return sse(None, event.kind, json.dumps(event.data))
