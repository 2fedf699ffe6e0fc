"""Memory that learns from the conversation, as Mem0 does, after each exchange and off the reply's path:

1. extract the salient facts and preferences with the LLM, under a JSON schema (prompts/memory_extractor);
2. for each, find the nearest existing memories and let the LLM decide ADD, UPDATE, DELETE or NOTHING against them
   (prompts/memory_updater), the memories named by short ids it cannot invent;
3. apply the decisions through the memory-service, which records each change, with the message it came from, in the
   memory's history.

Bounded and validated for small models: at most five facts, answers checked against their schema, ids checked
against the ones given; a bad answer changes nothing.
"""

import asyncio
import json
import logging
import uuid
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError

from database.models import Conversation, Message
from services.agent_orchestrator.config import OrchestratorSettings
from shared.clients import ServiceClient
from shared.errors import AppError
from shared.identity import Identity

logger = logging.getLogger(__name__)

NEAREST_PER_FACT = 3
SAME_TOPIC = 0.5  # least similarity for an existing memory to be weighed against a new fact


class Fact(BaseModel):
    content: str = Field(min_length=3, max_length=300)
    memory_type: Literal["preference", "fact"] = "fact"


class Extraction(BaseModel):
    facts: list[Fact] = Field(max_length=5)


class Action(BaseModel):
    event: Literal["ADD", "UPDATE", "DELETE", "NOTHING"]
    id: str | None = Field(default=None, max_length=16)
    content: str | None = Field(default=None, max_length=300)


class Decisions(BaseModel):
    actions: list[Action] = Field(max_length=10)


@dataclass(frozen=True, kw_only=True)
class Applied:
    event: str
    memory_id: str


class MemoryLearner:
    """Learns in the background: each exchange's job is tracked until done, and waited for on shutdown."""

    def __init__(self, *, settings: OrchestratorSettings, ai: ServiceClient, memory: ServiceClient) -> None:
        self.settings = settings
        self.ai = ai
        self.memory = memory
        self.jobs: set[asyncio.Task[list[Applied]]] = set()

    def schedule(self, identity: Identity, conversation: Conversation, user_message: Message, reply: Message) -> None:
        job = asyncio.create_task(
            self.learn(
                identity,
                model=conversation.model,
                conversation_id=conversation.id,
                user_message=(user_message.id, user_message.content),
                reply=reply.content,
            )
        )
        self.jobs.add(job)
        job.add_done_callback(self.jobs.discard)

    async def aclose(self) -> None:
        if self.jobs:
            await asyncio.wait(self.jobs, timeout=30)

    async def learn(
        self,
        identity: Identity,
        *,
        model: str | None,
        conversation_id: uuid.UUID,
        user_message: tuple[uuid.UUID, str],
        reply: str,
    ) -> list[Applied]:
        message_id, said = user_message
        try:
            facts = await self._extract(identity, model=model, said=said, reply=reply)
            if not facts:
                return []
            nearest = await self._nearest(identity, facts)
            actions = await self._decide(identity, model=model, facts=facts, nearest=nearest)
            return await self._apply(
                identity, actions, nearest=nearest, conversation_id=conversation_id, message_id=message_id
            )
        except AppError as exc:  # the exchange stands; what could not be learned is only logged
            logger.warning("learning from a conversation failed", extra={"error": str(exc), "code": exc.code})
            return []

    async def _ask(self, identity: Identity, *, role: str, model: str | None, content: str) -> dict[str, Any] | None:
        answer = await self.ai.post_json(
            "/complete",
            identity=identity,
            json={
                "role": role,
                **({"model": model} if model else {}),
                "prompt": content,
                "response_format": "json",
                "max_tokens": 400,
                "temperature": 0,
            },
        )
        try:
            parsed = json.loads(answer.get("content") or "")
        except ValueError:
            return None
        return parsed if isinstance(parsed, dict) else None

    async def _extract(self, identity: Identity, *, model: str | None, said: str, reply: str) -> list[Fact]:
        parsed = await self._ask(
            identity,
            role="memory_extractor",
            model=model,
            content=f"User: {said[:4000]}\nAssistant: {reply[:2000]}",
        )
        try:
            return Extraction.model_validate(parsed).facts if parsed is not None else []
        except ValidationError:
            return []

    async def _nearest(self, identity: Identity, facts: list[Fact]) -> dict[str, dict[str, Any]]:
        """Short id ("m1", ...) -> an existing memory close to one of the facts."""
        nearest: dict[str, dict[str, Any]] = {}
        seen: set[str] = set()
        for fact in facts:
            found = await self.memory.post_json(
                "/memories/retrieve",
                identity=identity,
                json={"query": fact.content, "k": NEAREST_PER_FACT, "scopes": ["user"]},
            )
            for memory in found:
                if memory["id"] not in seen and memory.get("relevance_score", 0) >= SAME_TOPIC:
                    seen.add(memory["id"])
                    nearest[f"m{len(nearest) + 1}"] = memory
        return nearest

    async def _decide(
        self, identity: Identity, *, model: str | None, facts: list[Fact], nearest: dict[str, dict[str, Any]]
    ) -> list[tuple[Action, str]]:
        """(action, memory type) per decision. With nothing stored nearby, every fact is simply added."""
        if not nearest:
            return [(Action(event="ADD", content=f.content), f.memory_type) for f in facts]
        question = {
            "new_facts": [f.content for f in facts],
            "existing_memories": [{"id": short, "content": m["content"]} for short, m in nearest.items()],
        }
        parsed = await self._ask(identity, role="memory_updater", model=model, content=json.dumps(question))
        try:
            actions = Decisions.model_validate(parsed).actions if parsed is not None else []
        except ValidationError:
            return []
        kinds = {f.content: f.memory_type for f in facts}
        return [(a, kinds.get(a.content or "", "fact")) for a in actions]

    async def _apply(
        self,
        identity: Identity,
        actions: list[tuple[Action, str]],
        *,
        nearest: dict[str, dict[str, Any]],
        conversation_id: uuid.UUID,
        message_id: uuid.UUID,
    ) -> list[Applied]:
        applied = []
        for action, memory_type in actions:
            target = nearest.get(action.id or "")
            if action.event == "ADD" and action.content:
                stored = await self.memory.post_json(
                    "/memories",
                    identity=identity,
                    json={
                        "content": action.content,
                        "memory_type": memory_type,
                        "scope": "user",
                        "source": "conversation",
                        "metadata": {"conversation_id": str(conversation_id)},
                        "source_message_id": str(message_id),
                    },
                )
                applied.append(Applied(event="ADD", memory_id=stored["id"]))
            elif action.event == "UPDATE" and target is not None and action.content:
                await self.memory.put_json(
                    f"/memories/{target['id']}",
                    identity=identity,
                    json={"content": action.content, "source_message_id": str(message_id)},
                )
                applied.append(Applied(event="UPDATE", memory_id=target["id"]))
            elif action.event == "DELETE" and target is not None:
                await self.memory.delete(
                    f"/memories/{target['id']}", identity=identity, params={"source_message_id": str(message_id)}
                )
                applied.append(Applied(event="DELETE", memory_id=target["id"]))
        return applied
