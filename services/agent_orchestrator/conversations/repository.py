"""Conversations and their messages in SQL. Only flushes: the service method that owns the unit of work commits."""

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from database.models import Conversation, Message, Run
from shared.pagination import keyset

OPEN_CALLS_LOOKBACK = 64  # messages read back to find the last tool calls (a turn has at most a few rounds)


async def get_owned(session: AsyncSession, conversation_id: uuid.UUID, user_id: uuid.UUID) -> Conversation | None:
    conversation = await session.get(Conversation, conversation_id)
    return conversation if conversation is not None and conversation.user_id == user_id else None


async def list_page(
    session: AsyncSession, user_id: uuid.UUID, *, after: tuple[datetime, uuid.UUID] | None, limit: int
) -> list[Conversation]:
    """Newest first; `after` is the last (created_at, id) of the previous page."""
    query = select(Conversation).where(Conversation.user_id == user_id)
    return list((await session.scalars(keyset(query, Conversation, after=after, limit=limit, newest_first=True))).all())


async def messages_page(
    session: AsyncSession, conversation_id: uuid.UUID, *, after: tuple[datetime, uuid.UUID] | None, limit: int
) -> list[Message]:
    """Oldest first, as a conversation reads; `after` is the last (created_at, id) of the previous page."""
    query = select(Message).where(Message.conversation_id == conversation_id)
    return list((await session.scalars(keyset(query, Message, after=after, limit=limit, newest_first=False))).all())


async def all_messages(session: AsyncSession, conversation_id: uuid.UUID) -> list[Message]:
    query = select(Message).where(Message.conversation_id == conversation_id).order_by(Message.created_at, Message.id)
    return list((await session.scalars(query)).all())


async def open_tool_calls(session: AsyncSession, conversation_id: uuid.UUID) -> list[dict[str, Any]]:
    """The assistant's last tool calls that have no result yet (calls held for approval when a turn ended)."""
    query = (
        select(Message)
        .where(Message.conversation_id == conversation_id)
        .order_by(Message.created_at.desc(), Message.id.desc())
        .limit(OPEN_CALLS_LOOKBACK)
    )
    answered: set[str] = set()
    for message in (await session.scalars(query)).all():
        if message.role == "tool" and message.tool_call_id:
            answered.add(message.tool_call_id)
        elif message.role == "assistant" and message.tool_calls:
            return [call for call in message.tool_calls if call.get("id") not in answered]
        elif message.role in ("user", "assistant"):
            return []
    return []


async def add_message(session: AsyncSession, **values: Any) -> Message:
    """Each message gets its own timestamp (not the transaction's), so a turn's messages keep their order."""
    message = Message(id=uuid.uuid4(), created_at=func.clock_timestamp(), **values)
    session.add(message)
    await session.flush()
    await session.refresh(message, ["created_at"])
    return message


async def run_result_message(session: AsyncSession, run_id: uuid.UUID) -> Message | None:
    """The message a run started from a conversation posted back with its result, once it has."""
    return await session.scalar(select(Message).where(Message.run_id == run_id, Message.role == "assistant"))


async def post_run_outcome(session: AsyncSession, run_id: uuid.UUID) -> None:
    """A run started from a conversation has ended: its result (or why it did not finish) becomes a message there.
    Called where the run's final event is written, under the run's lock, in the same transaction."""
    run = await session.get(Run, run_id)
    if run is None or run.conversation_id is None:
        return
    result = run.result or {}
    if run.status == "succeeded":
        content = str(result.get("summary") or "The run finished without a summary.")
    else:
        content = f"The run {run.status}: {run.error or 'no reason given'}"
    await add_message(
        session,
        conversation_id=run.conversation_id,
        role="assistant",
        content=content,
        run_id=run.id,
        cost_usd=Decimal(run.spent_usd or 0),
        meta={"kind": "run_result", "status": run.status, "memory_id": result.get("memory_id")},
    )
