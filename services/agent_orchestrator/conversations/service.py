"""A conversation turn is a real agent turn: recall the user's memories, fit the history into the prompt (older
messages summarised), call the model through the ai-runtime on the user's budget, run the tools it asks for
(bounded rounds), store every message with its usage, and afterwards learn from the exchange (memory.py)."""

import fnmatch
import json
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from database.models import Agent, Approval, Conversation, Message
from services.agent_orchestrator import repository as run_repository
from services.agent_orchestrator.approvals import approved_parameters, is_gated, parameters_hash
from services.agent_orchestrator.config import OrchestratorSettings
from services.agent_orchestrator.conversations import repository
from services.agent_orchestrator.conversations.schemas import (
    DEFAULT_TOOLS,
    ConversationCreate,
    ConversationResponse,
    ConversationUpdate,
    MessageCreate,
    MessageResponse,
    ToolName,
    TurnUsage,
)
from services.agent_orchestrator.schemas import RunCreate
from services.agent_orchestrator.service import RunService
from shared.clients import ServiceClient
from shared.contracts import clients as contracts
from shared.contracts.ai import CompleteRequest
from shared.contracts.memory import RetrieveRequest
from shared.contracts.tools import MCP_PREFIX, ExecuteRequest
from shared.errors import AppError, ConflictError, NotFoundError
from shared.identity import Identity
from shared.pagination import Page, after_cursor, page_of

DEFAULT_SYSTEM_PROMPT_ROLE = "assistant"
START_RUN_TOOL = {
    "type": "function",
    "function": {
        "name": "start_run",
        "description": (
            "Hand a goal too big for one reply to CognitionOS's agents: they plan it into tasks and run them; the "
            "result is posted in this conversation when it is done."
        ),
        "parameters": {
            "type": "object",
            "properties": {"goal": {"type": "string", "minLength": 3, "maxLength": 4000}},
            "required": ["goal"],
        },
    },
}
TOOL_RESULT_CHARS = 4000


@dataclass(kw_only=True)
class TurnEvent:
    """One thing that happened in a turn: streamed as an SSE event, or collected into the JSON reply."""

    kind: str  # message, delta, tool_call, tool_result, approval_requested, run_started, done
    data: dict[str, Any]
    message: Message | None = None


@dataclass(kw_only=True)
class Turn:
    """What a turn adds up to while it runs."""

    usage: TurnUsage = field(default_factory=TurnUsage)
    run_id: uuid.UUID | None = None
    user_message: Message | None = None
    reply: Message | None = None
    reply_completion: dict[str, Any] = field(default_factory=dict)  # the last model answer of the turn
    stream: bool = False
    held: list[Approval] = field(default_factory=list)  # tool calls that wait for approval: the turn ends there
    resumed_patterns: list[str] = field(default_factory=list)  # the gated tools of the turn being resumed

    def count(self, completion: dict[str, Any]) -> None:
        self.usage.prompt_tokens += int(completion.get("prompt_tokens") or 0)
        self.usage.completion_tokens += int(completion.get("completion_tokens") or 0)
        self.usage.cost_usd = round(self.usage.cost_usd + float(completion.get("cost_usd") or 0), 6)
        self.usage.llm_calls += 1


def model_or_role(model: str | None, role: str) -> dict[str, str]:
    """The role always names the prompt; the conversation's own model, when it has one, replaces the role's chain."""
    return {"role": role, **({"model": model} if model else {})}


def completion_request(*, messages: list[dict[str, Any]], model: str | None, **fields: Any) -> CompleteRequest:
    """The ai-runtime's /complete body for a conversation's call, in the assistant's role."""
    return CompleteRequest.model_validate(
        {"context": messages, **model_or_role(model, DEFAULT_SYSTEM_PROMPT_ROLE), **fields}
    )


def message_response(message: Message) -> MessageResponse:
    return MessageResponse.model_validate(message)


