"""Memory that learns from the conversation, as Mem0 does, after each exchange and off the reply's path:

1. extract the salient facts and preferences with the LLM, under a JSON schema (prompts/memory_extractor);
2. for each, find the nearest existing memories and let the LLM decide ADD, UPDATE, DELETE or NOTHING against them
   (prompts/memory_updater), the memories named by short ids it cannot invent;
3. apply the decisions through the memory-service, which records each change, with the message it came from, in the
   memory's history.

Bounded and validated for small models: at most five facts, answers checked against their schema, ids checked
against the ones given; a bad answer changes nothing. Facts come from the user's own words: the reply is context
only, and a fact whose words are mostly not the user's is dropped (`grounded`), since a small model readily takes a
claim of its reply ("Biscuit is an Italian dog breed") for a fact about the user.
"""

import asyncio
import json
import logging
import re
import uuid
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError

from database.models import Conversation, Message
from services.agent_orchestrator.config import OrchestratorSettings
from shared.clients import ServiceClient
from shared.contracts import clients as contracts
from shared.contracts.ai import CompleteRequest
from shared.contracts.memory import MemoryCreate, MemoryUpdate, RetrieveRequest
from shared.errors import AppError
from shared.identity import Identity

logger = logging.getLogger(__name__)

NEAREST_PER_FACT = 3
SAME_TOPIC = 0.5  # least similarity for an existing memory to be weighed against a new fact
GROUNDED = 0.5  # least share of a fact's own words that the user must have said
REPLY_CONTEXT_CHARS = 600
# The words that frame a fact rather than carry it ("The user's dog is called ..."): not asked of the user's text.
FRAME_WORDS = frozenset(
    """the a an user users they their them he she his her it its is are was were be been being has have had do does
    did not no and or but of in on at to for from with by as that this these those who which likes like loves love
    prefers prefer wants want lives live works work named called goes go enjoys enjoy one two three four five six
    seven eight nine ten""".split()  # noqa: SIM905 (a word list reads best as words)
)
_WORD = re.compile(r"\w+")


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
        request = CompleteRequest.model_validate(
            {"role": role, "model": model, "prompt": content, "response_format": "json", "max_tokens": 400}
            | {"temperature": 0}
        )
        answer = await contracts.complete(self.ai, request, identity=identity)
        try:
            parsed = json.loads(answer.content)
        except ValueError:
            return None
        return parsed if isinstance(parsed, dict) else None

    async def _extract(self, identity: Identity, *, model: str | None, said: str, reply: str) -> list[Fact]:
        parsed = await self._ask(
            identity,
            role="memory_extractor",
            model=model,
            content=extraction_prompt(said, reply),
        )
        try:
            facts = Extraction.model_validate(parsed).facts if parsed is not None else []
        except ValidationError:
            return []
        kept = [fact for fact in facts if grounded(fact.content, said)]
        if len(kept) < len(facts):
            logger.info("dropped facts not found in the user's words", extra={"dropped": len(facts) - len(kept)})
        return kept

    async def _nearest(self, identity: Identity, facts: list[Fact]) -> dict[str, dict[str, Any]]:
        """Short id ("m1", ...) -> an existing memory close to one of the facts."""
        nearest: dict[str, dict[str, Any]] = {}
        seen: set[str] = set()
        for fact in facts:
            asked = RetrieveRequest(query=fact.content, k=NEAREST_PER_FACT, scopes=["user"])
            for memory in await contracts.retrieve(self.memory, asked, identity=identity):
                if str(memory.id) not in seen and memory.relevance_score >= SAME_TOPIC:
                    seen.add(str(memory.id))
                    nearest[f"m{len(nearest) + 1}"] = memory.model_dump(mode="json")
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
                stored = await contracts.remember(
                    self.memory,
                    MemoryCreate(
                        content=action.content,
                        memory_type=memory_type,
                        scope="user",
                        source="conversation",
                        metadata={"conversation_id": str(conversation_id)},
                        source_message_id=message_id,
                    ),
                    identity=identity,
                )
                applied.append(Applied(event="ADD", memory_id=str(stored.id)))
            elif action.event == "UPDATE" and target is not None and action.content:
                change = MemoryUpdate(content=action.content, source_message_id=message_id)
                await contracts.change_memory(self.memory, uuid.UUID(target["id"]), change, identity=identity)
                applied.append(Applied(event="UPDATE", memory_id=target["id"]))
            elif action.event == "DELETE" and target is not None:
                await self.memory.delete(
                    f"/memories/{target['id']}", identity=identity, params={"source_message_id": str(message_id)}
                )
                applied.append(Applied(event="DELETE", memory_id=target["id"]))
        return applied


def extraction_prompt(said: str, reply: str) -> str:
    """The user's message, then the reply marked as context only (a fact must come from the user's words)."""
    return (
        f"The user said:\n{said[:4000]}\n\n"
        f"(The assistant replied, for context only; take no fact from it: {reply[:REPLY_CONTEXT_CHARS]})"
    )


def _words(text: str) -> set[str]:
    """The words that carry meaning, singular-ish ("cats" as "cat"), without the possessive and the framing words."""
    found = _WORD.findall(text.lower().replace("'s", ""))
    return {word.removesuffix("s") for word in found if word not in FRAME_WORDS and len(word) > 1}


def _said(word: str, said: set[str]) -> bool:
    """Said as is, or a close variant (colour/color, favourite/favorite, lives/live): the same first four letters."""
    return word in said or (len(word) >= 4 and any(len(s) >= 4 and s[:4] == word[:4] for s in said))


def grounded(fact: str, said: str) -> bool:
    """Is the fact in the user's own words? At least half of its own words (those that do not only frame it)
    appear in what the user said."""
    words = _words(fact)
    if not words:
        return False
    user_words = _words(said)
    return sum(_said(word, user_words) for word in words) >= GROUNDED * len(words)