@dataclass(kw_only=True)
class ConversationService:
    session: AsyncSession
    settings: OrchestratorSettings
    ai: ServiceClient
    tools: ServiceClient
    memory: ServiceClient
    runs: RunService
    learn: Callable[[Identity, Conversation, Message, Message], None]

    # --- the conversation itself -----------------------------------------------------------------

    async def create(self, identity: Identity, body: ConversationCreate) -> ConversationResponse:
        if body.agent is not None:
            await self._agent(identity, body.agent)
        conversation = Conversation(
            id=uuid.uuid4(),
            user_id=uuid.UUID(identity.user_id),
            title=body.title,
            agent=body.agent,
            system_prompt=body.system_prompt,
            model=body.model,
            meta=body.metadata,
        )
        self.session.add(conversation)
        await self.session.commit()
        await self.session.refresh(conversation)
        return ConversationResponse.model_validate(conversation)

    async def get(self, identity: Identity, conversation_id: uuid.UUID) -> Conversation:
        """The caller's own conversation; anyone else's is not found (404, not 403: its existence is private)."""
        conversation = await repository.get_owned(self.session, conversation_id, uuid.UUID(identity.user_id))
        if conversation is None:
            raise NotFoundError("Conversation not found")
        return conversation

    async def page(self, identity: Identity, *, cursor: str | None, limit: int) -> Page[ConversationResponse]:
        owner = uuid.UUID(identity.user_id)
        rows = await repository.list_page(self.session, owner, after=after_cursor(cursor), limit=limit + 1)
        return page_of(rows, limit=limit, item=ConversationResponse.model_validate)

    async def update(
        self, identity: Identity, conversation_id: uuid.UUID, change: ConversationUpdate
    ) -> ConversationResponse:
        conversation = await self.get(identity, conversation_id)
        for name in ("title", "system_prompt", "model"):
            if name in change.model_fields_set:
                setattr(conversation, name, getattr(change, name))
        if change.metadata is not None:
            conversation.meta = change.metadata
        await self.session.commit()
        await self.session.refresh(conversation)
        return ConversationResponse.model_validate(conversation)

    async def delete(self, identity: Identity, conversation_id: uuid.UUID) -> None:
        await self.session.delete(await self.get(identity, conversation_id))
        await self.session.commit()

    async def messages(
        self, identity: Identity, conversation_id: uuid.UUID, *, cursor: str | None, limit: int
    ) -> Page[MessageResponse]:
        await self.get(identity, conversation_id)
        rows = await repository.messages_page(
            self.session, conversation_id, after=after_cursor(cursor), limit=limit + 1
        )
        return page_of(rows, limit=limit, item=message_response)

    # --- a turn ----------------------------------------------------------------------------------------

    async def turn(
        self, identity: Identity, conversation: Conversation, body: MessageCreate, turn: Turn
    ) -> AsyncIterator[TurnEvent]:
        """The user's message, then the assistant's tool calls and their results, then its reply."""
        turn.stream = body.stream
        agent = await self._agent(identity, conversation.agent) if conversation.agent else None
        async for event in self._close_open_calls(identity, conversation, turn):
            yield event
        turn.user_message = await self._store(conversation, role="user", content=body.content)
        yield TurnEvent(kind="message", data={}, message=turn.user_message)
        memories = await self._recall(identity, body.content)
        messages, system_context = await self._prompt(identity, conversation, agent=agent, memories=memories)
        tools = await self._tool_definitions(identity, body.tools, agent=agent)
        gated = self._gated(agent, body.approval_patterns)
        async for event in self._rounds(
            identity, conversation, messages, system_context=system_context, tools=tools, gated=gated, turn=turn
        ):
            yield event
        if turn.user_message is not None and turn.reply is not None and self.settings.conversation_learn:
            self.learn(identity, conversation, turn.user_message, turn.reply)

    async def resume(self, identity: Identity, conversation: Conversation, turn: Turn) -> AsyncIterator[TurnEvent]:
        """A turn that ended at tool calls held for approval goes on: each decided call runs (approved, with the
        edit) or is declined to the model, which then answers as in any turn."""
        agent = await self._agent(identity, conversation.agent) if conversation.agent else None
        closed = [event async for event in self._close_open_calls(identity, conversation, turn)]
        if not closed:
            raise ConflictError("Nothing in this conversation waits to be resumed", code="nothing_to_resume")
        for event in closed:
            yield event
        messages, system_context = await self._prompt(identity, conversation, agent=agent, memories=[])
        tools = await self._tool_definitions(identity, None, agent=agent)
        gated = self._gated(agent, turn.resumed_patterns)
        async for event in self._rounds(
            identity, conversation, messages, system_context=system_context, tools=tools, gated=gated, turn=turn
        ):
            yield event

    async def ready_for_a_turn(self, conversation: Conversation) -> None:
        """409 while a tool call of the last turn still waits for a decision (before any stream starts)."""
        await self._held_calls(conversation)

    async def _held_calls(self, conversation: Conversation) -> list[tuple[dict[str, Any], Approval | None]]:
        """The last turn's tool calls that have no result yet, each with its approval; 409 while one is undecided.
        A conversation with none (nearly every turn) costs one query."""
        open_calls = await repository.open_tool_calls(self.session, conversation.id)
        if not open_calls:
            return []
        held = await run_repository.chat_approvals(self.session, conversation.id, [c["id"] for c in open_calls])
        if pending := [a for a in held.values() if a.status == "pending"]:
            raise ConflictError(
                "A tool call waits for your decision: approve or reject it, then resume",
                code="approval_pending",
                details={"approval_ids": [str(a.id) for a in pending]},
            )
        return [(call, held.get(call["id"])) for call in open_calls]

    def _gated(self, agent: Agent | None, asked: list[str]) -> tuple[str, ...]:
        return (*self.settings.approval_default_tools, *(agent.approval_tools if agent else ()), *asked)

    async def _rounds(
        self,
        identity: Identity,
        conversation: Conversation,
        messages: list[dict[str, Any]],
        *,
        system_context: str | None,
        tools: list[dict[str, Any]],
        gated: tuple[str, ...],
        turn: Turn,
    ) -> AsyncIterator[TurnEvent]:
        """Model answers and tool calls, round after round, until the reply, or until a call waits for approval."""
        for round_number in range(self.settings.conversation_max_tool_rounds + 1):
            last_round = round_number == self.settings.conversation_max_tool_rounds
            completion = await self._complete_or_stream(
                identity,
                conversation,
                messages,
                system_context=system_context,
                tools=None if last_round else tools,
                stream=turn.stream,
                turn=turn,
            )
            async for event in completion:
                yield event
            answer = turn.reply_completion
            if not answer.get("tool_calls"):
                turn.reply = await self._store(
                    conversation, role="assistant", content=answer.get("content") or "", completion=answer
                )
                yield TurnEvent(kind="done", data={}, message=turn.reply)
                return
            calls = await self._store(
                conversation,
                role="assistant",
                content=answer.get("content") or "",
                completion=answer,
                tool_calls=answer["tool_calls"],
            )
            messages.append({"role": "assistant", "content": calls.content or None, "tool_calls": calls.tool_calls})
            for call in answer["tool_calls"]:
                yield TurnEvent(
                    kind="tool_call",
                    data={
                        "id": call["id"],
                        "name": call["function"]["name"],
                        "arguments": call["function"]["arguments"],
                    },
                    message=calls,
                )
                if (held := await self._hold_if_gated(identity, conversation, call, gated=gated)) is not None:
                    turn.held.append(held)
                    yield TurnEvent(
                        kind="approval_requested",
                        data={"approval_id": str(held.id), "name": held.tool, "arguments": held.parameters},
                    )
                    continue
                result = await self._run_tool(identity, conversation, call, turn=turn)
                async for event in self._tool_result(conversation, call, result, messages=messages, turn=turn):
                    yield event
            if turn.held:
                return  # the turn ends here: POST /conversations/{id}/resume goes on once every held call is decided

    async def _tool_result(
        self,
        conversation: Conversation,
        call: dict[str, Any],
        result: str,
        *,
        messages: list[dict[str, Any]] | None,
        turn: Turn,
    ) -> AsyncIterator[TurnEvent]:
        if turn.run_id is not None and call["function"]["name"] == "start_run":
            yield TurnEvent(kind="run_started", data={"run_id": str(turn.run_id)})
        stored = await self._store(
            conversation, role="tool", content=result, tool_call_id=call["id"], run_id=turn.run_id
        )
        if messages is not None:
            messages.append({"role": "tool", "tool_call_id": call["id"], "content": result})
        yield TurnEvent(kind="tool_result", data={"name": call["function"]["name"]}, message=stored)

    async def _hold_if_gated(
        self, identity: Identity, conversation: Conversation, call: dict[str, Any], *, gated: tuple[str, ...]
    ) -> Approval | None:
        """An approval for the call when its tool is gated (and its arguments are a JSON object to show)."""
        name = call["function"]["name"]
        if not is_gated(gated, name):
            return None
        try:
            arguments = json.loads(call["function"].get("arguments") or "{}")
        except ValueError:
            return None  # not a call anyone could approve: it runs into its own error
        if not isinstance(arguments, dict):
            return None
        approval = await run_repository.add_approval(
            self.session,
            {
                "conversation_id": conversation.id,
                "tool_call_id": str(call["id"])[:128],
                "attempt": 0,
                "user_id": uuid.UUID(identity.user_id),
                "tool": name,
                "parameters": arguments,
                "parameters_hash": parameters_hash(arguments),
                "context": {"require_approval": list(gated)},
                "expires_at": datetime.now(UTC) + timedelta(seconds=self.settings.approval_expiry_seconds),
            },
        )
        await self.session.commit()
        return approval

    async def _close_open_calls(
        self, identity: Identity, conversation: Conversation, turn: Turn
    ) -> AsyncIterator[TurnEvent]:
        """Results for the last turn's held calls, now that they are decided: an approved call runs (with the
        edit), a rejected or expired one is declined to the model. A call still pending is a 409."""
        for call, approval in await self._held_calls(conversation):
            if approval is not None:
                turn.resumed_patterns = list(approval.context.get("require_approval") or [])
            result = await self._decided_result(identity, conversation, call, approval, turn=turn)
            async for event in self._tool_result(conversation, call, result, messages=None, turn=turn):
                yield event

    async def _decided_result(
        self,
        identity: Identity,
        conversation: Conversation,
        call: dict[str, Any],
        approval: Approval | None,
        *,
        turn: Turn,
    ) -> str:
        if approval is None:  # a turn cut short (a crash) before its call ran: say so rather than guess
            return json.dumps({"error": "This call did not run"})
        if approval.status != "approved":
            note = f": {approval.note}" if approval.note else ""
            return json.dumps({"error": f"The user {approval.status} this call; it did not run{note}"})
        approved = {
            "id": call["id"],
            "function": {"name": approval.tool, "arguments": json.dumps(approved_parameters(approval))},
        }
        return await self._run_tool(identity, conversation, approved, turn=turn)

    async def _complete_or_stream(
        self,
        identity: Identity,
        conversation: Conversation,
        messages: list[dict[str, Any]],
        *,
        system_context: str | None,
        tools: list[dict[str, Any]] | None,
        stream: bool,
        turn: Turn,
    ) -> AsyncIterator[TurnEvent]:
        """One model call. A round that offers tools is a plain call whose answer is sent as one delta (the turn
        needs any tool calls whole before it runs them); a round without tools streams token by token."""
        body = completion_request(
            messages=messages,
            model=conversation.model,
            max_tokens=self.settings.conversation_max_tokens,
            temperature=0.3,
            system_context=system_context,
            tools=tools or None,
        )
        if tools or not stream:
            answer = await contracts.complete(self.ai, body, identity=identity)
            return self._answered(answer.model_dump(mode="json"), stream=stream, turn=turn)
        return self._streamed(identity, body, turn=turn)

    async def _answered(self, answer: dict[str, Any], *, stream: bool, turn: Turn) -> AsyncIterator[TurnEvent]:
        turn.count(answer)
        turn.reply_completion = answer
        if stream and answer.get("content") and not answer.get("tool_calls"):
            yield TurnEvent(kind="delta", data={"content": answer["content"]})

    async def _streamed(self, identity: Identity, body: CompleteRequest, *, turn: Turn) -> AsyncIterator[TurnEvent]:
        async for name, data in contracts.complete_streamed(self.ai, body, identity=identity):
            if name == "chunk":
                yield TurnEvent(kind="delta", data={"content": data["delta"]})
            elif name == "done":
                turn.count(data)
                turn.reply_completion = data
            elif name == "error":
                error = data.get("error", {})
                raise AppError(error.get("message", "The model failed"), code=error.get("code", "provider_failed"))

    async def _store(
        self,
        conversation: Conversation,
        *,
        role: str,
        content: str,
        completion: dict[str, Any] | None = None,
        tool_calls: list[dict[str, Any]] | None = None,
        tool_call_id: str | None = None,
        run_id: uuid.UUID | None = None,
    ) -> Message:
        usage: dict[str, Any] = {}
        if completion is not None:
            usage = {
                "model": completion.get("model_used"),
                "prompt_tokens": completion.get("prompt_tokens"),
                "completion_tokens": completion.get("completion_tokens"),
                "tokens": completion.get("tokens_used"),
                "cost_usd": Decimal(str(completion.get("cost_usd") or 0)),
                "latency_ms": completion.get("latency_ms"),
            }
        message = await repository.add_message(
            self.session,
            conversation_id=conversation.id,
            role=role,
            content=content,
            tool_calls=tool_calls,
            tool_call_id=tool_call_id,
            run_id=run_id,
            **usage,
        )
        if conversation.title is None and role == "user":
            conversation.title = content[:80]
        await self.session.commit()
        return message

    # --- what goes into the prompt ---------------------------------------------------------------------

    async def _agent(self, identity: Identity, name: str) -> Agent:
        agent = await run_repository.get_by_name(self.session, name)
        if agent is None or (agent.owner_id is not None and str(agent.owner_id) != identity.user_id):
            raise NotFoundError(f"No agent named {name}", code="agent_not_found")
        return agent

    async def _recall(self, identity: Identity, query: str) -> list[dict[str, Any]]:
        """The user's memories most relevant to this message (hybrid: vector and full text)."""
        if self.settings.conversation_recall == 0:
            return []
        asked = RetrieveRequest(query=query[:4000], k=self.settings.conversation_recall, hybrid=True, scopes=["user"])
        found = await contracts.retrieve(self.memory, asked, identity=identity)
        relevant = [m for m in found if m.relevance_score >= self.settings.recall_min_relevance]
        return [m.model_dump(mode="json") for m in relevant]

    async def _prompt(
        self, identity: Identity, conversation: Conversation, *, agent: Agent | None, memories: list[dict[str, Any]]
    ) -> tuple[list[dict[str, Any]], str | None]:
        """The history that fits the token budget, and the system context (memories, the summary of older history)
        the ai-runtime adds to the system prompt. What no longer fits is summarised once, not silently dropped."""
        system = conversation.system_prompt or (agent.system_prompt if agent else None)
        history = await repository.all_messages(self.session, conversation.id)
        memory_lines = [f"- {m['content']}" for m in memories]
        spent = (
            _tokens(system or "") + sum(_tokens(line) for line in memory_lines) + _tokens(conversation.summary or "")
        )
        recent = history[conversation.summarized_count :]
        keep = _fit(recent, self.settings.conversation_context_tokens - spent)
        older = recent[: len(recent) - len(keep)]
        if older:
            await self._summarize(identity, conversation, older)
        blocks = []
        if memory_lines:
            blocks.append("Memories (what you know about the user):\n" + "\n".join(memory_lines))
        if conversation.summary:
            blocks.append(f"Earlier in this conversation: {conversation.summary}")
        messages = [{"role": "system", "content": system}] if system else []
        messages += [_as_chat_message(m) for m in keep]
        return messages, "\n\n".join(blocks) or None

    async def _summarize(self, identity: Identity, conversation: Conversation, older: list[Message]) -> None:
        transcript = "\n".join(f"{m.role}: {m.content[:2000]}" for m in older if m.content)
        previous = f"Summary so far: {conversation.summary}\n\n" if conversation.summary else ""
        request = completion_request(
            messages=[
                {
                    "role": "system",
                    "content": "Summarise this conversation for your own memory in under 120 words: facts, "
                    "decisions and open questions. Plain text.",
                },
                {"role": "user", "content": f"{previous}{transcript}"[:24_000]},
            ],
            model=conversation.model,
            max_tokens=256,
            temperature=0,
        )
        answer = await contracts.complete(self.ai, request, identity=identity)
        conversation.summary = answer.content.strip()[:4000] or conversation.summary
        conversation.summarized_count += len(older)
        await self.session.commit()

    # --- tools -------------------------------------------------------------------------------------------

    async def _tool_definitions(
        self, identity: Identity, wanted: list[ToolName] | None, *, agent: Agent | None
    ) -> list[dict[str, Any]]:
        """The tools offered to the model: the ones asked for (by default the built-in four and the user's MCP
        tools), narrowed by the conversation's agent."""
        names: set[str] = set(DEFAULT_TOOLS if wanted is None else wanted)
        mcp_rules = [f"{MCP_PREFIX}*"] if wanted is None else []
        if agent is not None and agent.allowed_tools:
            names &= {*agent.allowed_tools, "start_run"}
            mcp_rules = [rule for rule in agent.allowed_tools if rule.startswith(MCP_PREFIX)] if wanted is None else []
        definitions = []
        if names - {"start_run"} or mcp_rules:
            described = await contracts.list_tools(self.tools, identity=identity)
            definitions = [
                {
                    "type": "function",
                    "function": {"name": t.name, "description": t.description, "parameters": t.parameters},
                }
                for t in described
                if t.name in names or any(fnmatch.fnmatchcase(t.name, rule) for rule in mcp_rules)
            ]
        if "start_run" in names:
            definitions.append(START_RUN_TOOL)
        return definitions

    async def _run_tool(
        self, identity: Identity, conversation: Conversation, call: dict[str, Any], *, turn: Turn
    ) -> str:
        """The tool's result as the text the model reads next; a failure is a result too, never a crash."""
        name = call["function"]["name"]
        try:
            arguments = json.loads(call["function"].get("arguments") or "{}")
            if not isinstance(arguments, dict):
                raise ValueError("arguments must be a JSON object")
        except ValueError as exc:
            return json.dumps({"error": f"invalid arguments: {exc}"})
        started = time.perf_counter()
        try:
            if name == "start_run":
                run = await self.runs.create(identity, RunCreate(goal=str(arguments.get("goal", ""))[:4000]))
                run.conversation_id = conversation.id
                await self.session.commit()
                turn.run_id = run.id
                return json.dumps({"run_id": str(run.id), "status": "running"})
            # Files a chat's code leaves in /work/outputs are kept: the result names them, with ids to download.
            collect = {"collect_outputs": True} if name == "execute_python" else {}
            asked = ExecuteRequest.model_validate({"tool_name": name, "parameters": arguments, **collect})
            ran = await contracts.execute(self.tools, asked, identity=identity)
        except (AppError, ValueError) as exc:  # pydantic's ValidationError is a ValueError: an unknown tool
            return json.dumps({"error": str(exc)[:TOOL_RESULT_CHARS]})
        result: dict[str, Any] = ran.model_dump(mode="json", include={"status", "result", "error"})
        result["duration_ms"] = round((time.perf_counter() - started) * 1000, 1)
        return json.dumps(result, default=str)[:TOOL_RESULT_CHARS]


def _tokens(text: str) -> int:
    """A cheap estimate (4 characters a token): enough to budget a prompt; the ai-runtime counts exactly."""
    return len(text) // 4 + 1


def _fit(messages: list[Message], budget: int) -> list[Message]:
    """The most recent messages that fit the budget (at least the last one), never starting on a tool result,
    which needs the call before it."""
    kept: list[Message] = []
    for message in reversed(messages):
        cost = _tokens(message.content) + (_tokens(json.dumps(message.tool_calls)) if message.tool_calls else 0)
        if kept and cost > budget:
            break
        budget -= cost
        kept.append(message)
    kept.reverse()
    while kept and kept[0].role == "tool":
        kept.pop(0)
    return kept


def _as_chat_message(message: Message) -> dict[str, Any]:
    if message.role == "tool":
        return {"role": "tool", "tool_call_id": message.tool_call_id, "content": message.content}
    if message.tool_calls:
        return {"role": "assistant", "content": message.content or None, "tool_calls": message.tool_calls}
    return {"role": message.role, "content": message.content}
